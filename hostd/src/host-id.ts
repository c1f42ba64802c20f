import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileDurably } from './durable-fs.js';

const HOST_ID_FILE = 'host-id';
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * This hostd's identity, made once and kept in `<stateDir>/host-id`: written into every VM's metadata so a
 * hostd acts only on its own VMs, even when other hostds (tests, benchmarks) share the libvirtd.
 */
export async function loadOrCreateHostId(stateDir: string): Promise<string> {
  const path = join(stateDir, HOST_ID_FILE);
  try {
    const kept = (await readFile(path, 'utf8')).trim();
    if (UUID_PATTERN.test(kept)) return kept;
    throw new Error(`${path} does not hold a host id (a UUID): remove it and start hostd again`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const id = randomUUID();
  await writeFileDurably(path, `${id}\n`, 0o600);
  return id;
}
