import { z } from 'zod';
import { DEFAULT_DEVICE_SUBNET, OnionDevice } from '@multiverse/onion';
import type { OnionDeviceStatus, TorControlClient } from '@multiverse/onion';
import type { TorStatusReport } from './host-tor.js';
import { onionServiceError, torOffError } from './onion-errors.js';
import { RecordedOnionDevices } from './recorded-onion-devices.js';
import type { OnionDeviceHostOptions, RecordedOnionDeviceKind } from './recorded-onion-devices.js';

export const DEFAULT_DEVICE_NAME = 'onion0';

const DeviceRecordSchema = z.strictObject({
  name: z.string(),
  subnet: z.string(),
  namespace: z.string().optional(),
});
type DeviceRecord = z.infer<typeof DeviceRecordSchema>;

export interface OnionDeviceRequest {
  readonly name?: string | undefined;
  readonly subnet?: string | undefined;
  readonly namespace?: string | undefined;
}

export interface OnionDeviceReport {
  readonly device: OnionDeviceStatus & { readonly namespace: string | null };
  readonly tor: TorStatusReport;
}

const ONION_DEVICES: RecordedOnionDeviceKind<DeviceRecord> = {
  fileName: 'onion-devices.json',
  listKey: 'devices',
  recordSchema: DeviceRecordSchema,
  noun: 'an onion device',
  deviceOf,
  torUserOf: (record) => torUserOf(record.name),
};

/**
 * The onion devices hostd brought up (`onion up`), on hostd's tor. The kernel is the truth for whether one is
 * up (the library reads it back); hostd notes which it made in `<stateDir>/onion-devices.json`, so its own
 * tor, started again, opens the same TransPort/DNSPort the device's rules redirect to.
 */
export class HostOnionDevices extends RecordedOnionDevices<DeviceRecord> {
  constructor(options: OnionDeviceHostOptions) {
    super(ONION_DEVICES, options);
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
      this.useTor(torUserOf(record.name));
      let control: TorControlClient | undefined;
      try {
        control = await this.options.tor.connect();
        const status = await device.up({
          tor: control,
          ...(record.namespace === undefined ? {} : { namespace: record.namespace }),
        });
        await this.save([...this.records.filter((known) => known.name !== record.name), record]);
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
      await this.save(this.records.filter((known) => known.name !== name));
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
