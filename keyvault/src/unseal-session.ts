import { VaultError } from './errors.js';
import { keyCheckMatches, zeroKeys } from './key-schedule.js';
import { combinePoints, pointX } from './secret-split.js';
import { decryptShare } from './share-encryption.js';
import { parseShareText } from './share-codec.js';
import { formatVaultId, type PlainShare, type VaultShare } from './share.js';
import type { VaultHeader } from './vault-file.js';

export interface UnsealProgress {
  /** Good shares held so far. */
  readonly have: number;
  /** Shares needed (the threshold). */
  readonly need: number;
  /** Indices of the shares held, ascending. */
  readonly indices: readonly number[];
  readonly unsealed: boolean;
  /**
   * Once unsealed: held shares that do not lie on the key's polynomial (altered, or made for a
   * different key). Their holders should get a new share by rekey.
   */
  readonly inconsistent: readonly number[];
}

export interface SubmitOptions {
  /** The custodian's private key, for a share encrypted to it. */
  privateKey?: string | Uint8Array;
}

/** What a session unseals. Implemented by KeyVault. */
export interface UnsealTarget {
  readonly header: VaultHeader;
  /** Takes ownership of the verified unseal key. Throws VAULT_CORRUPT when the file is damaged. */
  unsealWith(unsealKey: Buffer): void;
}

/** More held shares than this many K-subsets to try is a sign of a bad batch, not bad luck. */
const MAX_KEY_CHECKS = 5000;

/**
 * Collects shares one at a time (from the CLI, the web page or the SSH jail alike), rejecting
 * each bad one with the reason, and unseals the vault once K shares rebuild a key that passes
 * the key check. Held shares live only in memory and are wiped when the session ends.
 */
export class UnsealSession {
  readonly #target: UnsealTarget;
  readonly #held: PlainShare[] = [];
  readonly #expiresAfterMs: number;
  #expiry: NodeJS.Timeout | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closed: 'open' | 'unsealed' | 'cancelled' | 'expired' = 'open';
  #inconsistent: number[] = [];

  constructor(target: UnsealTarget, options: { expiresAfterMs: number }) {
    this.#target = target;
    this.#expiresAfterMs = options.expiresAfterMs;
    this.#armExpiry();
  }

  get isOpen(): boolean {
    return this.#closed === 'open';
  }

  get progress(): UnsealProgress {
    return {
      have: this.#held.length,
      need: this.#target.header.threshold,
      indices: this.#held.map((share) => share.index).sort((a, b) => a - b),
      unsealed: this.#closed === 'unsealed',
      inconsistent: [...this.#inconsistent],
    };
  }

  /**
   * Adds one share (text form or parsed). Resolves with the progress; rejects with a VaultError
   * saying which share and why when it is refused. Submissions run one after another.
   */
  submit(share: string | VaultShare, options: SubmitOptions = {}): Promise<UnsealProgress> {
    const result = this.#queue.then(() => this.#submitNow(share, options));
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /** Forgets every share held. */
  cancel(): void {
    this.#close('cancelled');
  }

  async #submitNow(input: string | VaultShare, options: SubmitOptions): Promise<UnsealProgress> {
    if (this.#closed !== 'open') {
      throw new VaultError(
        'UNSEAL_SESSION_CLOSED',
        `This unseal session is ${this.#closed === 'unsealed' ? 'finished: the vault is unsealed' : this.#closed}. ` +
          'Start a new session to unseal again.',
      );
    }
    this.#armExpiry();
    const share = this.#admit(typeof input === 'string' ? parseShareText(input) : input, options);
    this.#held.push(share);
    if (this.#held.length < this.#target.header.threshold) return this.progress;
    await this.#tryReconstruct(share);
    return this.progress;
  }

  #admit(share: VaultShare, options: SubmitOptions): PlainShare {
    const header = this.#target.header;
    if (!share.vaultId.equals(header.vaultId)) {
      throw new VaultError(
        'SHARE_FOREIGN',
        `Share ${share.index} belongs to vault ${formatVaultId(share.vaultId)}, not to this vault ` +
          `(${formatVaultId(header.vaultId)}). Ask its holder for their share of this vault.`,
        { shareIndex: share.index },
      );
    }
    if (share.shareSet !== header.shareSet) {
      const older = share.shareSet < header.shareSet;
      throw new VaultError(
        'SHARE_STALE',
        older
          ? `Share ${share.index} is from share set ${share.shareSet}, replaced by a rekey: this vault ` +
              `now takes shares of set ${header.shareSet}. Its holder needs their new share.`
          : `Share ${share.index} is from share set ${share.shareSet}, newer than this vault file ` +
              `(set ${header.shareSet}): the vault file was restored from before the last rekey. ` +
              'Use the shares of that older set, or the vault file that matches these shares.',
        { shareIndex: share.index },
      );
    }
    if (share.threshold !== header.threshold || share.shareCount !== header.shareCount) {
      throw new VaultError(
        'SHARE_INVALID',
        `Share ${share.index} says ${share.threshold} of ${share.shareCount} but this vault's share set ` +
          `${header.shareSet} is ${header.threshold} of ${header.shareCount}: the share was altered. ` +
          'Ask another custodian.',
        { shareIndex: share.index },
      );
    }
    const plain = share.encrypted ? this.#decrypt(share, options) : share;
    const sameIndex = this.#held.find((held) => held.index === plain.index);
    if (sameIndex !== undefined) {
      throw new VaultError(
        'SHARE_DUPLICATE',
        sameIndex.point.equals(plain.point)
          ? `Share ${plain.index} was already given in this session. Submit a share of another custodian.`
          : `A different share ${plain.index} was already given in this session: one of the two is ` +
              'wrong. Submit a share of another custodian; the key check will tell which is good.',
        { shareIndex: plain.index },
      );
    }
    const sameX = this.#held.find((held) => pointX(held.point) === pointX(plain.point));
    if (sameX !== undefined) {
      throw new VaultError(
        'SHARE_DUPLICATE',
        `Share ${plain.index} has the same Shamir x-coordinate as share ${sameX.index}, which no two ` +
          'shares of one set have: one of them was altered. Submit a share of another custodian.',
        { shareIndex: plain.index },
      );
    }
    return { ...plain, point: Buffer.from(plain.point) };
  }

  #decrypt(share: VaultShare & { encrypted: true }, options: SubmitOptions): PlainShare {
    if (options.privateKey === undefined) {
      throw new VaultError(
        'SHARE_ENCRYPTED',
        `Share ${share.index} is encrypted to its holder's key. Give the holder's private key with ` +
          'the share, or decrypt the share first.',
        { shareIndex: share.index },
      );
    }
    return decryptShare(share, options.privateKey);
  }

