/** `VIR_UUID_BUFLEN`: a UUID is 16 raw bytes on the wire. */
export const UUID_BYTES = 16;

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for the canonical 8-4-4-4-12 hexadecimal form, in either case. */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_PATTERN.test(value);
}

export function uuidToBytes(text: string): Buffer {
  if (!isUuid(text))
    throw new RangeError(`'${String(text)}' is not a UUID of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`);
  return Buffer.from(text.replace(/-/g, ''), 'hex');
}

export function uuidFromBytes(bytes: Uint8Array): string {
  if (bytes.length !== UUID_BYTES)
    throw new RangeError(`a UUID has ${UUID_BYTES} bytes, got ${bytes.length}`);
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
