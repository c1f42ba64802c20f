import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** RAM-backed on Linux: a passphrase written here never reaches a disk, not even a swapped-out page's worth of journal. */
const TMPFS_DIRECTORY = '/dev/shm';

/**
 * Runs `use` with the path of a file holding `passphrase` — mode 0600, alone in a fresh 0700 directory, on tmpfs
 * when there is one — and removes both afterwards, also when `use` throws. This is how qemu-img gets a key
 * (`--object secret,file=…`): a command line is readable by every user through ps, and Node cannot hand a
 * child a pipe as an extra descriptor (its stdio "pipes" are socket pairs, which /dev/fd/N cannot open).
 */
export async function withPassphraseFile<T>(
  passphrase: Uint8Array,
  use: (path: string) => Promise<T>,
): Promise<T> {
  const base = await isDirectory(TMPFS_DIRECTORY).then((yes) => (yes ? TMPFS_DIRECTORY : tmpdir()));
  const directory = await mkdtemp(join(base, 'multiverse-key-'));
  try {
    const path = join(directory, 'passphrase');
    await writeFile(path, passphrase, { mode: 0o600, flag: 'wx' });
    return await use(path);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
