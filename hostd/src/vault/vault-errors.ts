import { VaultError } from '@multiverse/keyvault';
import type { VaultErrorCode } from '@multiverse/keyvault';
import { ServiceError } from '../service/service-error.js';
import type { ServiceErrorKind } from '../service/service-error.js';

export const UNSEAL_HINT =
  'unseal it: `mvctl vault unseal SHARE-FILE`, once per custodian, until the threshold is reached';

export function vaultSealedError(what?: string): ServiceError {
  return new ServiceError(
    'conflict',
    'VAULT_SEALED',
    what === undefined ? 'the vault is sealed' : `the vault is sealed: ${what}`,
    UNSEAL_HINT,
  );
}

export function vaultNotInitialisedError(): ServiceError {
  return new ServiceError(
    'not-found',
    'VAULT_NOT_INITIALISED',
    'this host has no vault yet',
    'create one: `mvctl vault init --threshold K --custodian NAME… --out DIR`',
  );
}

/**
 * How each library failure reaches a front end. The library's message already says what failed (the
 * share's line, the file's part); the hint says what to type next.
 */
const VAULT_ERROR_RULES: Readonly<Record<VaultErrorCode, { kind: ServiceErrorKind; hint: string }>> = {
  VAULT_SEALED: { kind: 'conflict', hint: UNSEAL_HINT },
  VAULT_UNSEALED: {
    kind: 'conflict',
    hint: 'nothing to unseal; `mvctl vault status` shows the vault, `mvctl vault seal` seals it',
  },
  VAULT_EXISTS: {
    kind: 'conflict',
    hint: 'this host has a vault already: change its custodians with `mvctl vault rekey-prepare`',
  },
  VAULT_NOT_FOUND: {
    kind: 'not-found',
    hint: 'create one: `mvctl vault init --threshold K --custodian NAME… --out DIR`',
  },
  VAULT_VERSION_UNSUPPORTED: {
    kind: 'conflict',
    hint: 'run the hostd version that wrote the vault file, or a newer one',
  },
  VAULT_CORRUPT: {
    kind: 'internal',
    hint: 'restore the vault file from a backup and restart hostd; `mvctl vault status` names the damaged part',
  },
  VAULT_IO: {
    kind: 'internal',
    hint: 'check the disk under hostd’s state directory (free space, permissions), then retry',
  },
  ENTRY_NOT_FOUND: { kind: 'not-found', hint: '`mvctl vault list` shows the entries there are' },
  INVALID_ARGUMENT: { kind: 'invalid-input', hint: 'see `mvctl vault --help`' },
  SHARE_FORMAT: {
    kind: 'invalid-input',
    hint: 'compare the share with its printout (or scan its QR code again) and submit it again',
  },
  SHARE_CHECKSUM: {
    kind: 'invalid-input',
    hint: 'a typo: fix the line named (compare it with the printout) and submit the share again',
  },
  SHARE_FOREIGN: {
    kind: 'conflict',
    hint: 'ask for a share of this vault: `mvctl vault status` shows its id',
  },
  SHARE_STALE: { kind: 'conflict', hint: 'the holder needs the share they got at the latest rekey' },
  SHARE_INVALID: { kind: 'conflict', hint: 'submit another custodian’s share' },
  SHARE_DUPLICATE: { kind: 'conflict', hint: 'submit another custodian’s share' },
  SHARE_ENCRYPTED: {
    kind: 'invalid-input',
    hint: 'give its holder’s private key too: `mvctl vault unseal SHARE-FILE --key KEY-FILE`',
  },
  SHARE_DECRYPT_FAILED: {
    kind: 'invalid-input',
    hint: 'check that the private key is the one of this share’s holder',
  },
  KEY_CHECK_FAILED: {
    kind: 'conflict',
    hint: 'submit another custodian’s share to find the wrong one, or `mvctl vault seal` to start over',
  },
  UNSEAL_SESSION_CLOSED: { kind: 'conflict', hint: 'submit the share again: a new session starts' },
  REKEY_STALE: { kind: 'conflict', hint: 'prepare a new rekey: `mvctl vault rekey-prepare`' },
};

/** A library error as a service error; anything else passes through unchanged. */
export function asVaultServiceError(error: unknown): unknown {
  if (error instanceof ServiceError || !(error instanceof VaultError)) return error;
  if (error.code === 'VAULT_SEALED') return vaultSealedError();
  const rule = VAULT_ERROR_RULES[error.code];
  return new ServiceError(rule.kind, error.code, error.message, rule.hint, { cause: error });
}
