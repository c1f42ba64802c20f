import { constants, gzipSync } from 'node:zlib';
import { writeNewcArchive } from '../newc-archive.js';
import type { NewcEntry } from '../newc-archive.js';
import { TINY_MODULE_LIST } from './tiny-guest-files.js';
import type { GuestFile } from './tiny-guest-files.js';

/** Every entry carries this mtime (the epoch), so the archive does not depend on when it was built. */
export const INITRAMFS_MTIME = 0;
export const INITRAMFS_COMPRESSION = { format: 'gzip', level: constants.Z_BEST_COMPRESSION } as const;

export interface InitramfsKernelModule {
  /** Path relative to `/lib/modules/<release>/`. */
  readonly path: string;
  readonly contents: Buffer;
}

export interface TinyInitramfsContents {
  readonly busybox: Buffer;
  /** Applet link paths relative to the root, as `busybox --list-full` prints them. */
  readonly applets: readonly string[];
  readonly guestFiles: readonly GuestFile[];
  /** The kernel release the modules belong to (`uname -r` in the guest). */
  readonly kernelRelease: string;
  /** In load order, dependencies first; listed in that order in TINY_MODULE_LIST. */
  readonly kernelModules: readonly InitramfsKernelModule[];
}

/** Directories whose modes matter; every other parent directory is created 0755. */
const DIRECTORIES: readonly { path: string; mode: number }[] = [
  { path: 'dev', mode: 0o755 },
  { path: 'etc', mode: 0o755 },
  { path: 'proc', mode: 0o555 },
  { path: 'root', mode: 0o700 },
  { path: 'sys', mode: 0o555 },
  { path: 'tmp', mode: 0o1777 },
];

/**
 * The initramfs entry list: busybox at /bin/busybox, a symlink to it for every applet, the guest
 * files, the kernel modules under /lib/modules/<release>/ with their load order, and /dev/console,
 * which the kernel opens for PID 1's stdio before /init can mount devtmpfs.
 */
export function tinyInitramfsEntries(contents: TinyInitramfsContents): NewcEntry[] {
  const modulePaths = contents.kernelModules.map(
    (module) => `lib/modules/${contents.kernelRelease}/${module.path}`,
  );
  const entries: NewcEntry[] = [
    ...DIRECTORIES.map((directory) => ({ kind: 'directory' as const, ...directory })),
    { kind: 'character-device', path: 'dev/console', mode: 0o600, major: 5, minor: 1 },
    { kind: 'file', path: 'bin/busybox', mode: 0o755, contents: contents.busybox },
    ...contents.applets
      .filter((applet) => applet !== 'bin/busybox')
      .map((applet) => ({ kind: 'symlink' as const, path: applet, target: '/bin/busybox' })),
    ...contents.guestFiles.map((file) => ({
      kind: 'file' as const,
      path: file.path,
      mode: file.mode,
      contents: Buffer.from(file.contents, 'utf8'),
    })),
    ...contents.kernelModules.map((module, index) => ({
      kind: 'file' as const,
      path: modulePaths[index] as string,
      mode: 0o644,
      contents: module.contents,
    })),
    {
      kind: 'file',
      path: TINY_MODULE_LIST,
      mode: 0o644,
      contents: Buffer.from(modulePaths.map((path) => `${path}\n`).join(''), 'utf8'),
    },
  ];
  const declared = new Set(entries.map((entry) => entry.path));
  for (const entry of [...entries]) {
    const parts = entry.path.split('/');
    for (let depth = 1; depth < parts.length; depth += 1) {
      const parent = parts.slice(0, depth).join('/');
      if (!declared.has(parent)) {
        declared.add(parent);
        entries.push({ kind: 'directory', path: parent, mode: 0o755 });
      }
    }
  }
  return entries;
}

/** The compressed initramfs: byte-identical for identical contents and zlib version. */
export function buildTinyInitramfs(contents: TinyInitramfsContents): Buffer {
  const archive = writeNewcArchive(tinyInitramfsEntries(contents), { mtime: INITRAMFS_MTIME });
  // zlib writes a gzip header with mtime 0 and no file name, so nothing but the archive varies.
  return gzipSync(archive, { level: INITRAMFS_COMPRESSION.level });
}