  /** Tries every K-subset that includes the newest share (all others were tried before). */
  async #tryReconstruct(newest: PlainShare): Promise<void> {
    const header = this.#target.header;
    const others = this.#held.filter((share) => share !== newest);
    let checks = 0;
    for (const subset of subsetsOf(others, header.threshold - 1)) {
      if (++checks > MAX_KEY_CHECKS) break;
      const group = [...subset, newest];
      const key = await combinePoints(group.map((share) => share.point));
      if (keyCheckMatches(key, header.vaultId, header.shareSet, header.keyCheck)) {
        this.#inconsistent = await this.#findInconsistent(group);
        try {
          this.#target.unsealWith(key);
        } catch (error) {
          zeroKeys(key);
          throw error;
        }
        this.#close('unsealed');
        return;
      }
      zeroKeys(key);
    }
    const combined = this.#held.map((share) => share.index).sort((a, b) => a - b);
    throw new VaultError(
      'KEY_CHECK_FAILED',
      `Shares ${combined.join(', ')} do not rebuild this vault's key: at least one of them is wrong ` +
        '(altered with its checksum redone, or made for another key). ' +
        (checks > MAX_KEY_CHECKS
          ? 'Too many shares are held to search further: cancel this session and start over with shares you trust.'
          : "Submit another custodian's share to find the wrong one, or cancel and start over."),
      { combined },
    );
  }

  /** Held shares outside the good group whose point is not on the key's polynomial. */
  async #findInconsistent(good: readonly PlainShare[]): Promise<number[]> {
    const header = this.#target.header;
    const basis = good.slice(1);
    const inconsistent: number[] = [];
    for (const share of this.#held.filter((held) => !good.includes(held))) {
      const key = await combinePoints([...basis, share].map((held) => held.point));
      if (!keyCheckMatches(key, header.vaultId, header.shareSet, header.keyCheck))
        inconsistent.push(share.index);
      zeroKeys(key);
    }
    return inconsistent.sort((a, b) => a - b);
  }

  #armExpiry(): void {
    clearTimeout(this.#expiry);
    this.#expiry = setTimeout(() => this.#close('expired'), this.#expiresAfterMs);
    this.#expiry.unref();
  }

  #close(reason: 'unsealed' | 'cancelled' | 'expired'): void {
    if (this.#closed !== 'open') return;
    this.#closed = reason;
    clearTimeout(this.#expiry);
    for (const share of this.#held) zeroKeys(share.point);
    if (reason !== 'unsealed') this.#held.length = 0;
  }
}

/** All subsets of `items` of the given size, in lexicographic order of positions. */
function* subsetsOf<T>(items: readonly T[], size: number): Generator<T[]> {
  if (size === 0) {
    yield [];
    return;
  }
  for (let first = 0; first <= items.length - size; first += 1) {
    for (const rest of subsetsOf(items.slice(first + 1), size - 1)) yield [items[first]!, ...rest];
  }
}
