/**
 * Crockford's base32: digits and upper-case letters without I, L, O and U, so a share read aloud
 * or copied by hand has no look-alike characters. On input, case is ignored and the look-alikes
 * are read as what they resemble (O → 0, I and L → 1).
 */
export const BASE32_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

const LOOK_ALIKES: Readonly<Record<string, string>> = { O: '0', I: '1', L: '1' };

/** The 5-bit value of a character, or -1 when it is not a base32 character. */
export function base32Value(character: string): number {
  const upper = character.toUpperCase();
  return BASE32_ALPHABET.indexOf(LOOK_ALIKES[upper] ?? upper);
}

/** Encodes bytes as base32, padding the last character's bits with zeros. */
export function encodeBase32(bytes: Uint8Array): string {
  let output = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      output += BASE32_ALPHABET[(buffer >> bits) & 31];
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) output += BASE32_ALPHABET[(buffer << (5 - bits)) & 31];
  return output;
}

/**
 * Decodes 5-bit values into whole bytes. Returns the bytes and whether every leftover bit (those
 * that do not fill a byte) is zero, as an encoder writes them.
 */
export function decodeBase32Values(values: readonly number[]): { bytes: Buffer; cleanPadding: boolean } {
  const bytes: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const value of values) {
    buffer = (buffer << 5) | value;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((buffer >> bits) & 0xff);
      buffer &= (1 << bits) - 1;
    }
  }
  return { bytes: Buffer.from(bytes), cleanPadding: buffer === 0 };
}

/** Decodes a string of canonical base32 characters; `undefined` if any character is not one. */
export function decodeBase32(text: string): Buffer | undefined {
  const values = [...text].map(base32Value);
  if (values.some((value) => value < 0)) return undefined;
  const { bytes, cleanPadding } = decodeBase32Values(values);
  return cleanPadding ? bytes : undefined;
}
