import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { aeadOpen, aeadSeal, KEY_BYTES } from './aead.js';
import { entryAad } from './associated-data.js';
import type { DurabilityObserver } from './atomic-file.js';
import { validateEntryName } from './entry-name.js';
import { corruptPart, VaultError, type VaultFilePart } from './errors.js';
import { deriveMasterKeys, zeroKeys, zeroMasterKeys, type MasterKeys } from './key-schedule.js';
import { issueShares, validateShareSet, type IssuedShare, type ShareSetOptions } from './share-set.js';
import { formatVaultId, type VaultShare } from './share.js';
import { UnsealSession, type UnsealProgress, type UnsealTarget } from './unseal-session.js';
import { parseVaultFile, VAULT_ID_BYTES, type ParsedVaultFile } from './vault-file.js';
import type { IndexEntry } from './vault-index.js';
import {
  encodeVaultImage,
  openVaultImage,
  sealHeader,
  unwrapMasterKeys,
  type StoredEntry,
} from './vault-image.js';
import { readVaultFile, writeVaultFile } from './vault-storage.js';

/** Largest value one entry may hold: the vault is for keys and passphrases, not files. */
export const MAX_ENTRY_BYTES = 1024 * 1024;
const DEFAULT_UNSEAL_SESSION_MS = 15 * 60 * 1000;

export interface VaultOptions {
  /** Path of the vault file. Its directory must exist; one process owns the file. */
  path: string;
  /** Seal after this long without any vault operation. Omitted: never seal on idle. */
  autoSealAfterMs?: number;
  /** An unseal session forgets its shares after this long without a new share (default 15 min). */
  unsealSessionTimeoutMs?: number;
  /** Told of each durability step of every file write (tracing, crash tests). */
  durabilityObserver?: DurabilityObserver;
}

export interface VaultStatus {
  readonly sealed: boolean;
  readonly vaultId: string;
  readonly shareSet: number;
  readonly threshold: number;
  readonly shareCount: number;
  readonly generation: number;
  readonly entryCount: number;
  /** Progress of the open unseal session, if any. */
  readonly unseal: UnsealProgress | undefined;
}

export interface EntryInfo {
  readonly name: string;
  readonly size: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export type SealReason = 'requested' | 'idle';

interface VaultEvents {
  sealed: [{ reason: SealReason }];
  unsealed: [];
  /**
   * A write reached the disk: the file is now this generation. Whoever keeps a record of the newest generation
   * seen (to notice an older file put back later) updates it here.
   */
  written: [{ generation: number }];
}

interface UnsealedState {
  keys: MasterKeys;
  /** Kept while unsealed so rotate can wrap a new master key without asking for shares again. */
  unsealKey: Buffer;
  entries: Map<string, StoredEntry>;
}

/** What a write produces: the next header fields and entries, and keys that change with it. */
interface NextState {
  entries: Map<string, StoredEntry>;
  keys?: MasterKeys;
  unsealKey?: Buffer;
  shareSet?: number;
  shareCount?: number;
  threshold?: number;
}

export interface PendingRekey {
  /** The new shares. Hand them out (print, seal, confirm receipt) before commit. */
  readonly shares: readonly IssuedShare[];
  /** Writes the vault with the new share set; from then on only the new shares unseal it. */
  commit(): Promise<void>;
  /** Drops the new shares' key without changing the vault. */
  discard(): void;
}

/**
 * The sealed vault. Sealed, it knows only the file's header (enough for status and for an unseal
 * session); unsealed, it holds the master key and the decrypted index, and decrypts a value only
 * when asked for it. Every change is written to the file atomically before it takes effect.
 */
export class KeyVault extends EventEmitter<VaultEvents> {
  readonly path: string;
  readonly #options: VaultOptions;
  #file: ParsedVaultFile;
  #unsealed: UnsealedState | undefined;
  #session: UnsealSession | undefined;
  #writes: Promise<unknown> = Promise.resolve();
  #idleTimer: NodeJS.Timeout | undefined;
  /** Keys of prepared, uncommitted rekeys; sealing wipes them. */
  readonly #pendingRekeys = new Set<() => void>();

  private constructor(options: VaultOptions, file: ParsedVaultFile) {
    super();
    this.path = options.path;
    this.#options = options;
    this.#file = file;
  }

  /** For openVault and initVault only; the package entry exports KeyVault as a type. */
  static create(options: VaultOptions, file: ParsedVaultFile, unsealKey?: Buffer): KeyVault {
    const vault = new KeyVault(options, file);
    if (unsealKey !== undefined) vault.#unsealWith(unsealKey);
    return vault;
  }

  get sealed(): boolean {
    return this.#unsealed === undefined;
  }

