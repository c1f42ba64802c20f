import { join } from 'node:path';
import { z } from 'zod';
import type { OnionDevice } from '@multiverse/onion';
import { readStateFile, writeFileDurably } from '../durable-fs.js';
import type { Logger } from '../log.js';
import type { DeviceListener } from './hostd-torrc.js';
import type { HostTor } from './host-tor.js';

export interface OnionDeviceHostOptions {
  readonly stateDir: string;
  readonly tor: HostTor;
  readonly logger: Logger;
}

/** What sets one kind of recorded device apart. */
export interface RecordedOnionDeviceKind<R> {
  /** The record file in `stateDir` (0600): `{ "version": 1, "<listKey>": [record, …] }`. */
  readonly fileName: string;
  readonly listKey: string;
  readonly recordSchema: z.ZodType<R>;
  /** How a log line names one of them: "an onion device". */
  readonly noun: string;
  readonly deviceOf: (record: R) => OnionDevice;
  /** The name it holds hostd's tor under (`usedBy`). */
  readonly torUserOf: (record: R) => string;
}

/**
 * What hostd's onion devices of one kind (`onion up` devices, VM links) share: the file hostd notes them in,
 * reading it back after a restart, holding its tor for them, and the listeners tor must open again. The kernel
 * is the truth for whether one is up (the library reads it back); the record tells a restarted hostd which are
 * its own, so that its tor, started again, opens the TransPort/DNSPort their rules redirect to. Changes run one
 * at a time (`exclusive`).
 */
export abstract class RecordedOnionDevices<R> {
  private current: readonly R[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private readonly path: string;
  private readonly fileSchema;

  protected constructor(
    private readonly kind: RecordedOnionDeviceKind<R>,
    protected readonly options: OnionDeviceHostOptions,
  ) {
    this.path = join(options.stateDir, kind.fileName);
    this.fileSchema = z.strictObject({
      version: z.literal(1),
      [kind.listKey]: z.array(kind.recordSchema),
    });
  }

  protected get records(): readonly R[] {
    return this.current;
  }

  /** Reads the record and forgets devices that are gone (a reboot removes them); the ones still up need tor. */
  async open(): Promise<void> {
    await this.exclusive(async () => {
      const recorded = await this.read();
      this.current = recorded;
      const kept: R[] = [];
      for (const record of recorded) {
        if ((await this.kind.deviceOf(record).status()).state === 'down') continue;
        kept.push(record);
        this.useTor(this.kind.torUserOf(record));
      }
      if (kept.length !== recorded.length) await this.save(kept);
    });
  }

  /** The listeners of the devices that are up: hostd's own tor opens them again at each start. */
  async deviceListeners(): Promise<DeviceListener[]> {
    const listeners: DeviceListener[] = [];
    for (const record of this.current) {
      const status = await this.kind
        .deviceOf(record)
        .status()
        .catch(() => undefined);
      if (status?.state === 'up' && status.transPort !== undefined && status.dnsPort !== undefined) {
        listeners.push({
          hostAddress: status.hostAddress,
          transPort: status.transPort,
          dnsPort: status.dnsPort,
        });
      }
    }
    return listeners;
  }

  /**
   * Holds hostd's tor for a device (`user` as in `usedBy`); without a tor (MULTIVERSE_TOR=off) the device carries
   * nothing, which is logged.
   */
  protected useTor(user: string): void {
    try {
      this.options.tor.acquire(user);
    } catch (error) {
      // Fail closed: the device's rules still drop or redirect to a closed port; taking it down removes it.
      this.options.logger.warn(`${this.kind.noun} is up but hostd has no tor for it`, {
        user,
        error: (error as Error).message,
      });
    }
  }

  /** Replaces the record, durably (written, fsynced, renamed). */
  protected async save(records: readonly R[]): Promise<void> {
    await writeFileDurably(
      this.path,
      `${JSON.stringify({ version: 1, [this.kind.listKey]: records }, null, 2)}\n`,
      0o600,
    );
    this.current = records;
  }

  /** Runs `operation` after every change begun before it, whatever their outcome. */
  protected exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.queue.then(operation);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async read(): Promise<R[]> {
    const reading = await readStateFile(this.path, this.fileSchema);
    if (reading.state === 'missing') return [];
    const list = reading.state === 'read' ? reading.value[this.kind.listKey] : undefined;
    if (!Array.isArray(list)) {
      this.options.logger.error(
        `${this.kind.fileName} is damaged; hostd does not know which ${this.kind.listKey} it made`,
        { path: this.path },
      );
      return [];
    }
    return list;
  }
}
