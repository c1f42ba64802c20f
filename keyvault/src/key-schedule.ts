import { hkdfSync, timingSafeEqual } from 'node:crypto';
import { KEY_BYTES } from './aead.js';

/**
 * Every key the vault uses, derived with HKDF-SHA256 (salt = vault id) so no key serves two
 * algorithms. Two roots:
 * - the master key (random, 256 bits) → the data key (AES-GCM over the index and entries) and the
 *   header MAC key (HMAC-SHA256 over the file header);
 * - the unseal key (random, 256 bits, the secret the Shamir shares split) → the wrap key (AES-GCM
 *   over the master key) and the key-check value (which tells a right unseal key from a wrong one).
 * Rekey replaces the unseal key; rotate replaces the master key.
 */
const LABEL = 'multiverse-keyvault/v1/';
export const KEY_CHECK_BYTES = 16;

function derive(root: Buffer, vaultId: Buffer, purpose: string, length = KEY_BYTES): Buffer {
  return Buffer.from(hkdfSync('sha256', root, vaultId, LABEL + purpose, length));
}

export interface MasterKeys {
  readonly master: Buffer;
  readonly data: Buffer;
  readonly headerMac: Buffer;
}

export function deriveMasterKeys(master: Buffer, vaultId: Buffer): MasterKeys {
  return { master, data: derive(master, vaultId, 'data'), headerMac: derive(master, vaultId, 'header-mac') };
}

export function deriveWrapKey(unsealKey: Buffer, vaultId: Buffer, shareSet: number): Buffer {
  return derive(unsealKey, vaultId, `wrap/${shareSet}`);
}

export function keyCheckValue(unsealKey: Buffer, vaultId: Buffer, shareSet: number): Buffer {
  return derive(unsealKey, vaultId, `key-check/${shareSet}`, KEY_CHECK_BYTES);
}

export function keyCheckMatches(
  unsealKey: Buffer,
  vaultId: Buffer,
  shareSet: number,
  expected: Buffer,
): boolean {
  const actual = keyCheckValue(unsealKey, vaultId, shareSet);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * Overwrites key material. Best effort: node:crypto copies keys into OpenSSL contexts that are
 * freed (not wiped) by the garbage collector, which JavaScript cannot reach.
 */
export function zeroKeys(...buffers: (Uint8Array | undefined)[]): void {
  for (const buffer of buffers) buffer?.fill(0);
}

export function zeroMasterKeys(keys: MasterKeys): void {
  zeroKeys(keys.master, keys.data, keys.headerMac);
}