  status(): VaultStatus {
    const header = this.#file.header;
    return {
      sealed: this.sealed,
      vaultId: formatVaultId(header.vaultId),
      shareSet: header.shareSet,
      threshold: header.threshold,
      shareCount: header.shareCount,
      generation: header.generation,
      entryCount: this.#file.entries.length,
      unseal: this.#session?.isOpen ? this.#session.progress : undefined,
    };
  }

  /**
   * The open unseal session, or a new one. Front ends share it, so custodians at the CLI, the web
   * page and the SSH jail add to the same count.
   */
  unsealSession(): UnsealSession {
    if (!this.sealed) {
      throw new VaultError('VAULT_UNSEALED', 'The vault is already unsealed; seal it first to unseal again.');
    }
    if (this.#session?.isOpen) return this.#session;
    const target: UnsealTarget = {
      header: this.#file.header,
      unsealWith: (unsealKey) => this.#unsealWith(unsealKey),
    };
    this.#session = new UnsealSession(target, {
      expiresAfterMs: this.#options.unsealSessionTimeoutMs ?? DEFAULT_UNSEAL_SESSION_MS,
    });
    return this.#session;
  }

  /** Submits shares in order; resolves when the vault is unsealed. */
  async unseal(shares: readonly (string | VaultShare)[]): Promise<UnsealProgress> {
    const session = this.unsealSession();
    let progress = session.progress;
    for (const share of shares) {
      progress = await session.submit(share);
      if (progress.unsealed) return progress;
    }
    throw new VaultError(
      'VAULT_SEALED',
      `${progress.have} of ${progress.need} shares given; the vault stays sealed. Submit more shares.`,
    );
  }

