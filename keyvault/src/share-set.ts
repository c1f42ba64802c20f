import { zeroKeys } from './key-schedule.js';
import { VaultError } from './errors.js';
import { splitKey } from './secret-split.js';
import { formatShareText } from './share-codec.js';
import { encryptShare } from './share-encryption.js';
import type { PlainShare, VaultShare } from './share.js';

/** Shamir's scheme in GF(256) allows 255 distinct x-coordinates. */
const MAX_SHARES = 255;

/** A custodian by name, optionally with an X25519 public key their share is sealed to. */
export type CustodianSpec = string | { name: string; publicKey?: string | Uint8Array };

export interface ShareSetOptions {
  /** Number of shares; defaults to the number of custodians and must equal it. */
  shares?: number;
  threshold: number;
  custodians: readonly CustodianSpec[];
}

export interface IssuedShare {
  readonly custodian: string;
  readonly share: VaultShare;
  /** The printable text form (formatShareText). */
  readonly text: string;
}

export interface ValidShareSet {
  shareCount: number;
  threshold: number;
  custodians: { name: string; publicKey?: string | Uint8Array }[];
}

export function validateShareSet(options: ShareSetOptions): ValidShareSet {
  const given: unknown = options.custodians;
  if (!Array.isArray(given)) {
    throw new VaultError(
      'INVALID_ARGUMENT',
      'Custodians must be a list: one name (and optional public key) per share.',
    );
  }
  const custodians = (given as unknown[]).map(validateCustodian);
  const shareCount = options.shares ?? custodians.length;
  if (!Number.isInteger(shareCount) || shareCount < 2 || shareCount > MAX_SHARES) {
    throw new VaultError(
      'INVALID_ARGUMENT',
      `The number of shares must be 2 to ${MAX_SHARES}, not ${String(shareCount)}.`,
    );
  }
  if (!Number.isInteger(options.threshold) || options.threshold < 2 || options.threshold > shareCount) {
    throw new VaultError(
      'INVALID_ARGUMENT',
      `The threshold must be 2 to the number of shares (${shareCount}), not ${String(options.threshold)}: ` +
        'one share alone must never unseal the vault.',
    );
  }
  if (custodians.length !== shareCount) {
    throw new VaultError(
      'INVALID_ARGUMENT',
      `Name one custodian per share: ${shareCount} shares, ${custodians.length} custodians.`,
    );
  }
  const names = new Set<string>();
  for (const { name } of custodians) {
    if (names.has(name))
      throw new VaultError('INVALID_ARGUMENT', `Custodian ${JSON.stringify(name)} is named twice.`);
    names.add(name);
  }
  return { shareCount, threshold: options.threshold, custodians };
}

function validateCustodian(spec: unknown): ValidShareSet['custodians'][number] {
  const { name, publicKey } = (typeof spec === 'string' ? { name: spec } : (spec ?? {})) as {
    name?: unknown;
    publicKey?: unknown;
  };
  if (typeof name !== 'string' || !/^[^\p{Cc}\p{Cf}]{1,64}$/u.test(name) || name.trim() !== name) {
    throw new VaultError(
      'INVALID_ARGUMENT',
      `Custodian name ${JSON.stringify(name)} is not usable: 1-64 printable characters, no leading or trailing space.`,
    );
  }
  if (publicKey === undefined) return { name };
  if (typeof publicKey !== 'string' && !(publicKey instanceof Uint8Array)) {
    throw new VaultError(
      'INVALID_ARGUMENT',
      `Custodian ${name}'s public key must be an MVPUB- string or 32 bytes.`,
    );
  }
  return { name, publicKey };
}

/** Splits the unseal key and labels each share; sealed to its custodian when a key was given. */
export async function issueShares(
  unsealKey: Buffer,
  vaultId: Buffer,
  shareSet: number,
  plan: ValidShareSet,
): Promise<IssuedShare[]> {
  const points = await splitKey(unsealKey, plan.shareCount, plan.threshold);
  return plan.custodians.map((custodian, i) => {
    const plain: PlainShare = {
      vaultId,
      shareSet,
      index: i + 1,
      shareCount: plan.shareCount,
      threshold: plan.threshold,
      encrypted: false,
      point: points[i]!,
    };
    const share: VaultShare =
      custodian.publicKey === undefined ? plain : encryptShare(plain, custodian.publicKey);
    if (share.encrypted) zeroKeys(plain.point);
    return { custodian: custodian.name, share, text: formatShareText(share, { custodian: custodian.name }) };
  });
}
