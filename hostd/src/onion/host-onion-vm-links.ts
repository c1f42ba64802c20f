import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { z } from 'zod';
import { OnionDevice } from '@multiverse/onion';
import type { OnionDeviceStatus, TorControlClient } from '@multiverse/onion';
import { ServiceError } from '../service/service-error.js';
import { onionServiceError, torOffError } from './onion-errors.js';
import { RecordedOnionDevices } from './recorded-onion-devices.js';
import type { OnionDeviceHostOptions, RecordedOnionDeviceKind } from './recorded-onion-devices.js';

const runFile = promisify(execFile);

/**
 * The addresses VM links are cut from: one /30 per running VM behind the onion device (host side .1, guest
 * .2). Outside onion0's default 10.153.0.0/30, tor's virtual range 10.192.0.0/10 and the uplink 10.213.0.0/24.
 */
export const ONION_VM_LINK_POOL = { first: '10.154.0.0', prefixLength: 16 } as const;
const LINK_PREFIX_LENGTH = 30;

const LinkRecordSchema = z.strictObject({
  vm: z.string(),
  tap: z.string(),
  subnet: z.string(),
});
type LinkRecord = z.infer<typeof LinkRecordSchema>;

/** What the guest is told (kernel command line) and what QEMU attaches to. */
export interface OnionVmLinkSettings {
  readonly tap: string;
  /** The guest's address with its prefix: `10.154.x.y/30`. */
  readonly address: string;
  /** The host side: the guest's default route and nameserver; tor's TransPort and DNSPort listen there. */
  readonly gateway: string;
}

export interface OnionVmLinkReport extends OnionDeviceStatus {
  readonly vm: string;
}

const VM_LINKS: RecordedOnionDeviceKind<LinkRecord> = {
  fileName: 'onion-vm-links.json',
  listKey: 'links',
  recordSchema: LinkRecordSchema,
  noun: 'a VM’s onion link',
  deviceOf,
  torUserOf: (record) => torUserOf(record.vm),
};

/**
 * The links of VMs behind the onion device ("router: onion"). Each running VM gets a TAP device of its own,
 * on a /30 of its own, made with the onion device's rules (TCP → TransPort, DNS → DNSPort, the rest dropped
 * and counted, nothing forwarded) before the VM starts, and removed when it stops. One link per VM, so no VM
 * ever shares a segment with another, and tor sees each VM as its own client address (IsolateClientAddr,
 * on by default) on its own listeners: streams of two VMs never share a circuit.
 *
 * The kernel is the truth for whether a link is up; hostd notes the ones it made in
 * `<stateDir>/onion-vm-links.json`, so a restarted hostd (or its restarted tor) opens their listeners again.
 */
export class HostOnionVmLinks extends RecordedOnionDevices<LinkRecord> {
  constructor(options: OnionDeviceHostOptions) {
    super(VM_LINKS, options);
  }

  /**
   * Makes the VM's link, with its rules and tor's listeners, and brings the host side up: everything the
   * guest sends is filtered from its first packet. A link left from an earlier run is replaced.
   */
  up(vm: string): Promise<OnionVmLinkSettings> {
    return this.exclusive(async () => {
      if (this.options.tor.mode.kind === 'off') throw torOffError();
      const tap = tapNameOf(vm);
      this.useTor(torUserOf(vm));
      let control: TorControlClient | undefined;
      let device: OnionDevice | undefined;
      try {
        control = await this.options.tor.connect();
        const previous = this.records.find((record) => record.vm === vm);
        if (previous !== undefined || (await interfaceExists(tap))) {
          await deviceOf(previous ?? { tap, subnet: fallbackSubnet() }).down({ tor: control });
        }
        const subnet = await this.freeSubnet(vm);
        const record: LinkRecord = { vm, tap, subnet };
        device = deviceOf(record);
        const status = await device.up({ tor: control, link: 'tap' });
        await this.save([...this.records.filter((known) => known.vm !== vm), record]);
        this.options.logger.info('onion link up', {
          vm,
          tap,
          subnet,
          transPort: status.transPort,
          dnsPort: status.dnsPort,
        });
        return {
          tap,
          address: `${status.peerAddress}/${LINK_PREFIX_LENGTH}`,
          gateway: status.hostAddress,
        };
      } catch (error) {
        await device?.down(control === undefined ? {} : { tor: control }).catch(() => undefined);
        await this.save(this.records.filter((known) => known.vm !== vm));
        await this.options.tor.release(torUserOf(vm));
        throw onionServiceError(error);
      } finally {
        control?.close();
      }
    });
  }

