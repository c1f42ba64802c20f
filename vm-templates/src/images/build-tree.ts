import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { ImageError, errorMessage } from './image-error.js';

const execFileAsync = promisify(execFile);

/**
 * Mount points at or below `directory`, deepest first. A chroot build (debootstrap's second stage)
 * mounts /proc and /sys inside the tree and unmounts them when it exits; a build killed half-way
 * can leave them mounted.
 */
export async function mountsUnder(directory: string): Promise<string[]> {
  const root = resolve(directory);
  const mountInfo = await readFile('/proc/self/mountinfo', 'utf8');
  return mountInfo
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((mountPoint): mountPoint is string => mountPoint !== undefined)
    .map(decodeMountInfoPath)
    .filter((mountPoint) => mountPoint === root || mountPoint.startsWith(`${root}${sep}`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Deletes a build tree. Anything still mounted inside it is unmounted first, and the tree is not
 * touched if that fails: a recursive delete that walked into a mounted /proc, /sys or /dev would
 * reach the host's own files.
 */
export async function removeBuildTree(directory: string): Promise<void> {
  for (const mountPoint of await mountsUnder(directory)) {
    try {
      await execFileAsync('umount', ['--lazy', mountPoint]);
    } catch (error) {
      throw new ImageError(
        'INSTALL_FAILED',
        `${mountPoint} is still mounted inside build tree ${directory} and cannot be unmounted ` +
          `(${errorMessage(error)}); the tree was left in place: unmount it (umount -R ${mountPoint}) and delete ${directory}`,
        { cause: error },
      );
    }
  }
  const left = await mountsUnder(directory);
  if (left.length > 0) {
    throw new ImageError(
      'INSTALL_FAILED',
      `${left.join(', ')} stayed mounted inside build tree ${directory}; it was left in place: unmount and delete it by hand`,
    );
  }
  await rm(directory, { recursive: true, force: true });
}

/** mountinfo escapes space, tab, newline and backslash as octal (`\040`). */
function decodeMountInfoPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
