export { VaultService, VAULT_FILE_NAME } from './vault-service.js';
export type {
  FollowerProblem,
  HandedShare,
  ShareSetRequest,
  UnsealOutcome,
  VaultEntrySummary,
  VaultFollower,
  VaultServiceOptions,
  VaultState,
  VaultStatusReport,
} from './vault-service.js';
export { DiskSecrets, luksSecretXml } from './disk-secrets.js';
export type { DiskSecretsOptions } from './disk-secrets.js';
export { EncryptedVolumes, luksEncryptionElement } from './encrypted-volumes.js';
export type { EncryptedVolume, EncryptedVolumesOptions } from './encrypted-volumes.js';
export { diskKeyStartFailure, diskSecretUuidsOf, requireDiskKeys } from './disk-key-check.js';
export { LUKS_ENTRY_PREFIX, luksEntryName } from './luks-key-entry.js';
export { UNSEAL_HINT, vaultSealedError } from './vault-errors.js';
export { VmDiskKeys } from './vm-disk-keys.js';
export type { VmDiskKeysOptions } from './vm-disk-keys.js';
