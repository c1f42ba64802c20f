export { initVault, openVault, MAX_ENTRY_BYTES } from './key-vault.js';
export { ENTRY_NAME_RULE, isEntryName } from './entry-name.js';
export type {
  KeyVault,
  VaultOptions,
  VaultStatus,
  EntryInfo,
  SealReason,
  PendingRekey,
} from './key-vault.js';
export type { CustodianSpec, ShareSetOptions, IssuedShare } from './share-set.js';
export type { UnsealSession, UnsealProgress, SubmitOptions } from './unseal-session.js';
export { VaultError, describePart } from './errors.js';
export type { VaultErrorCode, VaultFilePart, VaultFileSection } from './errors.js';
export { parseShareText, formatShareText, formatShareCompact, shareTextProgress } from './share-codec.js';
export type { ShareTextOptions, ShareTextProgress } from './share-codec.js';
export { formatVaultId } from './share.js';
export type { VaultShare, PlainShare, EncryptedShare, ShareLabel } from './share.js';
export { generateCustodianKeyPair, encryptShare, decryptShare } from './share-encryption.js';
export type { CustodianKeyPair } from './share-encryption.js';
export { shareQrSvg, shareQrPng } from './share-qr.js';
export type { DurabilityStep, DurabilityObserver } from './atomic-file.js';
