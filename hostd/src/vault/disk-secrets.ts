import { ErrorNumber, LibvirtError } from '@multiverse/libvirt-ts';
import type { LibvirtClient } from '@multiverse/libvirt-ts';
import type { KeyVault } from '@multiverse/keyvault';
import { element, renderXml } from '@multiverse/vm-templates';
import { z } from 'zod';
import { readStateFile, writeFileDurably } from '../durable-fs.js';
import type { Logger } from '../log.js';
import { UUID_PATTERN, decodeLuksKey, luksEntryName, secretUuidOfEntry } from './luks-key-entry.js';
import type { LuksKey } from './luks-key-entry.js';
import type { VaultFollower, VaultService } from './vault-service.js';

export interface DiskSecretsOptions {
  readonly vault: VaultService;
  /** The current libvirt connection; undefined while hostd reconnects. */
  readonly libvirt: () => LibvirtClient | undefined;
  /**
   * Where the UUIDs of the secrets given to libvirt are noted (no values: UUIDs are not secret), so a
   * hostd that died unsealed takes them back when it starts again, sealed.
   */
  readonly recordPath: string;
  readonly logger: Logger;
}

const recordSchema = z.strictObject({ uuids: z.array(z.string().regex(UUID_PATTERN)) });

/**
 * LUKS passphrases reach QEMU only through libvirt secrets, and those exist exactly while the vault is
 * unsealed: on unseal hostd defines one per `luks/<uuid>` entry — ephemeral (libvirtd never writes it to
 * disk) and private (nobody can read its value back through libvirt) — and on seal undefines them, so a
 * sealed host cannot start an encrypted VM. A VM already running keeps its disk open: QEMU holds the key.
 *
 * Every change runs in one queue, so an unseal, a seal and a libvirt reconnect never interleave.
 */
