/** IEC binary units only: "2GB" is ambiguous between 10^9 and 2^30, "2GiB" is not. */
const UNIT_BYTES = { KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40 } as const;

export type ByteUnit = keyof typeof UNIT_BYTES;

export const MIB = UNIT_BYTES.MiB;
export const GIB = UNIT_BYTES.GiB;
export const TIB = UNIT_BYTES.TiB;

const BYTE_SIZE = /^([1-9][0-9]{0,12})(KiB|MiB|GiB|TiB)$/;

/** `512MiB` → 536870912; anything else (no unit, decimals, spaces, SI units) → undefined. */
export function parseByteSize(text: string): number | undefined {
  const match = BYTE_SIZE.exec(text);
  if (match === null) return undefined;
  const bytes = Number(match[1]) * UNIT_BYTES[match[2] as ByteUnit];
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** The largest unit that expresses `bytes` exactly: 2147483648 → `2GiB`, 1536 MiB → `1536MiB`. */
export function formatByteSize(bytes: number): string {
  const units = Object.entries(UNIT_BYTES).reverse() as [ByteUnit, number][];
  for (const [unit, size] of units) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}
