import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DiskStore, type DiskStoreOptions } from '../disk-store.js';
import type { ImageRef } from '../names.js';

/** Test support: a store in a fresh temporary directory, with a small base image already imported. */
export const run = promisify(execFile);

export interface StoreFixture {
  root: string;
  store: DiskStore;
  options: DiskStoreOptions;
  base: ImageRef;
  cleanup(): Promise<void>;
}

export async function makeStoreFixture(overrides: Partial<DiskStoreOptions> = {}): Promise<StoreFixture> {
  const root = await mkdtemp(join(tmpdir(), 'mv-disks-'));
  const options: DiskStoreOptions = {
    imagesDir: join(root, 'images'),
    vmsDir: join(root, 'vms'),
    ...overrides,
  };
  const store = new DiskStore(options);
  const raw = join(root, 'base.raw');
  // 4 MiB of 0x5a: the "template" content every root overlay must show.
  await writeFile(raw, Buffer.alloc(4 * 1024 * 1024, 0x5a));
  const base = await store.images.import({ name: 'tiny', source: raw, format: 'raw' });
  return { root, store, options, base, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/** Bytes the files under `path` occupy on disk (du), not their apparent size. */
export async function allocatedBytes(path: string): Promise<number> {
  const { stdout } = await run('du', ['-s', '-B1', path]);
  return Number(stdout.split('\t')[0]);
}