export class DiskSecrets implements VaultFollower {
  readonly name = 'libvirt disk secrets';
  readonly #options: DiskSecretsOptions;
  readonly #logger: Logger;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: DiskSecretsOptions) {
    this.#options = options;
    this.#logger = options.logger;
  }

  unsealed(vault: KeyVault): Promise<void> {
    return this.#serial(() => this.#giveAll(vault));
  }

  sealed(): Promise<void> {
    return this.#serial(() => this.#takeBackAll());
  }

  /**
   * libvirtd (re)connected: ephemeral secrets died with a restarted libvirtd, and a sealed vault must leave
   * none behind. Problems are logged: nobody waits on a reconnect.
   */
  async libvirtConnected(): Promise<void> {
    try {
      await this.#serial(() => {
        const vault = this.#options.vault.unsealedVault();
        return vault === undefined ? this.#takeBackAll() : this.#giveAll(vault);
      });
    } catch (error) {
      this.#logger.warn('bringing libvirt’s disk secrets in line with the vault failed', {
        error: (error as Error).message,
      });
    }
  }

  /** Gives libvirt the key of one disk (just made while unsealed). */
  define(secretUuid: string): Promise<void> {
    return this.#serial(async () => {
      const vault = this.#options.vault.requireUnsealed('the disk’s key is in the vault');
      const client = this.#requireLibvirt();
      await this.#note((uuids) => new Set([...uuids, secretUuid]));
      await this.#give(client, vault, secretUuid);
    });
  }

  /** Takes one disk's key back from libvirt (its disk is being deleted). */
  undefine(secretUuid: string): Promise<void> {
    return this.#serial(async () => {
      const client = this.#requireLibvirt();
      await undefineSecret(client, secretUuid);
      await this.#note((uuids) => new Set([...uuids].filter((uuid) => uuid !== secretUuid)));
    });
  }

  async #giveAll(vault: KeyVault): Promise<void> {
    const client = this.#requireLibvirt();
    const wanted = vault
      .list()
      .map((entry) => secretUuidOfEntry(entry.name))
      .filter((uuid): uuid is string => uuid !== undefined);
    const before = await this.#readRecord();
    // Noted before libvirt has them: a crash in between leaves a UUID to take back, never an unnoted secret.
    await this.#writeRecord(new Set([...before, ...wanted]));
    const failures: string[] = [];
    for (const uuid of wanted) {
      try {
        await this.#give(client, vault, uuid);
      } catch (error) {
        failures.push(`${luksEntryName(uuid)}: ${(error as Error).message}`);
      }
    }
    const stale = [...before].filter((uuid) => !wanted.includes(uuid));
    const kept = await this.#undefineEach(client, stale, failures);
    await this.#writeRecord(new Set([...wanted, ...kept]));
    if (wanted.length > 0) {
      this.#logger.info('gave libvirt the vault’s disk keys', { keys: wanted.length - failures.length });
    }
    if (failures.length > 0) throw new Error(`disk keys not given to libvirt: ${failures.join('; ')}`);
  }

  async #takeBackAll(): Promise<void> {
    const recorded = await this.#readRecord();
    if (recorded.size === 0) return;
    const client = this.#requireLibvirt();
    const failures: string[] = [];
    const kept = await this.#undefineEach(client, [...recorded], failures);
    await this.#writeRecord(new Set(kept));
    this.#logger.info('took the disk keys back from libvirt', { keys: recorded.size - kept.length });
    if (failures.length > 0) throw new Error(`disk keys still with libvirt: ${failures.join('; ')}`);
  }

  /** Undefines each secret; returns the UUIDs that could not be, with a line per failure in `failures`. */
  async #undefineEach(
    client: LibvirtClient,
    uuids: readonly string[],
    failures: string[],
  ): Promise<string[]> {
    const kept: string[] = [];
    for (const uuid of uuids) {
      try {
        await undefineSecret(client, uuid);
      } catch (error) {
        kept.push(uuid);
        failures.push(`secret ${uuid}: ${(error as Error).message}`);
      }
    }
    return kept;
  }

  async #give(client: LibvirtClient, vault: KeyVault, secretUuid: string): Promise<void> {
    await vault.withEntry(luksEntryName(secretUuid), async (value) => {
      let key: LuksKey;
      try {
        key = decodeLuksKey(value);
      } catch (error) {
        throw new Error(`the vault entry is not a LUKS key (${(error as Error).message})`, { cause: error });
      }
      const secret = await client.secretDefineXml(luksSecretXml(secretUuid, key.volume));
      const passphrase = Buffer.from(key.passphrase, 'ascii');
      try {
        await client.secretSetValue(secret, passphrase);
      } finally {
        passphrase.fill(0);
      }
    });
  }

  #requireLibvirt(): LibvirtClient {
    const client = this.#options.libvirt();
    if (client === undefined) {
      throw new Error(
        'hostd is not connected to libvirtd; it will bring the disk keys in line when it reconnects',
      );
    }
    return client;
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #note(change: (uuids: Set<string>) => Set<string>): Promise<void> {
    await this.#writeRecord(change(await this.#readRecord()));
  }

  async #readRecord(): Promise<Set<string>> {
    const reading = await readStateFile(this.#options.recordPath, recordSchema);
    if (reading.state === 'missing') return new Set();
    if (reading.state === 'damaged') {
      this.#logger.warn('the record of libvirt disk secrets is unreadable; starting a new one', {
        path: this.#options.recordPath,
      });
      return new Set();
    }
    return new Set(reading.value.uuids);
  }

  async #writeRecord(uuids: Set<string>): Promise<void> {
    const record = { uuids: [...uuids].sort() };
    await writeFileDurably(this.#options.recordPath, JSON.stringify(record, null, 2) + '\n', 0o600);
  }
}

/** libvirt's secret for one LUKS disk; every value escaped by the XML writer. */
export function luksSecretXml(secretUuid: string, volume: string): string {
  return renderXml(
    element(
      'secret',
      { ephemeral: 'yes', private: 'yes' },
      element('uuid', {}, secretUuid),
      element('description', {}, `Multiverse: LUKS key of ${volume}, given while the vault is unsealed`),
      element('usage', { type: 'volume' }, element('volume', {}, volume)),
    ),
  );
}

async function undefineSecret(client: LibvirtClient, secretUuid: string): Promise<void> {
  try {
    await client.secretUndefine(await client.secretLookupByUuid(secretUuid));
  } catch (error) {
    if (error instanceof LibvirtError && error.code === ErrorNumber.ERR_NO_SECRET) return;
    throw error;
  }
}
