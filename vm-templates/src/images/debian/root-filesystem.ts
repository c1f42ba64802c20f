import { lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { buildEnvironment, runBuildCommand } from '../build-command.js';
import { qemuImgProgress } from './build-progress.js';

const MIB = 1024 * 1024;
const BLOCK = 4096;

/** How the root file system is sized from the tree it holds: room for the files, their inodes, and some growth. */
export const ROOT_FILESYSTEM_LAYOUT = {
  type: 'ext4',
  blockSize: BLOCK,
  /** Free space on top of the files (the guest grows the file system to its volume's size at boot). */
  headroomBytes: 256 * MIB,
  /** ext4's journal and metadata take about this share of a small file system. */
  overheadFraction: 0.1,
  /** Spare inodes on top of the tree's. */
  spareInodes: 16384,
  roundToBytes: 64 * MIB,
  label: 'multiverse-root',
} as const;

export interface TreeUsage {
  /** Bytes the tree's files take in 4 KiB blocks. */
  readonly bytes: number;
  readonly entries: number;
}

/** Sums what the tree needs on an ext4 with 4 KiB blocks; hard links count once. */
export async function measureTree(tree: string): Promise<TreeUsage> {
  const seen = new Set<string>();
  let bytes = 0;
  let entries = 0;
  const walk = async (directory: string): Promise<void> => {
    for (const name of await readdir(directory)) {
      const path = join(directory, name);
      const stats = await lstat(path, { bigint: true });
      entries += 1;
      const inode = `${stats.dev}:${stats.ino}`;
      if (seen.has(inode)) continue;
      seen.add(inode);
      bytes += Math.ceil(Number(stats.size) / BLOCK) * BLOCK;
      if (stats.isDirectory()) await walk(path);
    }
  };
  await walk(tree);
  return { bytes, entries };
}

export function rootFilesystemSize(usage: TreeUsage): { bytes: number; inodes: number } {
  const layout = ROOT_FILESYSTEM_LAYOUT;
  const wanted = (usage.bytes + layout.headroomBytes) / (1 - layout.overheadFraction);
  const bytes = Math.ceil(wanted / layout.roundToBytes) * layout.roundToBytes;
  return { bytes, inodes: usage.entries + layout.spareInodes };
}

export interface RootDiskBuild {
  readonly tree: string;
  /** The raw file system image, written in the scratch directory. */
  readonly rawPath: string;
  readonly qcow2Path: string;
  readonly report: (detail: string, fraction: number) => void;
  readonly signal?: AbortSignal;
}

/**
 * Makes the root disk without mounting anything: `mkfs.ext4 -d` copies the tree (owners, modes,
 * device nodes, extended attributes) into a fresh file system in a sparse raw file, and
 * `qemu-img convert` turns that into a qcow2 that stores only the blocks in use.
 */
export async function buildRootDisk(
  build: RootDiskBuild,
): Promise<{ virtualSizeBytes: number; usage: TreeUsage }> {
  const usage = await measureTree(build.tree);
  const size = rootFilesystemSize(usage);
  const raw = await open(build.rawPath, 'wx', 0o600);
  try {
    await raw.truncate(size.bytes);
  } finally {
    await raw.close();
  }
  const signal = build.signal === undefined ? {} : { signal: build.signal };
  build.report(
    `mkfs.ext4: copying ${usage.entries} entries (${Math.round(usage.bytes / MIB)} MiB) into ${size.bytes / MIB} MiB`,
    0,
  );
  await runBuildCommand(
    'mkfs.ext4',
    [
      '-q',
      '-F',
      '-b',
      String(ROOT_FILESYSTEM_LAYOUT.blockSize),
      '-N',
      String(size.inodes),
      '-L',
      ROOT_FILESYSTEM_LAYOUT.label,
      // Inode tables are written now, as zeros that qemu-img skips: lazy init would make every guest
      // write them into its root overlay.
      '-E',
      'lazy_itable_init=0,lazy_journal_init=0',
      '-d',
      build.tree,
      build.rawPath,
    ],
    {
      env: buildEnvironment(),
      package: 'e2fsprogs',
      hint: 'see the message above; the scratch directory is deleted, build again',
      ...signal,
    },
  );
  build.report('qemu-img: converting the file system to qcow2', 0.5);
  const progress = qemuImgProgress();
  await runBuildCommand(
    'qemu-img',
    ['convert', '-p', '-f', 'raw', '-O', 'qcow2', build.rawPath, build.qcow2Path],
    {
      env: buildEnvironment(),
      package: 'qemu-utils',
      hint: 'see the message above; the scratch directory is deleted, build again',
      onLine: (line) => {
        const step = progress.read(line);
        if (step !== undefined) build.report(`qemu-img: ${step.detail}`, 0.5 + step.fraction / 2);
      },
      ...signal,
    },
  );
  return { virtualSizeBytes: size.bytes, usage };
}
