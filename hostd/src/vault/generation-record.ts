import { z } from 'zod';
import { readStateFile, writeFileDurably } from '../durable-fs.js';
import type { Logger } from '../log.js';

/**
 * The newest vault file hostd has seen: its vault id and generation (which every write raises, and the header
 * MAC under the master key authenticates at unseal). Kept outside the vault directory, so that putting back an
 * older vault file — a botched restore, or someone reviving shares a rekey retired along with the file of that
 * time — does not also put back the record that would notice it.
 */
export interface SeenGeneration {
  readonly vaultId: string;
  readonly generation: number;
  readonly seenAt: string;
}

const recordSchema = z.strictObject({
  format: z.literal(1),
  vaultId: z.string().regex(/^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/),
  generation: z.number().int().positive(),
  seenAt: z.iso.datetime(),
});

export class VaultGenerationRecord {
  readonly path: string;
  readonly #logger: Logger;
  #seen: SeenGeneration | undefined;
  #writes: Promise<unknown> = Promise.resolve();

  constructor(path: string, logger: Logger) {
    this.path = path;
    this.#logger = logger;
  }

  /**
   * Reads the record. A missing one is a host that never had a vault (or lost the record: then the next unseal
   * starts it again); an unreadable one is treated alike and logged, since refusing every unseal over a damaged
   * bookkeeping file would lock the owner out of their own secrets.
   */
  async load(): Promise<SeenGeneration | undefined> {
    const reading = await readStateFile(this.path, recordSchema);
    if (reading.state === 'missing') return (this.#seen = undefined);
    if (reading.state === 'damaged') {
      this.#logger.warn('the record of the newest vault generation is unreadable; it starts again', {
        path: this.path,
      });
      return (this.#seen = undefined);
    }
    const { vaultId, generation, seenAt } = reading.value;
    return (this.#seen = { vaultId, generation, seenAt });
  }

  /** Resolves once every record write begun so far reached the disk (or failed, which is logged). */
  settled(): Promise<void> {
    return this.#writes.then(() => undefined);
  }

  current(): SeenGeneration | undefined {
    return this.#seen;
  }

  /** Notes a generation of vault `vaultId` reached: kept only if newer than the record (or of another vault). */
  raise(vaultId: string, generation: number): Promise<void> {
    const seen = this.#seen;
    if (seen !== undefined && seen.vaultId === vaultId && seen.generation >= generation)
      return this.#writes.then();
    return this.#set(vaultId, generation);
  }

  /** The owner's word: this file, older or of another vault, is the one to use from now on. */
  accept(vaultId: string, generation: number): Promise<void> {
    return this.#set(vaultId, generation);
  }

  #set(vaultId: string, generation: number): Promise<void> {
    const next = { vaultId, generation, seenAt: new Date().toISOString() };
    this.#seen = next;
    const write = this.#writes.then(() =>
      writeFileDurably(this.path, JSON.stringify({ format: 1, ...next }, null, 2) + '\n', 0o600),
    );
    this.#writes = write.catch((error: unknown) =>
      this.#logger.error('the newest vault generation could not be recorded', {
        path: this.path,
        error: (error as Error).message,
      }),
    );
    return write;
  }
}
