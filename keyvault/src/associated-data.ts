import type { VaultHeader } from './vault-file.js';

/*
 * The associated data of each AES-GCM record in the vault file. Each starts with its own label, so
 * no record can be passed off as a record of another kind, and binds what the record belongs to.
 */
const LABEL = 'multiverse-keyvault/v1/';

/** The wrapped master key belongs to one vault and one share set. */
export function masterKeyAad(header: Pick<VaultHeader, 'vaultId' | 'shareSet'>): Buffer {
  const set = Buffer.alloc(2);
  set.writeUInt16BE(header.shareSet);
  return Buffer.concat([Buffer.from(`${LABEL}master-key\0`), header.vaultId, set]);
}

/** The index belongs to one generation of the file: an index from an older write fails to open. */
export function indexAad(header: Pick<VaultHeader, 'vaultId' | 'generation'>): Buffer {
  const generation = Buffer.alloc(4);
  generation.writeUInt32BE(header.generation);
  return Buffer.concat([Buffer.from(`${LABEL}index\0`), header.vaultId, generation]);
}

/** The entry's name is its associated data: a record moved under another name fails to open. */
export function entryAad(vaultId: Buffer, name: string): Buffer {
  return Buffer.concat([Buffer.from(`${LABEL}entry\0`), vaultId, Buffer.from(`\0${name}`, 'ascii')]);
}