  /** Forgets the master key (zeroing its buffers) and every decrypted name. */
  seal(reason: SealReason = 'requested'): void {
    clearTimeout(this.#idleTimer);
    for (const discard of this.#pendingRekeys) discard();
    const state = this.#unsealed;
    if (state === undefined) return;
    this.#unsealed = undefined;
    zeroMasterKeys(state.keys);
    zeroKeys(state.unsealKey);
    state.entries.clear();
    this.emit('sealed', { reason });
  }

  list(): EntryInfo[] {
    return [...this.#state().entries.values()]
      .map(({ meta }) => ({
        name: meta.name,
        size: meta.size,
        createdAt: new Date(meta.createdAt),
        updatedAt: new Date(meta.updatedAt),
      }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  has(name: string): boolean {
    return this.#state().entries.has(validateEntryName(name));
  }

  /**
   * A fresh copy of the value; the caller owns it and should `fill(0)` it when done (or use
   * `withEntry`). Bytes, so a LUKS passphrase goes straight to libvirt's secret-set-value.
   */
  get(name: string): Buffer {
    validateEntryName(name);
    const state = this.#state();
    const stored = state.entries.get(name);
    if (stored === undefined) {
      throw new VaultError(
        'ENTRY_NOT_FOUND',
        `No vault entry named ${JSON.stringify(name)}. List the entries to see what exists.`,
      );
    }
    const value = aeadOpen(state.keys.data, stored.record, entryAad(this.#file.header.vaultId, name));
    if (value === undefined)
      throw corruptPart(this.#entryPart(state, name), 'the entry fails authentication');
    return value;
  }

  getString(name: string): string {
    const value = this.get(name);
    try {
      return value.toString('utf8');
    } finally {
      value.fill(0);
    }
  }

  /** Runs `use` with the value and zeroes the value afterwards, also when `use` throws. */
  async withEntry<T>(name: string, use: (value: Buffer) => T | Promise<T>): Promise<T> {
    const value = this.get(name);
    try {
      return await use(value);
    } finally {
      value.fill(0);
    }
  }

  /** Adds or replaces an entry. Strings are stored as UTF-8. */
  async put(name: string, value: Uint8Array | string): Promise<void> {
    validateEntryName(name);
    if (typeof value !== 'string' && !(value instanceof Uint8Array)) {
      throw new VaultError(
        'INVALID_ARGUMENT',
        'An entry value must be bytes (Uint8Array/Buffer) or a string.',
      );
    }
    // A copy: the caller may wipe or reuse its buffer while this write waits its turn.
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
    if (bytes.byteLength > MAX_ENTRY_BYTES) {
      throw new VaultError(
        'INVALID_ARGUMENT',
        `Entry ${JSON.stringify(name)} is ${bytes.byteLength} bytes; the limit is ${MAX_ENTRY_BYTES}. Store a key to the data instead.`,
      );
    }
    await this.#write((state) => {
      const now = Date.now();
      const entries = new Map(state.entries);
      const meta: IndexEntry = {
        name,
        createdAt: state.entries.get(name)?.meta.createdAt ?? now,
        updatedAt: now,
        size: bytes.byteLength,
      };
      entries.set(name, {
        meta,
        record: aeadSeal(state.keys.data, bytes, entryAad(this.#file.header.vaultId, name)),
      });
      bytes.fill(0);
      return { entries };
    });
  }

  /** Removes an entry; resolves false when there was none. */
  async delete(name: string): Promise<boolean> {
    validateEntryName(name);
    let existed = false;
    await this.#write((state) => {
      const entries = new Map(state.entries);
      existed = entries.delete(name);
      return existed ? { entries } : undefined;
    });
    return existed;
  }

  /**
   * Makes a new share set (new N, K, custodians) for the same master key. Two steps, because the
   * new shares must reach their holders before the vault depends on them: a crash after commit but
   * before hand-out would otherwise lock the vault for good. Until commit the old shares unseal it;
   * after commit only the new ones do.
   */
  async prepareRekey(options: ShareSetOptions): Promise<PendingRekey> {
    const plan = validateShareSet(options);
    this.#state();
    const header = this.#file.header;
    if (header.shareSet === 0xffff) {
      throw new VaultError(
        'INVALID_ARGUMENT',
        'This vault has used all 65535 share sets; initialise a new vault and move the entries.',
      );
    }
    const shareSet = header.shareSet + 1;
    const unsealKey = randomBytes(KEY_BYTES);
    const shares = await issueShares(unsealKey, header.vaultId, shareSet, plan);
    let outcome: 'open' | 'committed' | 'discarded' = 'open';
    const discard = (): void => {
      if (outcome !== 'open') return;
      outcome = 'discarded';
      this.#pendingRekeys.delete(discard);
      zeroKeys(unsealKey);
    };
    this.#pendingRekeys.add(discard);
    const commit = async (): Promise<void> => {
      if (outcome !== 'open') {
        throw new VaultError(
          'REKEY_STALE',
          `This rekey was ${outcome === 'committed' ? 'committed already' : 'discarded (or the vault was sealed since it was prepared)'}; ` +
            'its shares are void unless it was committed. Prepare a new rekey.',
        );
      }
      try {
        await this.#write((state) => {
          if (this.#file.header.shareSet !== header.shareSet) {
            discard();
            throw new VaultError(
              'REKEY_STALE',
              'Another rekey was committed since this one was prepared; these shares are void. Prepare a new rekey.',
            );
          }
          return {
            entries: state.entries,
            unsealKey,
            shareSet,
            shareCount: plan.shareCount,
            threshold: plan.threshold,
          };
        });
      } catch (error) {
        if (error instanceof VaultError && error.code === 'VAULT_IO') {
          throw new VaultError(
            error.code,
            `${error.message} Keep the new shares and retry the commit: the rekey is still pending.`,
            { cause: error },
          );
        }
        throw error;
      }
      outcome = 'committed';
      this.#pendingRekeys.delete(discard);
    };
    return { shares, commit, discard };
  }

  /**
   * Replaces the master key and re-encrypts every entry under it; the shares stay valid. After a
   * rekey that removed a custodian, rotate too: with an old copy of the vault file, old shares
   * still unwrap the old master key, which until a rotate opens the current file as well.
   */
  async rotate(): Promise<void> {
    await this.#write((state) => {
      const vaultId = this.#file.header.vaultId;
      const keys = deriveMasterKeys(randomBytes(KEY_BYTES), vaultId);
      const entries = new Map<string, StoredEntry>();
      try {
        for (const [name, stored] of state.entries) {
          const aad = entryAad(vaultId, name);
          const value = aeadOpen(state.keys.data, stored.record, aad);
          if (value === undefined)
            throw corruptPart(this.#entryPart(state, name), 'the entry fails authentication');
          entries.set(name, { meta: stored.meta, record: aeadSeal(keys.data, value, aad) });
          value.fill(0);
        }
      } catch (error) {
        zeroMasterKeys(keys);
        throw error;
      }
      return { entries, keys };
    });
  }

  #state(): UnsealedState {
    const state = this.#unsealed;
    if (state === undefined) {
      throw new VaultError(
        'VAULT_SEALED',
        `The vault is sealed. Unseal it with ${this.#file.header.threshold} of the ${this.#file.header.shareCount} custodians' shares.`,
      );
    }
    this.#touch();
    return state;
  }

  #touch(): void {
    const idleMs = this.#options.autoSealAfterMs;
    if (idleMs === undefined) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => this.seal('idle'), idleMs);
    this.#idleTimer.unref();
  }

  #entryPart(state: UnsealedState, name: string): VaultFilePart {
    return { section: 'entry', entry: [...state.entries.keys()].indexOf(name), name };
  }

