const UNIT_SECONDS = { s: 1, m: 60, h: 3600 } as const;

const DURATION = /^([1-9][0-9]{0,5})(s|m|h)$/;

/** `90s`, `2m`, `1h` → seconds; anything else → undefined. */
export function parseDurationSeconds(text: string): number | undefined {
  const match = DURATION.exec(text);
  if (match === null) return undefined;
  return Number(match[1]) * UNIT_SECONDS[match[2] as keyof typeof UNIT_SECONDS];
}
