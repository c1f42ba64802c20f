import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '@multiverse/keyvault/atomic-file';
import type { z } from 'zod';
import { isNodeError } from './disks/errors.js';

/**
 * File operations that survive a crash or power loss: data is fsynced before it is renamed into place, and the
 * directory is fsynced after an entry in it changes, so that after a crash a name points either to the old
 * complete file or to the new complete file.
 */

export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function fsyncDirectory(dir: string): Promise<void> {
  await fsyncPath(dir);
}

/**
 * Writes `data` to a temporary file beside `path`, fsyncs it, renames it over `path`, fsyncs the directory:
 * keyvault's atomic replacement, the one every package's crash-safe writes go through.
 */
export async function writeFileDurably(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await writeFileAtomic(path, data, { mode });
}

/** Renames an fsynced file into place and makes the rename itself durable. */
export async function renameDurably(from: string, to: string): Promise<void> {
  await rename(from, to);
  await fsyncDirectory(dirname(to));
  if (dirname(from) !== dirname(to)) await fsyncDirectory(dirname(from));
}

/** Removes a file if it exists; returns whether it did. */
export async function removeFileDurably(path: string): Promise<boolean> {
  try {
    await unlink(path);
  } catch (error) {
    if (isNodeError(error, 'ENOENT')) return false;
    throw error;
  }
  await fsyncDirectory(dirname(path));
  return true;
}

/** What reading one of hostd's small JSON state files found. */
export type StateFileReading<T> =
  | { readonly state: 'missing' }
  | { readonly state: 'damaged' }
  | { readonly state: 'read'; readonly value: T };

/**
 * Reads a small JSON state file (written with writeFileDurably): `missing` when there is none, `damaged` when it
 * does not parse or does not fit `schema` (each caller decides what that means for it), the checked value
 * otherwise. Other read errors are thrown.
 */
export async function readStateFile<Schema extends z.ZodType>(
  path: string,
  schema: Schema,
): Promise<StateFileReading<z.infer<Schema>>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (isNodeError(error, 'ENOENT')) return { state: 'missing' };
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { state: 'damaged' };
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? { state: 'read', value: parsed.data } : { state: 'damaged' };
}
