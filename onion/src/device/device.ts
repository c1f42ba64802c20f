import { access } from 'node:fs/promises';
import { z } from 'zod';
import type { TorControlClient } from '../control/client.js';
import {
  OnionDeviceOptionsSchema,
  OnionDeviceUpSchema,
  deviceAddresses,
  networksOverlap,
  parseDeviceOptions,
  type OnionDeviceOptions,
  type OnionDeviceUpSettings,
} from './device-config.js';
import { OnionDeviceError } from './errors.js';
import {
  buildOnionRuleset,
  buildOnionRulesetRemoval,
  readRulesetListing,
  type DropCounterName,
  type PacketCount,
} from './nft-ruleset.js';
import { runCommand } from './system-command.js';
import { closeDeviceListeners, openDeviceListeners } from './tor-listeners.js';

export interface OnionDeviceUpOptions extends OnionDeviceUpSettings {
  /** An authenticated control connection to the tor that carries the device's traffic. */
  readonly tor: TorControlClient;
}

export interface OnionDeviceStatus {
  /** up: interface and rules in place. down: neither. partial: one without the other (run down()). */
  readonly state: 'up' | 'down' | 'partial';
  readonly interfaceName: string;
  readonly tableName: string;
  readonly subnet: string;
  readonly hostAddress: string;
  readonly peerAddress: string;
  /** tor's ports the device redirects to, read back from the rules. */
  readonly transPort?: number;
  readonly dnsPort?: number;
  /** Packets (and bytes) dropped since up(), by reason. */
  readonly dropped: Record<DropCounterName, PacketCount>;
}

const NO_PACKETS: PacketCount = { packets: 0, bytes: 0 };
const SysctlPath = z.string().regex(/^[a-z0-9_]+$/);

/**
 * `onion0`: a veth pair whose far end sits in a caller's network namespace (or stays here for a bridge), or a
 * TAP device whose far end is one VM's NIC, and whose traffic is torified. TCP arriving from it is redirected to tor's TransPort and DNS (UDP 53,
 * to any server) to tor's DNSPort, both listening on the device's own host address; everything else (other
 * UDP, ICMP, IPv6, other protocols, spoofed sources) is dropped and counted. If tor stops, the redirects
 * hit closed ports: nothing falls back to the direct route.
 *
 * The object holds no state of its own: status() and down() read the kernel, so a restarted daemon can
 * manage a device an earlier one brought up.
 */
export class OnionDevice {
  readonly interfaceName: string;
  readonly subnet: string;
  readonly tableName: string;
  readonly hostAddress: string;
  readonly peerAddress: string;

  constructor(options: OnionDeviceOptions = {}) {
    const parsed = parseDeviceOptions(OnionDeviceOptionsSchema, options, 'onion device options');
    this.interfaceName = parsed.name;
    this.subnet = parsed.subnet;
    this.tableName = `multiverse_onion_${parsed.name}`;
    ({ hostAddress: this.hostAddress, peerAddress: this.peerAddress } = deviceAddresses(parsed.subnet));
  }

  /** The peer's interface name: the same as the host side's inside a namespace, with a "p" here. */
  peerName(namespace: string | undefined): string {
    return namespace === undefined ? `${this.interfaceName}p` : this.interfaceName;
  }