  #unsealWith(unsealKey: Buffer): void {
    const keys = unwrapMasterKeys(this.#file.header, unsealKey);
    try {
      const entries = openVaultImage(this.#file, keys);
      this.#unsealed = { keys, unsealKey, entries };
    } catch (error) {
      zeroMasterKeys(keys);
      throw error;
    }
    this.#touch();
    this.emit('unsealed');
  }

  /**
   * Serialises writes: builds the next state from the current one, writes the file atomically,
   * and only then makes the new state current. A failed write leaves memory and file as they were.
   */
  async #write(change: (state: UnsealedState) => NextState | undefined): Promise<void> {
    const run = this.#writes.then(async () => {
      const state = this.#state();
      const next = change(state);
      if (next === undefined) return;
      const header = this.#file.header;
      const keys = next.keys ?? state.keys;
      const unsealKey = next.unsealKey ?? state.unsealKey;
      const shareSet = next.shareSet ?? header.shareSet;
      const nextHeader = sealHeader(
        {
          vaultId: header.vaultId,
          generation: header.generation + 1,
          shareSet,
          shareCount: next.shareCount ?? header.shareCount,
          threshold: next.threshold ?? header.threshold,
        },
        keys.master,
        unsealKey,
      );
      const bytes = encodeVaultImage(nextHeader, keys, next.entries);
      try {
        await writeVaultFile(this.path, bytes, this.#options.durabilityObserver, false);
      } catch (error) {
        // A fresh master key dies with the failed write; a rekey's key stays with its pending
        // rekey so the commit can be retried.
        if (next.keys) zeroMasterKeys(next.keys);
        throw error;
      }
      this.#file = parseVaultFile(bytes);
      if (this.#unsealed === state) {
        if (next.keys) zeroMasterKeys(state.keys);
        if (next.unsealKey) zeroKeys(state.unsealKey);
        this.#unsealed = { keys, unsealKey, entries: next.entries };
      } else {
        // Sealed while the file was being written: the new keys must not outlive the old ones.
        if (next.keys) zeroMasterKeys(next.keys);
        if (next.unsealKey) zeroKeys(next.unsealKey);
      }
      this.emit('written', { generation: nextHeader.generation });
    });
    this.#writes = run.catch(() => undefined);
    await run;
  }
}

/** Opens an existing vault file, sealed. */
export async function openVault(options: VaultOptions): Promise<KeyVault> {
  validateVaultOptions(options);
  return KeyVault.create(options, parseVaultFile(await readVaultFile(options.path)));
}

/**
 * Creates a vault: a random master key and unseal key, an empty vault file (never overwriting one),
 * and one share of the unseal key per custodian. Returns the vault unsealed.
 */
export async function initVault(
  options: VaultOptions & ShareSetOptions,
): Promise<{ vault: KeyVault; shares: IssuedShare[] }> {
  validateVaultOptions(options);
  const plan = validateShareSet(options);
  const vaultId = randomBytes(VAULT_ID_BYTES);
  const shareSet = 1;
  const unsealKey = randomBytes(KEY_BYTES);
  const keys = deriveMasterKeys(randomBytes(KEY_BYTES), vaultId);
  try {
    const shares = await issueShares(unsealKey, vaultId, shareSet, plan);
    const header = sealHeader(
      { vaultId, generation: 1, shareSet, shareCount: plan.shareCount, threshold: plan.threshold },
      keys.master,
      unsealKey,
    );
    const bytes = encodeVaultImage(header, keys, new Map());
    await writeVaultFile(options.path, bytes, options.durabilityObserver, true);
    // Unsealing through the same path as custodians do also proves the file just written opens.
    const vault = KeyVault.create(options, parseVaultFile(bytes), unsealKey);
    zeroMasterKeys(keys);
    return { vault, shares };
  } catch (error) {
    zeroMasterKeys(keys);
    zeroKeys(unsealKey);
    throw error;
  }
}

/** Node fires a timer of more than 2^31-1 ms at once, which would seal (or expire) immediately. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function validateVaultOptions(options: VaultOptions): void {
  if (typeof options?.path !== 'string' || options.path === '') {
    throw new VaultError('INVALID_ARGUMENT', 'Give the path of the vault file.');
  }
  const timers = {
    autoSealAfterMs: options.autoSealAfterMs,
    unsealSessionTimeoutMs: options.unsealSessionTimeoutMs,
  };
  for (const [option, value] of Object.entries(timers)) {
    if (value !== undefined && (!Number.isInteger(value) || value < 1 || value > MAX_TIMER_MS)) {
      throw new VaultError(
        'INVALID_ARGUMENT',
        `${option} must be a whole number of milliseconds from 1 to ${MAX_TIMER_MS}, not ${String(value)}.`,
      );
    }
  }
}
