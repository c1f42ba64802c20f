import { randomBytes } from 'node:crypto';
import { chmod, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { initVault, openVault, shareQrSvg, VaultError } from '@multiverse/keyvault';
import type { CustodianSpec, IssuedShare, KeyVault, PendingRekey, SealReason } from '@multiverse/keyvault';
import type { Logger } from '../log.js';
import { ServiceError } from '../service/service-error.js';
import { VaultGenerationRecord } from './generation-record.js';
import type { SeenGeneration } from './generation-record.js';
import { LUKS_ENTRY_PREFIX } from './luks-key-entry.js';
import { asVaultServiceError, vaultNotInitialisedError, vaultSealedError } from './vault-errors.js';

export const VAULT_FILE_NAME = 'vault.mvv';
/** Only hostd's user may even list the vault directory: entry names and share sets are in file names' reach. */
const VAULT_DIRECTORY_MODE = 0o700;

export interface VaultServiceOptions {
  /** `<stateDir>/vault`: made 0700 if missing. */
  readonly directory: string;
  /** Seal after this long without a vault operation; 0: never on idle. */
  readonly autoSealAfterSeconds: number;
  readonly logger: Logger;
  /** How long an unseal session keeps shares without a new one (the library's default: 15 min). */
  readonly unsealSessionTimeoutMs?: number;
  /**
   * Where the newest vault generation seen is recorded: outside the vault directory, so an older vault file put
   * back does not bring back its own record. Default `<directory>/../vault-generation.json` (the state directory).
   */
  readonly generationRecordPath?: string;
}

/**
 * Something that must follow the vault's state: libvirt's disk secrets exist exactly while it is unsealed.
 * A follower that fails throws; the verb that unsealed or sealed reports it as a problem and succeeds,
 * because the vault's own state changed either way.
 */
export interface VaultFollower {
  readonly name: string;
  unsealed(vault: KeyVault): Promise<void>;
  sealed(): Promise<void>;
}

export interface FollowerProblem {
  readonly follower: string;
  readonly message: string;
}

export type VaultState = 'uninitialised' | 'damaged' | 'sealed' | 'unsealed';

/** What anyone may see about the vault: counts and ids, never a name or a value. */
export interface VaultStatusReport {
  readonly state: VaultState;
  readonly vaultId: string | null;
  readonly threshold: number | null;
  readonly shares: number | null;
  readonly shareSet: number | null;
  readonly generation: number | null;
  readonly entries: number | null;
  /** The open unseal session: `have` of `need` shares given, and which. */
  readonly unseal: { readonly have: number; readonly need: number; readonly indices: number[] } | null;
  readonly autoSealAfterSeconds: number;
  readonly lastSealed: { readonly at: string; readonly reason: SealReason } | null;
  readonly pendingRekey: {
    readonly rekeyId: string;
    readonly threshold: number;
    readonly shares: number;
  } | null;
  /** Why a damaged vault could not be read. */
  readonly problem: { readonly code: string; readonly message: string } | null;
  /**
   * The file is older than (or another vault than) the newest one this host has seen: an unseal will be refused
   * (VAULT_ROLLED_BACK / VAULT_REPLACED) until the newest file is back or the owner accepts this one. While sealed
   * this reads the header's unauthenticated generation; the unseal checks it under the master key.
   */
  readonly rollback: {
    readonly fileVaultId: string;
    readonly fileGeneration: number;
    readonly seen: SeenGeneration;
  } | null;
}

/** One share as handed to its custodian: the text to print and its QR code. */
export interface HandedShare {
  readonly custodian: string;
  readonly index: number;
  readonly encrypted: boolean;
  readonly text: string;
  readonly qrSvg: string;
}

export interface ShareSetRequest {
  readonly threshold: number;
  readonly custodians: readonly { readonly name: string; readonly publicKey?: string }[];
}

export interface UnsealOutcome {
  readonly unsealed: boolean;
  readonly have: number;
  readonly need: number;
  readonly indices: number[];
  /** Once unsealed: shares given that are not on the key's polynomial (their holders need a rekey). */
  readonly inconsistent: number[];
  readonly problems: FollowerProblem[];
}

export interface VaultEntrySummary {
  readonly name: string;
  readonly size: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Entries hostd keeps for a purpose of its own; the owner may read them but not change them. */
  readonly managed: boolean;
}

interface PreparedRekey {
  readonly id: string;
  readonly pending: PendingRekey;
  readonly threshold: number;
  readonly shareCount: number;
}

/**
 * hostd's vault: one KeyVault file under the state directory, shared by every front end. It turns library
 * failures into service errors with hints, keeps the one pending rekey, tells followers (libvirt's disk
 * secrets) when the vault unseals or seals, and refuses owner changes to entries hostd manages.
 */
export class VaultService {
  readonly path: string;
  readonly #options: VaultServiceOptions;
  readonly #logger: Logger;
  readonly #followers: VaultFollower[] = [];
  #vault: KeyVault | undefined;
  #damage: ServiceError | undefined;
  #rekey: PreparedRekey | undefined;
  #lastSealed: { at: Date; reason: SealReason } | undefined;
  /** Follower runs happen one after another, in the order the vault changed. */
  #followerRuns: Promise<FollowerProblem[]> = Promise.resolve([]);
  readonly #generations: VaultGenerationRecord;
  /** Set when an unseal was undone because the file is older than the newest seen; thrown by submitShare. */
  #refusedUnseal: ServiceError | undefined;

  constructor(options: VaultServiceOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.path = join(options.directory, VAULT_FILE_NAME);
    this.#generations = new VaultGenerationRecord(
      options.generationRecordPath ?? join(dirname(options.directory), 'vault-generation.json'),
      options.logger,
    );
  }

  get directory(): string {
    return this.#options.directory;
  }

  /** Reads the vault file, sealed, if there is one. A damaged file is reported by status, not thrown. */
  async open(): Promise<void> {
    await mkdir(this.#options.directory, { recursive: true, mode: VAULT_DIRECTORY_MODE });
    await chmod(this.#options.directory, VAULT_DIRECTORY_MODE);
    await this.#generations.load();
    try {
      this.#attach(await openVault(this.#vaultOptions()));
      this.#logger.info('vault opened, sealed', { vault: this.#vault?.status().vaultId });
    } catch (error) {
      if (error instanceof VaultError && error.code === 'VAULT_NOT_FOUND') {
        this.#logger.info('no vault yet', { path: this.path });
        return;
      }
      const damage = asVaultServiceError(error);
      this.#damage =
        damage instanceof ServiceError
          ? damage
          : new ServiceError(
              'internal',
              'VAULT_IO',
              `reading the vault file ${this.path} failed: ${(error as Error).message}`,
              'check the file’s permissions and the disk, then restart hostd',
              { cause: error },
            );
      this.#logger.error('the vault file cannot be used; hostd runs without it', {
        code: this.#damage.code,
        error: this.#damage.message,
      });
    }
  }

  addFollower(follower: VaultFollower): void {
    this.#followers.push(follower);
  }

  /** The KeyVault while unsealed, for hostd's own modules (disk secrets); undefined otherwise. */
  unsealedVault(): KeyVault | undefined {
    const vault = this.#vault;
    return vault !== undefined && !vault.sealed ? vault : undefined;
  }

  /** The unsealed KeyVault; VAULT_SEALED (saying what needed it) otherwise. */
  requireUnsealed(what?: string): KeyVault {
    const vault = this.#requireVault();
    if (vault.sealed) throw vaultSealedError(what);
    return vault;
  }

  status(): VaultStatusReport {
    const vault = this.#vault;
    const rekey = this.#rekey;
    const common = {
      autoSealAfterSeconds: this.#options.autoSealAfterSeconds,
      lastSealed:
        this.#lastSealed === undefined
          ? null
          : { at: this.#lastSealed.at.toISOString(), reason: this.#lastSealed.reason },
      pendingRekey:
        rekey === undefined
          ? null
          : { rekeyId: rekey.id, threshold: rekey.threshold, shares: rekey.shareCount },
    };
    if (vault === undefined) {
      return {
        state: this.#damage === undefined ? 'uninitialised' : 'damaged',
        vaultId: null,
        threshold: null,
        shares: null,
        shareSet: null,
        generation: null,
        entries: null,
        unseal: null,
        ...common,
        problem:
          this.#damage === undefined ? null : { code: this.#damage.code, message: this.#damage.message },
        rollback: null,
      };
    }
    const status = vault.status();
    return {
      state: status.sealed ? 'sealed' : 'unsealed',
      vaultId: status.vaultId,
      threshold: status.threshold,
      shares: status.shareCount,
      shareSet: status.shareSet,
      generation: status.generation,
      entries: status.entryCount,
      unseal:
        status.unseal === undefined
          ? null
          : { have: status.unseal.have, need: status.unseal.need, indices: [...status.unseal.indices] },
      ...common,
      problem: null,
      rollback: this.#rollbackOf(status.vaultId, status.generation),
    };
  }

  /** Creates the vault (unsealed) and its first share set. */
  async init(request: ShareSetRequest): Promise<{ shares: HandedShare[]; problems: FollowerProblem[] }> {
    if (this.#damage !== undefined) throw this.#damage;
    if (this.#vault !== undefined) {
      throw new ServiceError(
        'conflict',
        'VAULT_EXISTS',
        `this host has a vault already (${this.#vault.status().vaultId})`,
        'change its custodians with `mvctl vault rekey-prepare`; a second vault is never made over the first',
      );
    }
    const { vault, shares } = await this.#vaultCall(() =>
      initVault({ ...this.#vaultOptions(), ...shareSetOptions(request) }),
    );
    this.#attach(vault);
    // A new vault is this host's vault from now on, whatever the record said about an earlier one.
    await this.#generations.accept(vault.status().vaultId, vault.status().generation);
    this.#logger.info('vault created', {
      vault: vault.status().vaultId,
      threshold: request.threshold,
      shares: request.custodians.length,
    });
    // initVault unseals before this service listens: tell the followers now.
    const problems = await this.#queueFollowers('unsealed', vault);
    return { shares: await handOut(shares), problems };
  }

  /** Adds one custodian's share to the open unseal session (starting one if needed). */
  async submitShare(share: string, privateKey?: string): Promise<UnsealOutcome> {
    const vault = this.#requireVault();
    if (!vault.sealed) {
      throw new ServiceError(
        'conflict',
        'VAULT_UNSEALED',
        'the vault is already unsealed',
        'nothing to unseal; `mvctl vault status` shows the vault, `mvctl vault seal` seals it',
      );
    }
    this.#refusedUnseal = undefined;
    const progress = await this.#vaultCall(() =>
      vault.unsealSession().submit(share, privateKey === undefined ? {} : { privateKey }),
    );
    const refused = this.#takeRefusedUnseal();
    if (refused !== undefined) {
      await this.#followerRuns;
      throw refused;
    }
    // The vault's `unsealed` event queued the followers; their run is the latest one.
    const problems = progress.unsealed ? await this.#followerRuns : [];
    if (progress.unsealed) this.#logger.info('vault unsealed', { vault: vault.status().vaultId });
    return {
      unsealed: progress.unsealed,
      have: progress.have,
      need: progress.need,
      indices: [...progress.indices],
      inconsistent: [...progress.inconsistent],
      problems,
    };
  }

  /**
   * Forgets the master key (and a prepared rekey); while sealed, forgets the shares given so far. Followers
   * run either way, so a seal also takes back anything a crashed hostd left with libvirt.
   */
  async seal(): Promise<{ wasUnsealed: boolean; forgottenShares: number; problems: FollowerProblem[] }> {
    const vault = this.#requireVault();
    const wasUnsealed = !vault.sealed;
    let forgottenShares = 0;
    if (wasUnsealed) {
      vault.seal('requested');
    } else {
      const session = vault.status().unseal;
      if (session !== undefined) {
        forgottenShares = session.have;
        vault.unsealSession().cancel();
      }
      void this.#queueFollowers('sealed', undefined);
    }
    return { wasUnsealed, forgottenShares, problems: await this.#followerRuns };
  }

  /**
   * The owner's answer to VAULT_ROLLED_BACK / VAULT_REPLACED: the vault file there now (whose generation they
   * name, as `vault status` shows it) is the one to use; the next unseal takes it. Only while sealed, so the
   * file cannot change between the owner's look and this.
   */
  async acceptRollback(
    generation: number,
  ): Promise<{ vaultId: string; generation: number; previous: SeenGeneration | null }> {
    const vault = this.#requireVault();
    if (!vault.sealed) {
      throw new ServiceError(
        'conflict',
        'VAULT_UNSEALED',
        'the vault is unsealed, so its file is already the one in use',
        'nothing to accept; seal it first if you mean to check another file',
      );
    }
    const status = vault.status();
    if (status.generation !== generation) {
      throw new ServiceError(
        'conflict',
        'VAULT_GENERATION_MISMATCH',
        `the vault file is generation ${status.generation}, not ${generation}`,
        'check `mvctl vault status` and name the generation it shows',
      );
    }
    const previous = this.#generations.current() ?? null;
    await this.#generations.accept(status.vaultId, generation);
    this.#logger.warn('an older or other vault file accepted by the owner', {
      vault: status.vaultId,
      generation,
      previousVault: previous?.vaultId,
      previousGeneration: previous?.generation,
    });
    return { vaultId: status.vaultId, generation, previous };
  }

  /** New shares for the same key; the vault changes only when the rekey is committed. */
  async prepareRekey(
    request: ShareSetRequest,
  ): Promise<{ rekeyId: string; shareSet: number; threshold: number; shares: HandedShare[] }> {
    const vault = this.requireUnsealed('a rekey needs the unsealed vault');
    this.#rekey?.pending.discard();
    this.#rekey = undefined;
    const pending = await this.#vaultCall(() => vault.prepareRekey(shareSetOptions(request)));
    const id = randomBytes(8).toString('hex');
    this.#rekey = { id, pending, threshold: request.threshold, shareCount: request.custodians.length };
    return {
      rekeyId: id,
      shareSet: vault.status().shareSet + 1,
      threshold: request.threshold,
      shares: await handOut(pending.shares),
    };
  }

  async commitRekey(rekeyId: string): Promise<{ shareSet: number; threshold: number; shares: number }> {
    const vault = this.requireUnsealed('committing a rekey needs the unsealed vault');
    const rekey = this.#pendingRekey(rekeyId);
    // A failed write keeps the rekey pending (the library keeps its key), so the commit can be retried.
    await this.#vaultCall(() => rekey.pending.commit());
    this.#rekey = undefined;
    const status = vault.status();
    this.#logger.info('vault rekeyed', { vault: status.vaultId, shareSet: status.shareSet });
    return { shareSet: status.shareSet, threshold: status.threshold, shares: status.shareCount };
  }

  discardRekey(rekeyId: string): { rekeyId: string } {
    const rekey = this.#pendingRekey(rekeyId);
    rekey.pending.discard();
    this.#rekey = undefined;
    return { rekeyId };
  }

  /** A new master key, every entry re-encrypted; the shares stay valid. */
  async rotate(): Promise<{ generation: number; entries: number }> {
    const vault = this.requireUnsealed('rotating the master key needs the unsealed vault');
    await this.#vaultCall(() => vault.rotate());
    const status = vault.status();
    this.#logger.info('vault master key rotated', { vault: status.vaultId, generation: status.generation });
    return { generation: status.generation, entries: status.entryCount };
  }

  list(): VaultEntrySummary[] {
    const vault = this.requireUnsealed('entry names are encrypted too');
    return this.#sync(() => vault.list()).map((entry) => ({
      name: entry.name,
      size: entry.size,
      createdAt: entry.createdAt.toISOString(),
      updatedAt: entry.updatedAt.toISOString(),
      managed: isManagedEntry(entry.name),
    }));
  }

  /** A copy of the value: the caller wipes it. */
  get(name: string): Buffer {
    const vault = this.requireUnsealed();
    return this.#sync(() => vault.get(name));
  }

  async put(name: string, value: Buffer): Promise<{ name: string; size: number; replaced: boolean }> {
    refuseManaged(name);
    const vault = this.requireUnsealed();
    const replaced = this.#sync(() => vault.has(name));
    await this.#vaultCall(() => vault.put(name, value));
    return { name, size: value.byteLength, replaced };
  }

  async delete(name: string): Promise<{ name: string }> {
    refuseManaged(name);
    const vault = this.requireUnsealed();
    const existed = await this.#vaultCall(() => vault.delete(name));
    if (!existed) {
      throw new ServiceError(
        'not-found',
        'ENTRY_NOT_FOUND',
        `the vault has no entry ${JSON.stringify(name)}`,
        '`mvctl vault list` shows the entries there are',
      );
    }
    return { name };
  }

  /** hostd stops: the key must not outlive the process's purpose, and libvirt must let go of disk keys. */
  async close(): Promise<void> {
    const vault = this.#vault;
    if (vault === undefined) return;
    if (!vault.sealed) vault.seal('requested');
    const problems = await this.#followerRuns;
    for (const problem of problems) this.#logger.warn('sealing at stop left a problem', { ...problem });
  }

  #vaultOptions() {
    const seconds = this.#options.autoSealAfterSeconds;
    return {
      path: this.path,
      ...(seconds > 0 ? { autoSealAfterMs: seconds * 1000 } : {}),
      ...(this.#options.unsealSessionTimeoutMs === undefined
        ? {}
        : { unsealSessionTimeoutMs: this.#options.unsealSessionTimeoutMs }),
    };
  }

  #attach(vault: KeyVault): void {
    this.#vault = vault;
    this.#damage = undefined;
    vault.on('unsealed', () => {
      // The header (generation included) is authenticated now. An older file must not hand out its keys.
      const status = vault.status();
      const refused = this.#rollbackError(status.vaultId, status.generation);
      if (refused !== undefined) {
        this.#refusedUnseal = refused;
        this.#logger.error('unseal refused: the vault file is older than the newest seen', {
          vault: status.vaultId,
          generation: status.generation,
          seenGeneration: this.#generations.current()?.generation,
          seenVault: this.#generations.current()?.vaultId,
        });
        vault.seal('requested');
        return;
      }
      void this.#generations.raise(status.vaultId, status.generation).catch(() => undefined);
      void this.#queueFollowers('unsealed', vault);
    });
    vault.on('written', ({ generation }) => {
      void this.#generations.raise(vault.status().vaultId, generation).catch(() => undefined);
    });
    vault.on('sealed', ({ reason }) => {
      this.#lastSealed = { at: new Date(), reason };
      this.#rekey = undefined;
      if (reason === 'idle')
        this.#logger.info('vault sealed after idling', { vault: vault.status().vaultId });
      void this.#queueFollowers('sealed', undefined);
    });
  }

  /** The refusal the `unsealed` listener left for the submission that completed the unseal, once. */
  #takeRefusedUnseal(): ServiceError | undefined {
    const refused = this.#refusedUnseal;
    this.#refusedUnseal = undefined;
    return refused;
  }

  #rollbackOf(vaultId: string, generation: number): VaultStatusReport['rollback'] {
    const seen = this.#generations.current();
    if (seen === undefined || (seen.vaultId === vaultId && generation >= seen.generation)) return null;
    return { fileVaultId: vaultId, fileGeneration: generation, seen };
  }

  #rollbackError(vaultId: string, generation: number): ServiceError | undefined {
    const rollback = this.#rollbackOf(vaultId, generation);
    if (rollback === null) return undefined;
    const { seen } = rollback;
    const accept = `or, if this file is the one to use, accept it with \`mvctl vault accept-rollback ${generation}\` and unseal again`;
    if (seen.vaultId !== vaultId) {
      return new ServiceError(
        'conflict',
        'VAULT_REPLACED',
        `the vault file ${this.path} is vault ${vaultId}, not vault ${seen.vaultId} that this host last used (generation ${seen.generation}, ${seen.seenAt}); it stays sealed`,
        `put back this host's vault file (${seen.vaultId}) and unseal again; ${accept}`,
      );
    }
    return new ServiceError(
      'conflict',
      'VAULT_ROLLED_BACK',
      `the vault file ${this.path} is generation ${generation}, older than generation ${seen.generation} this host saw on ${seen.seenAt}: an older copy was put back (a restore, or shares a rekey retired being used again); it stays sealed`,
      `put back the newest vault file and unseal again; ${accept}`,
    );
  }

  #requireVault(): KeyVault {
    if (this.#damage !== undefined) throw this.#damage;
    if (this.#vault === undefined) throw vaultNotInitialisedError();
    return this.#vault;
  }

  #pendingRekey(rekeyId: string): PreparedRekey {
    const rekey = this.#rekey;
    if (rekey === undefined || rekey.id !== rekeyId) {
      throw new ServiceError(
        'conflict',
        'REKEY_NOT_PENDING',
        rekey === undefined
          ? `no rekey is pending (asked for ${rekeyId}); sealing, or preparing another, discards a prepared rekey`
          : `the pending rekey is ${rekey.id}, not ${rekeyId}`,
        'its shares are void unless it was committed: prepare a new rekey with `mvctl vault rekey-prepare`',
      );
    }
    return rekey;
  }

  #queueFollowers(event: 'unsealed' | 'sealed', vault: KeyVault | undefined): Promise<FollowerProblem[]> {
    const run = this.#followerRuns.then(() => this.#runFollowers(event, vault));
    this.#followerRuns = run;
    return run;
  }

  async #runFollowers(event: 'unsealed' | 'sealed', vault: KeyVault | undefined): Promise<FollowerProblem[]> {
    const problems: FollowerProblem[] = [];
    for (const follower of this.#followers) {
      try {
        if (event === 'unsealed' && vault !== undefined) await follower.unsealed(vault);
        else await follower.sealed();
      } catch (error) {
        const problem = { follower: follower.name, message: (error as Error).message };
        this.#logger.warn(`a follower of the vault failed after it ${event}`, problem);
        problems.push(problem);
      }
    }
    return problems;
  }

  async #vaultCall<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw asVaultServiceError(error);
    } finally {
      // A write's new generation is on record before the caller hears it is done.
      await this.#generations.settled();
    }
  }

  /** For hostd modules that write through the KeyVault itself (disk keys): waits until the record has caught up. */
  generationRecorded(): Promise<void> {
    return this.#generations.settled();
  }

  #sync<T>(call: () => T): T {
    try {
      return call();
    } catch (error) {
      throw asVaultServiceError(error);
    }
  }
}

function isManagedEntry(name: string): boolean {
  return name.startsWith(LUKS_ENTRY_PREFIX);
}

function refuseManaged(name: string): void {
  if (!isManagedEntry(name)) return;
  throw new ServiceError(
    'conflict',
    'VAULT_ENTRY_MANAGED',
    `entry ${JSON.stringify(name)} holds the key of an encrypted VM disk, which hostd manages`,
    `choose a name outside ${LUKS_ENTRY_PREFIX}; the key goes when its disk is deleted`,
  );
}

function shareSetOptions(request: ShareSetRequest): { threshold: number; custodians: CustodianSpec[] } {
  return {
    threshold: request.threshold,
    custodians: request.custodians.map(({ name, publicKey }) =>
      publicKey === undefined ? name : { name, publicKey },
    ),
  };
}

async function handOut(shares: readonly IssuedShare[]): Promise<HandedShare[]> {
  return Promise.all(
    shares.map(async ({ custodian, share, text }) => ({
      custodian,
      index: share.index,
      encrypted: share.encrypted,
      text,
      qrSvg: await shareQrSvg(share),
    })),
  );
}
