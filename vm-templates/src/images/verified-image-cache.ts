import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { verifyImage } from './image-store.js';
import type { VerifiedImage } from './image-store.js';

/**
 * Hashes an installed image once, and again only when something in its directory changed: every start and
 * every checkpoint of a VM needs its image verified, and hashing a Debian root disk each time costs seconds.
 * A file's identity is its device, inode, size, mode and its modification and change times. The kernel sets the
 * change time on every write and no process can set it back, so a file rewritten after it was verified is
 * hashed again. `mvctl image verify` always hashes (verifyImage itself).
 */
export class VerifiedImageCache {
  readonly #verified = new Map<string, { identity: string; image: VerifiedImage }>();
  readonly #verify: (directory: string) => Promise<VerifiedImage>;

  constructor(verify: (directory: string) => Promise<VerifiedImage> = verifyImage) {
    this.#verify = verify;
  }

  async verify(directory: string): Promise<VerifiedImage> {
    const identity = await directoryIdentity(directory).catch(() => null);
    const cached = this.#verified.get(directory);
    if (identity !== null && cached?.identity === identity) return cached.image;
    this.#verified.delete(directory);
    // The identity is read before hashing: a write while the hash runs changes the next identity.
    const image = await this.#verify(directory);
    if (identity !== null) this.#verified.set(directory, { identity, image });
    return image;
  }
}

async function directoryIdentity(directory: string): Promise<string> {
  const names = (await readdir(directory)).sort();
  const lines: string[] = [];
  for (const name of ['.', ...names]) {
    const stats = await lstat(join(directory, name), { bigint: true });
    lines.push([name, stats.dev, stats.ino, stats.mode, stats.size, stats.mtimeNs, stats.ctimeNs].join(' '));
  }
  return lines.join('\n');
}
