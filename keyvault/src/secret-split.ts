import { combine, split } from 'shamir-secret-sharing';
import { KEY_BYTES } from './aead.js';
import { SHARE_POINT_BYTES } from './share.js';

/*
 * Shamir's scheme over GF(256) comes from the audited `shamir-secret-sharing` package. Each share
 * it makes is the secret's length in y-bytes followed by one x-coordinate byte (random, distinct,
 * non-zero). The package insists on plain Uint8Arrays (not Buffers), hence the copies, which are
 * wiped as soon as they are no longer needed.
 */

export async function splitKey(key: Buffer, shareCount: number, threshold: number): Promise<Buffer[]> {
  const plain = new Uint8Array(key);
  try {
    const points = await split(plain, shareCount, threshold);
    return points.map((point) => Buffer.from(point.buffer, point.byteOffset, point.byteLength));
  } finally {
    plain.fill(0);
  }
}

/** Interpolates at zero. Any two or more distinct points give *a* key; only the key check says if it is the key. */
export async function combinePoints(points: readonly Buffer[]): Promise<Buffer> {
  const copies = points.map((point) => new Uint8Array(point));
  try {
    const key = await combine(copies);
    if (key.byteLength !== KEY_BYTES) throw new RangeError(`combined key is ${key.byteLength} bytes`);
    return Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  } finally {
    for (const copy of copies) copy.fill(0);
  }
}

export function pointX(point: Buffer): number {
  return point[SHARE_POINT_BYTES - 1]!;
}
