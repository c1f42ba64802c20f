import { VAULT_ID_BYTES } from './vault-file.js';
import { encodeBase32 } from './base32.js';

/** Shamir share of the 32-byte unseal key as `shamir-secret-sharing` makes it: 32 y-bytes, then x. */
export const SHARE_POINT_BYTES = 33;
export const X25519_KEY_BYTES = 32;
/** An encrypted share's sealed point: the point plus the AES-GCM tag. */
export const SEALED_POINT_BYTES = SHARE_POINT_BYTES + 16;

/** What every share says about itself, readable without any key. */
export interface ShareLabel {
  readonly vaultId: Buffer;
  /** The vault's share set when the share was made; a rekey starts a new set. */
  readonly shareSet: number;
  /** 1-based position among the shares of its set (which custodian holds it). */
  readonly index: number;
  readonly shareCount: number;
  readonly threshold: number;
}

export interface PlainShare extends ShareLabel {
  readonly encrypted: false;
  readonly point: Buffer;
}

/** A share sealed to a custodian's X25519 key (see share-encryption.ts). */
export interface EncryptedShare extends ShareLabel {
  readonly encrypted: true;
  readonly ephemeralPublicKey: Buffer;
  readonly sealedPoint: Buffer;
}

export type VaultShare = PlainShare | EncryptedShare;

/** A vault id as people read it: `1A2B-3C4D-5E6F-7G8H`. */
export function formatVaultId(vaultId: Buffer): string {
  if (vaultId.length !== VAULT_ID_BYTES) throw new RangeError(`vault id must be ${VAULT_ID_BYTES} bytes`);
  return encodeBase32(vaultId).match(/.{4}/g)!.join('-');
}