  /** Removes the VM's link, its rules and tor's listeners for it; nothing to do when it has none. */
  down(vm: string): Promise<void> {
    return this.exclusive(async () => {
      const record = this.records.find((known) => known.vm === vm);
      const tap = tapNameOf(vm);
      if (record === undefined && !(await interfaceExists(tap))) return;
      const device = deviceOf(record ?? { tap, subnet: fallbackSubnet() });
      const control = await this.options.tor.connect(5_000).catch(() => undefined);
      try {
        await device.down(control === undefined ? {} : { tor: control });
      } catch (error) {
        throw onionServiceError(error);
      } finally {
        control?.close();
      }
      await this.save(this.records.filter((known) => known.vm !== vm));
      await this.options.tor.release(torUserOf(vm));
      this.options.logger.info('onion link down', { vm, tap });
    });
  }

  /** The VM's link as the kernel has it (addresses, tor's ports, drop counters), or null when it has none. */
  async status(vm: string): Promise<OnionVmLinkReport | null> {
    const record = this.records.find((known) => known.vm === vm);
    if (record === undefined) return null;
    try {
      return { vm, ...(await deviceOf(record).status()) };
    } catch (error) {
      throw onionServiceError(error);
    }
  }

  /**
   * A /30 of the pool no other link is recorded on and no host interface has an address in. The search starts
   * at a place derived from the VM's name, so a VM usually gets the same address at every start.
   */
  private async freeSubnet(vm: string): Promise<string> {
    const taken = new Set(this.records.filter((record) => record.vm !== vm).map((record) => record.subnet));
    const local = await localIpv4Addresses();
    const count = 2 ** (LINK_PREFIX_LENGTH - ONION_VM_LINK_POOL.prefixLength);
    const base = ipv4ToNumber(ONION_VM_LINK_POOL.first);
    const start = parseInt(createHash('sha256').update(vm).digest('hex').slice(0, 8), 16) % count;
    for (let step = 0; step < count; step += 1) {
      const first = base + ((start + step) % count) * 4;
      const subnet = `${numberToIpv4(first)}/${LINK_PREFIX_LENGTH}`;
      if (taken.has(subnet)) continue;
      if (local.some((address) => address >= first && address < first + 4)) continue;
      return subnet;
    }
    throw new ServiceError(
      'conflict',
      'ONION_LINKS_EXHAUSTED',
      `every /30 of ${ONION_VM_LINK_POOL.first}/${ONION_VM_LINK_POOL.prefixLength} is in use by VM links or host addresses`,
      'stop a VM behind the onion device, or free addresses in that range on the host',
    );
  }
}

/**
 * The TAP device of a VM: `mvo` and 11 hex digits of the name's SHA-256 (interface names hold 15 bytes, VM
 * names up to 32 characters). The nftables tables are named after it (`multiverse_onion_mvo…`).
 */
export function tapNameOf(vm: string): string {
  return `mvo${createHash('sha256').update(vm).digest('hex').slice(0, 11)}`;
}

function deviceOf(record: { readonly tap: string; readonly subnet: string }): OnionDevice {
  return new OnionDevice({ name: record.tap, subnet: record.subnet });
}

/** For taking down a link hostd has no record of: the addresses do not matter to down(), the name does. */
function fallbackSubnet(): string {
  return `${ONION_VM_LINK_POOL.first}/${LINK_PREFIX_LENGTH}`;
}

function torUserOf(vm: string): string {
  return `onion-vm:${vm}`;
}

async function interfaceExists(name: string): Promise<boolean> {
  try {
    await readFile(`/sys/class/net/${name}/ifindex`);
    return true;
  } catch {
    return false;
  }
}

const AddressListing = z.array(
  z.object({ addr_info: z.array(z.object({ local: z.string().optional() })).optional() }),
);

/** Every IPv4 address on this host's interfaces, as numbers. */
async function localIpv4Addresses(): Promise<number[]> {
  const { stdout } = await runFile('ip', ['-j', '-4', 'address', 'show']);
  return AddressListing.parse(JSON.parse(stdout))
    .flatMap((entry) => entry.addr_info ?? [])
    .flatMap((info) => (info.local === undefined ? [] : [ipv4ToNumber(info.local)]));
}

function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
}

function numberToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}
