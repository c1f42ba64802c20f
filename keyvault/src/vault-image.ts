import { aeadOpen, aeadSeal } from './aead.js';
import { indexAad, masterKeyAad } from './associated-data.js';
import { corruptPart } from './errors.js';
import { deriveMasterKeys, deriveWrapKey, keyCheckValue, zeroKeys, type MasterKeys } from './key-schedule.js';
import { encodeVaultFile, headerMacMatches, type ParsedVaultFile, type VaultHeader } from './vault-file.js';
import { decodeIndex, encodeIndex, type IndexEntry } from './vault-index.js';

/*
 * The encrypted image of a vault: the header's key material (key check and wrapped master key),
 * the encrypted index, and the entry records, as vault-file.ts lays them out.
 */

export interface StoredEntry {
  readonly meta: IndexEntry;
  /** The AES-GCM record as stored in the file; values are decrypted only when read. */
  readonly record: Buffer;
}

/** The header fields with a key check for `unsealKey` and the master key wrapped under it. */
export function sealHeader(
  fields: Omit<VaultHeader, 'keyCheck' | 'wrappedMasterKey'>,
  master: Buffer,
  unsealKey: Buffer,
): VaultHeader {
  const wrapKey = deriveWrapKey(unsealKey, fields.vaultId, fields.shareSet);
  const partial = { ...fields, keyCheck: keyCheckValue(unsealKey, fields.vaultId, fields.shareSet) };
  const wrappedMasterKey = aeadSeal(wrapKey, master, masterKeyAad(partial));
  zeroKeys(wrapKey);
  return { ...partial, wrappedMasterKey };
}

/** The whole file for these entries: the index is encrypted afresh for the new generation. */
export function encodeVaultImage(
  header: VaultHeader,
  keys: MasterKeys,
  entries: ReadonlyMap<string, StoredEntry>,
): Buffer {
  const metas = [...entries.values()].map((entry) => entry.meta);
  const index = aeadSeal(keys.data, encodeIndex(metas), indexAad(header));
  return encodeVaultFile(
    header,
    index,
    [...entries.values()].map((entry) => entry.record),
    keys.headerMac,
  );
}

/** Authenticates the header and decrypts the index of a parsed file. */
export function openVaultImage(file: ParsedVaultFile, keys: MasterKeys): Map<string, StoredEntry> {
  if (!headerMacMatches(keys.headerMac, file)) {
    throw corruptPart(
      { section: 'header-mac' },
      'the header MAC does not match: the header or its MAC was altered',
    );
  }
  const plain = aeadOpen(keys.data, file.index, indexAad(file.header));
  if (plain === undefined) throw corruptPart({ section: 'index' }, 'the index fails authentication');
  let metas: IndexEntry[];
  try {
    metas = decodeIndex(plain, file.entries.length);
  } catch (error) {
    throw corruptPart({ section: 'index' }, `the index is malformed (${(error as Error).message})`);
  }
  return new Map(metas.map((meta, i) => [meta.name, { meta, record: file.entries[i]! }]));
}

/** The master keys a verified unseal key opens. */
export function unwrapMasterKeys(header: VaultHeader, unsealKey: Buffer): MasterKeys {
  const wrapKey = deriveWrapKey(unsealKey, header.vaultId, header.shareSet);
  const master = aeadOpen(wrapKey, header.wrappedMasterKey, masterKeyAad(header));
  zeroKeys(wrapKey);
  if (master === undefined) {
    throw corruptPart(
      { section: 'header' },
      'the wrapped master key fails authentication although the key check passed',
    );
  }
  return deriveMasterKeys(master, header.vaultId);
}