  /**
   * Creates the pair, opens tor's listeners on the host address, installs the rules, and only then brings
   * the link up, so no packet crosses it unfiltered. On any failure everything done so far is undone.
   */
  async up(options: OnionDeviceUpOptions): Promise<OnionDeviceStatus> {
    const { tor, ...rest } = options;
    const settings = parseDeviceOptions(OnionDeviceUpSchema, rest, 'onion device up() options');
    if (networksOverlap(settings.virtualAddressNetwork, this.subnet)) {
      throw new OnionDeviceError(
        'ONION_DEVICE_INVALID_OPTIONS',
        `the device subnet ${this.subnet} overlaps tor's virtual address range ${settings.virtualAddressNetwork}: pick another subnet`,
      );
    }
    const namespace = settings.namespace;
    if (namespace !== undefined && !(await exists(`/run/netns/${namespace}`))) {
      throw new OnionDeviceError(
        'ONION_DEVICE_NAMESPACE_MISSING',
        `network namespace ${namespace} does not exist: create it with \`ip netns add ${namespace}\``,
      );
    }
    if (await this.linkExists()) {
      throw new OnionDeviceError(
        'ONION_DEVICE_EXISTS',
        `an interface named ${this.interfaceName} already exists: take it down first (down()) or choose another name`,
      );
    }
    const peer = this.peerName(namespace);
    const inNamespace = (command: string, args: readonly string[]): Promise<unknown> =>
      namespace === undefined
        ? runCommand(command, args)
        : runCommand('ip', ['netns', 'exec', namespace, command, ...args]);

    const tap = settings.link === 'tap';
    try {
      if (tap) {
        // Persistent and down: nothing crosses it until the rules are in and it is brought up below, and a VM
        // started by hand while it is missing fails (libvirt's managed='no' wants the device to exist).
        await runCommand('ip', ['tuntap', 'add', 'dev', this.interfaceName, 'mode', 'tap']);
      } else {
        await runCommand('ip', [
          'link',
          'add',
          this.interfaceName,
          'type',
          'veth',
          'peer',
          'name',
          peer,
          ...(namespace === undefined ? [] : ['netns', namespace]),
        ]);
      }
      // Before the link is up, so neither side ever sends a router solicitation or gets a link-local address.
      await runCommand('sysctl', [
        '-qw',
        `net.ipv6.conf.${SysctlPath.parse(this.interfaceName)}.disable_ipv6=1`,
      ]);
      if (!tap) {
        await inNamespace('sysctl', ['-qw', `net.ipv6.conf.${SysctlPath.parse(peer)}.disable_ipv6=1`]);
      }
      await runCommand('ip', ['address', 'add', `${this.hostAddress}/30`, 'dev', this.interfaceName]);

      const listeners = await openDeviceListeners(tor, {
        hostAddress: this.hostAddress,
        transPort: settings.transPort,
        dnsPort: settings.dnsPort,
        virtualAddressNetwork: settings.virtualAddressNetwork,
      });
      await runCommand('nft', ['-f', '-'], {
        input: buildOnionRuleset({
          tableName: this.tableName,
          interfaceName: this.interfaceName,
          hostAddress: this.hostAddress,
          peerAddress: this.peerAddress,
          transPort: listeners.transPort,
          dnsPort: listeners.dnsPort,
        }),
      });

      await runCommand('ip', ['link', 'set', this.interfaceName, 'up']);
      if (namespace !== undefined) {
        const ipn = ['-n', namespace];
        await runCommand('ip', [...ipn, 'address', 'add', `${this.peerAddress}/30`, 'dev', peer]);
        await runCommand('ip', [...ipn, 'link', 'set', peer, 'up']);
        const destination = settings.defaultRoute ? 'default' : listeners.virtualAddressNetwork;
        await runCommand('ip', [
          ...ipn,
          'route',
          'replace',
          destination,
          'via',
          this.hostAddress,
          'dev',
          peer,
        ]);
      } else if (!tap) {
        await runCommand('ip', ['link', 'set', peer, 'up']);
      }
      // A tap's far end is a VM's NIC: the guest sets its own address (hostd puts it on the kernel command line).
    } catch (error) {
      await this.down({ tor }).catch(() => undefined);
      throw error;
    }
    return this.status();
  }

  /**
   * Removes the rules, the pair (both ends, wherever the peer is) and, given a control connection, tor's
   * listeners on the device address. Safe to call when the device is partly or not at all there.
   */
  async down(options: { readonly tor?: TorControlClient } = {}): Promise<void> {
    // Every step is tried even when an earlier one failed; the first failure is reported afterwards.
    const failures: unknown[] = [];
    const attempt = async (step: () => Promise<unknown>): Promise<void> => {
      await step().catch((error: unknown) => failures.push(error));
    };
    await attempt(() => runCommand('nft', ['-f', '-'], { input: buildOnionRulesetRemoval(this.tableName) }));
    await attempt(async () => {
      if (await this.linkExists()) await runCommand('ip', ['link', 'delete', this.interfaceName]);
    });
    const tor = options.tor;
    if (tor) await attempt(() => closeDeviceListeners(tor, this.hostAddress));
    if (failures.length > 0) throw failures[0];
  }

  /** What the kernel has: the link, its address, the rules' tor ports and the drop counters. */
  async status(): Promise<OnionDeviceStatus> {
    const linkUp = await this.linkExists();
    const listings: string[] = [];
    for (const family of ['netdev', 'ip']) {
      try {
        listings.push((await runCommand('nft', ['-j', 'list', 'table', family, this.tableName])).stdout);
      } catch (error) {
        if (!(error instanceof OnionDeviceError) || error.code !== 'ONION_DEVICE_COMMAND_FAILED') throw error;
      }
    }
    const reading = readRulesetListing(this.tableName, listings);
    const rulesPresent = listings.length === 2;
    return {
      state: linkUp && rulesPresent ? 'up' : !linkUp && listings.length === 0 ? 'down' : 'partial',
      interfaceName: this.interfaceName,
      tableName: this.tableName,
      subnet: this.subnet,
      hostAddress: this.hostAddress,
      peerAddress: this.peerAddress,
      ...(reading.transPort === undefined ? {} : { transPort: reading.transPort }),
      ...(reading.dnsPort === undefined ? {} : { dnsPort: reading.dnsPort }),
      dropped: {
        ipv6: reading.dropped.ipv6 ?? NO_PACKETS,
        nonIp: reading.dropped.nonIp ?? NO_PACKETS,
        spoofed: reading.dropped.spoofed ?? NO_PACKETS,
        udp: reading.dropped.udp ?? NO_PACKETS,
        icmp: reading.dropped.icmp ?? NO_PACKETS,
        otherIp: reading.dropped.otherIp ?? NO_PACKETS,
      },
    };
  }

  private async linkExists(): Promise<boolean> {
    return exists(`/sys/class/net/${this.interfaceName}`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
