import { randomFill } from 'node:crypto';
import { open } from 'node:fs/promises';

const CHUNK_BYTES = 16 * 1024 * 1024;

/**
 * Writes `bytes` of random data to a new file at `path` (refusing to replace one). Random, so that no copy,
 * compression or zero detection can make the data cheaper than it is: every cluster of an image made from it
 * is allocated and distinct.
 */
export async function writeRandomDataFile(path: string, bytes: number): Promise<void> {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`invalid size ${bytes}`);
  const file = await open(path, 'wx', 0o600);
  try {
    const chunk = Buffer.alloc(CHUNK_BYTES);
    for (let written = 0; written < bytes;) {
      const length = Math.min(CHUNK_BYTES, bytes - written);
      await new Promise<void>((resolve, reject) =>
        randomFill(chunk, (error) => (error === null ? resolve() : reject(error))),
      );
      await file.write(chunk, 0, length, written);
      written += length;
    }
  } finally {
    await file.close();
  }
}
