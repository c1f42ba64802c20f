/**
 * Every failure the vault reports. `code` is stable (hostd maps it to API errors and exit codes);
 * the message says what failed and what to do next.
 */
export type VaultErrorCode =
  /** The vault is sealed: the operation needs the master key. */
  | 'VAULT_SEALED'
  /** The vault is already unsealed: there is nothing to unseal. */
  | 'VAULT_UNSEALED'
  /** `initVault` found a vault file already at the path. */
  | 'VAULT_EXISTS'
  /** No vault file at the path. */
  | 'VAULT_NOT_FOUND'
  /** The vault file was written by a newer format version. */
  | 'VAULT_VERSION_UNSUPPORTED'
  /** A part of the vault file failed its checksum or authentication; `part` names it. */
  | 'VAULT_CORRUPT'
  /** Reading or writing the vault file failed at the OS level. */
  | 'VAULT_IO'
  /** No entry with that name. */
  | 'ENTRY_NOT_FOUND'
  /** An argument given to the API is out of range or malformed. */
  | 'INVALID_ARGUMENT'
  /** A share's text is not in the share format (wrong length, bad character, wrong line count). */
  | 'SHARE_FORMAT'
  /** A share's line check or whole-share checksum failed: a typo. */
  | 'SHARE_CHECKSUM'
  /** The share belongs to another vault. */
  | 'SHARE_FOREIGN'
  /** The share belongs to another share set of this vault (made before or after a rekey). */
  | 'SHARE_STALE'
  /** The share is well-formed but does not fit this vault's share set (threshold or count differ). */
  | 'SHARE_INVALID'
  /** The share (or one with the same index) was already given in this unseal session. */
  | 'SHARE_DUPLICATE'
  /** The share is encrypted to its custodian's key and must be decrypted first. */
  | 'SHARE_ENCRYPTED'
  /** An encrypted share could not be decrypted with the key given. */
  | 'SHARE_DECRYPT_FAILED'
  /** The shares combine to a key that fails the vault's key-check value. */
  | 'KEY_CHECK_FAILED'
  /** The unseal session was cancelled, expired or already finished. */
  | 'UNSEAL_SESSION_CLOSED'
  /** A prepared rekey can no longer be committed (sealed, or another rekey won). */
  | 'REKEY_STALE';

/** The region of a vault file a corruption was found in. */
export type VaultFileSection = 'magic' | 'header' | 'header-mac' | 'index' | 'entry' | 'length';

export interface VaultFilePart {
  section: VaultFileSection;
  /** For `entry`: the entry's position in the file (0-based). */
  entry?: number;
  /** For `entry`, when the vault is unsealed and the name is known. */
  name?: string;
}

export interface VaultErrorDetails {
  part?: VaultFilePart;
  /** For share errors: the share's index (1-based) when it could be read. */
  shareIndex?: number;
  /** For share format/checksum errors: the 1-based line of the share text at fault. */
  line?: number;
  /** For KEY_CHECK_FAILED: the indices of the shares that were combined. */
  combined?: number[];
  cause?: unknown;
}

export class VaultError extends Error {
  override readonly name = 'VaultError';
  readonly part: VaultFilePart | undefined;
  readonly shareIndex: number | undefined;
  readonly line: number | undefined;
  readonly combined: number[] | undefined;

  constructor(
    readonly code: VaultErrorCode,
    message: string,
    details: VaultErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.part = details.part;
    this.shareIndex = details.shareIndex;
    this.line = details.line;
    this.combined = details.combined;
  }
}

/** Human name of a file part, for messages: `entry 2 ("luks/vm1")`. */
export function describePart(part: VaultFilePart): string {
  if (part.section !== 'entry') return part.section;
  const position = `entry ${part.entry ?? '?'}`;
  return part.name === undefined ? position : `${position} (${JSON.stringify(part.name)})`;
}

export function corruptPart(part: VaultFilePart, what: string): VaultError {
  return new VaultError(
    'VAULT_CORRUPT',
    `Vault file corrupt in ${describePart(part)}: ${what}. Restore the vault file from a backup; ` +
      'the shares stay valid for a backup made since the last rekey.',
    { part },
  );
}
