import { randomBytes } from 'node:crypto';
import { link, open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * The points a crash can fall between while a file is replaced. Each is reported to an optional
 * observer, which tracing and the kill -9 tests use to stop the writer at a chosen step.
 */
export type DurabilityStep = 'temp-opened' | 'temp-half-written' | 'temp-synced' | 'renamed' | 'dir-synced';

export type DurabilityObserver = (step: DurabilityStep) => void | Promise<void>;

export interface AtomicWriteOptions {
  /** Fail with EEXIST instead of replacing an existing file. */
  exclusive?: boolean;
  /** The new file's permission bits (default 0600: readable by its owner only). */
  mode?: number;
  observer?: DurabilityObserver;
}

const TEMP_SUFFIX = /^\.(.+)\.[0-9a-f]{16}\.tmp$/;

function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
}

/**
 * Replaces `path` with `data` so that at every instant the path holds either the old file or the
 * new one, whole: write a temp file in the same directory, fsync it, rename it over the target
 * (link it, when exclusive), then fsync the directory so the rename itself is durable.
 */
export async function writeFileAtomic(
  path: string,
  contents: Uint8Array | string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const data = typeof contents === 'string' ? Buffer.from(contents) : contents;
  const observe = options.observer ?? (() => undefined);
  const tempPath = tempPathFor(path);
  let tempExists = false;
  try {
    const handle = await open(tempPath, 'wx', options.mode ?? 0o600);
    tempExists = true;
    try {
      await observe('temp-opened');
      const half = Math.floor(data.length / 2);
      await handle.write(data, 0, half, 0);
      await observe('temp-half-written');
      await handle.write(data, half, data.length - half, half);
      await handle.sync();
      await observe('temp-synced');
    } finally {
      await handle.close();
    }
    if (options.exclusive) {
      await link(tempPath, path);
      await unlink(tempPath);
    } else {
      await rename(tempPath, path);
    }
    tempExists = false;
    await observe('renamed');
    await syncDirectory(dirname(path));
    await observe('dir-synced');
  } finally {
    if (tempExists) await unlink(tempPath).catch(() => undefined);
  }
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Deletes temp files a crashed writer left next to `path`. Only the owner of `path` may call this
 * (a temp file of a concurrent writer would be removed too).
 */
export async function removeStaleTempFiles(path: string): Promise<string[]> {
  const target = basename(path);
  const removed: string[] = [];
  for (const name of await readdir(dirname(path))) {
    if (TEMP_SUFFIX.exec(name)?.[1] !== target) continue;
    const stale = join(dirname(path), name);
    await unlink(stale).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    removed.push(stale);
  }
  return removed;
}
