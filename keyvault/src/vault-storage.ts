import { readFile } from 'node:fs/promises';
import { removeStaleTempFiles, writeFileAtomic, type DurabilityObserver } from './atomic-file.js';
import { corruptPart, VaultError } from './errors.js';
import { MAX_VAULT_FILE_BYTES } from './vault-file.js';

/** Reads the vault file (after removing temp files a crashed write left), within the size limit. */
export async function readVaultFile(path: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    await removeStaleTempFiles(path);
    bytes = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new VaultError(
        'VAULT_NOT_FOUND',
        `No vault file at ${path}. Initialise a vault, or restore the file from a backup.`,
        { cause: error },
      );
    }
    throw ioError('read', path, error);
  }
  if (bytes.length > MAX_VAULT_FILE_BYTES) {
    throw corruptPart(
      { section: 'length' },
      `the file is ${bytes.length} bytes, more than a vault ever holds`,
    );
  }
  return bytes;
}

/** Writes the vault file atomically; `exclusive` refuses to replace an existing one. */
export async function writeVaultFile(
  path: string,
  bytes: Buffer,
  observer: DurabilityObserver | undefined,
  exclusive: boolean,
): Promise<void> {
  try {
    await writeFileAtomic(path, bytes, { exclusive, ...(observer ? { observer } : {}) });
  } catch (error) {
    if (exclusive && (error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new VaultError(
        'VAULT_EXISTS',
        `A vault file already exists at ${path}; it was left untouched. Open it, or move it away to start over.`,
        { cause: error },
      );
    }
    throw ioError('write', path, error);
  }
}

function ioError(verb: 'read' | 'write', path: string, error: unknown): VaultError {
  const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
  return new VaultError(
    'VAULT_IO',
    `Could not ${verb} the vault file ${path} (${code}). Check that its directory exists and is ` +
      `writable by this user${verb === 'write' ? '; the vault file on disk is unchanged' : ''}.`,
    { cause: error },
  );
}
