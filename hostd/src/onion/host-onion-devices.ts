import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { DEFAULT_DEVICE_SUBNET, OnionDevice } from '@multiverse/onion';
import type { OnionDeviceStatus, TorControlClient } from '@multiverse/onion';
import { writeFileDurably } from '../durable-fs.js';
import type { Logger } from '../log.js';
import type { DeviceListener } from './hostd-torrc.js';
import type { HostTor, TorStatusReport } from './host-tor.js';
import { onionServiceError, torOffError } from './onion-errors.js';

export const DEFAULT_DEVICE_NAME = 'onion0';
const RECORD_FILE = 'onion-devices.json';

const DeviceRecordSchema = z.strictObject({
  name: z.string(),
  subnet: z.string(),
  namespace: z.string().optional(),
});
type DeviceRecord = z.infer<typeof DeviceRecordSchema>;
const RecordFileSchema = z.strictObject({ version: z.literal(1), devices: z.array(DeviceRecordSchema) });

export interface OnionDeviceRequest {
  readonly name?: string | undefined;
  readonly subnet?: string | undefined;
  readonly namespace?: string | undefined;
}

export interface OnionDeviceReport {
  readonly device: OnionDeviceStatus & { readonly namespace: string | null };
  readonly tor: TorStatusReport;
}

/**
 * The onion devices hostd brought up (`onion up`), on hostd's tor. The kernel is the truth for whether one is
 * up (the library reads it back); hostd notes which it made in `<stateDir>/onion-devices.json`, so its own
 * tor, started again, opens the same TransPort/DNSPort the device's rules redirect to.
 */
export class HostOnionDevices {
  private records: DeviceRecord[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private readonly recordPath: string;

  constructor(
    private readonly options: { readonly stateDir: string; readonly tor: HostTor; readonly logger: Logger },
  ) {
    this.recordPath = join(options.stateDir, RECORD_FILE);
  }

  /** Forgets devices that are gone (a reboot removes veth pairs); the ones still up need tor again. */
  async open(): Promise<void> {
    await this.exclusive(async () => {
      this.records = await this.readRecords();
      const kept: DeviceRecord[] = [];
      for (const record of this.records) {
        const status = await deviceOf(record).status();
        if (status.state === 'down') continue;
        kept.push(record);
        this.useTor(record.name);
      }
      if (kept.length !== this.records.length) await this.writeRecords(kept);
    });
  }

  /** The listeners of the devices that are up: hostd's own tor opens them again at each start. */
  async deviceListeners(): Promise<DeviceListener[]> {
    const listeners: DeviceListener[] = [];
    for (const record of this.records) {
      const status = await deviceOf(record)
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

  up(request: OnionDeviceRequest): Promise<OnionDeviceReport> {
    return this.exclusive(async () => {
      if (this.options.tor.mode.kind === 'off') throw torOffError();
      const record: DeviceRecord = {
        name: request.name ?? DEFAULT_DEVICE_NAME,
        subnet: request.subnet ?? DEFAULT_DEVICE_SUBNET,
        ...(request.namespace === undefined ? {} : { namespace: request.namespace }),
      };
      const device = build(() => deviceOf(record));
      this.useTor(record.name);
      let control: TorControlClient | undefined;
      try {
        control = await this.options.tor.connect();
        const status = await device.up({
          tor: control,
          ...(record.namespace === undefined ? {} : { namespace: record.namespace }),
        });
        await this.writeRecords([...this.records.filter((known) => known.name !== record.name), record]);
        this.options.logger.info('onion device up', {
          name: record.name,
          namespace: record.namespace,
          transPort: status.transPort,
          dnsPort: status.dnsPort,
        });
        return {
          device: { ...status, namespace: record.namespace ?? null },
          tor: await this.options.tor.status(),
        };
      } catch (error) {
        if (!this.records.some((known) => known.name === record.name)) {
          await this.options.tor.release(torUserOf(record.name));
        }
        throw onionServiceError(error);
      } finally {
        control?.close();
      }
    });
  }

  down(request: OnionDeviceRequest): Promise<OnionDeviceReport> {
    return this.exclusive(async () => {
      const name = request.name ?? DEFAULT_DEVICE_NAME;
      const record = this.records.find((known) => known.name === name) ?? {
        name,
        subnet: request.subnet ?? DEFAULT_DEVICE_SUBNET,
      };
      const device = build(() => deviceOf(record));
      // tor's listeners on the device address go too when tor is there; the device goes in any case.
      const control = await this.options.tor.connect(5_000).catch(() => undefined);
      try {
        await device.down(control === undefined ? {} : { tor: control });
      } catch (error) {
        throw onionServiceError(error);
      } finally {
        control?.close();
      }
      await this.writeRecords(this.records.filter((known) => known.name !== name));
      await this.options.tor.release(torUserOf(name));
      this.options.logger.info('onion device down', { name });
      return {
        device: { ...(await device.status()), namespace: null },
        tor: await this.options.tor.status(),
      };
    });
  }

  async status(request: OnionDeviceRequest): Promise<OnionDeviceReport> {
    const name = request.name ?? DEFAULT_DEVICE_NAME;
    const record = this.records.find((known) => known.name === name) ?? {
      name,
      subnet: request.subnet ?? DEFAULT_DEVICE_SUBNET,
    };
    const device = build(() => deviceOf(record));
    let status: OnionDeviceStatus;
    try {
      status = await device.status();
    } catch (error) {
      throw onionServiceError(error);
    }
    return {
      device: { ...status, namespace: record.namespace ?? null },
      tor: await this.options.tor.status(),
    };
  }

  private useTor(name: string): void {
    try {
      this.options.tor.acquire(torUserOf(name));
    } catch (error) {
      // MULTIVERSE_TOR=off with a device left up: it carries nothing (fail closed), and `onion down` removes it.
      this.options.logger.warn('an onion device is up but hostd has no tor for it', {
        name,
        error: (error as Error).message,
      });
    }
  }

  private async readRecords(): Promise<DeviceRecord[]> {
    let text: string;
    try {
      text = await readFile(this.recordPath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const parsed = RecordFileSchema.safeParse(json);
    if (!parsed.success) {
      this.options.logger.error('onion-devices.json is damaged; hostd does not know which devices it made', {
        path: this.recordPath,
      });
      return [];
    }
    return parsed.data.devices;
  }

  private async writeRecords(records: DeviceRecord[]): Promise<void> {
    await writeFileDurably(
      this.recordPath,
      `${JSON.stringify({ version: 1, devices: records }, null, 2)}\n`,
      0o600,
    );
    this.records = records;
  }

  private exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.queue.then(operation);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

function deviceOf(record: { readonly name: string; readonly subnet: string }): OnionDevice {
  return new OnionDevice({ name: record.name, subnet: record.subnet });
}

/** The library validates names and subnets: its refusal becomes INVALID_OPTIONS (invalid-input). */
function build(make: () => OnionDevice): OnionDevice {
  try {
    return make();
  } catch (error) {
    throw onionServiceError(error);
  }
}

function torUserOf(name: string): string {
  return `onion-device:${name}`;
}
