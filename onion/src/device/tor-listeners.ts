import { parseReplyArguments } from '../control/arguments.js';
import type { TorControlClient, TorConfigValue } from '../control/client.js';
import { networkContains } from './device-config.js';
import { OnionDeviceError } from './errors.js';

export interface DeviceTorListeners {
  readonly transPort: number;
  readonly dnsPort: number;
  /** tor's VirtualAddrNetworkIPv4 after the change: the range .onion names resolve into. */
  readonly virtualAddressNetwork: string;
}

/**
 * Adds a TransPort and a DNSPort on the device's host address to tor's running configuration (keeping every
 * other listener), turns on AutomapHostsOnResolve so .onion names resolve to virtual addresses, and moves
 * the virtual range off loopback if needed. Resolves with the ports tor actually bound.
 */
export async function openDeviceListeners(
  tor: TorControlClient,
  request: {
    readonly hostAddress: string;
    readonly transPort: number | 'auto';
    readonly dnsPort: number | 'auto';
    readonly virtualAddressNetwork: string;
  },
): Promise<DeviceTorListeners> {
  const current = await readListenerConfig(tor);
  const virtualNetwork = current.virtualNetwork ?? '127.192.0.0/10';
  const virtualAddressNetwork = networkContains('127.0.0.0/8', virtualNetwork.split('/')[0] ?? '')
    ? request.virtualAddressNetwork
    : virtualNetwork;
  const ours = (port: number | 'auto'): string => `${request.hostAddress}:${port}`;
  await applyConfig(tor, 'open the device listeners', {
    TransPort: [...withoutAddress(current.trans, request.hostAddress), ours(request.transPort)],
    DNSPort: [...withoutAddress(current.dns, request.hostAddress), ours(request.dnsPort)],
    AutomapHostsOnResolve: true,
    VirtualAddrNetworkIPv4: virtualAddressNetwork,
  });
  const listeners = await tor.getInfo(['net/listeners/trans', 'net/listeners/dns']);
  const boundPort = (key: string, kind: string): number => {
    const words = parseReplyArguments(listeners.get(key) ?? '').positional;
    const match = words.find((word) => word.startsWith(`${request.hostAddress}:`));
    if (match === undefined) {
      throw new OnionDeviceError(
        'ONION_DEVICE_TOR_REFUSED',
        `tor accepted the configuration but has no ${kind} listener on ${request.hostAddress} (${key}: ${listeners.get(key) ?? 'none'})`,
      );
    }
    return Number(match.slice(request.hostAddress.length + 1));
  };
  return {
    transPort: boundPort('net/listeners/trans', 'TransPort'),
    dnsPort: boundPort('net/listeners/dns', 'DNSPort'),
    virtualAddressNetwork,
  };
}

/** Removes the device's TransPort and DNSPort from tor's configuration; the other listeners stay. */
export async function closeDeviceListeners(tor: TorControlClient, hostAddress: string): Promise<void> {
  const current = await readListenerConfig(tor);
  const trans = withoutAddress(current.trans, hostAddress);
  const dns = withoutAddress(current.dns, hostAddress);
  if (trans.length === current.trans.length && dns.length === current.dns.length) return;
  await applyConfig(tor, 'close the device listeners', {
    TransPort: trans.length > 0 ? trans : null,
    DNSPort: dns.length > 0 ? dns : null,
  });
}

interface ListenerConfig {
  readonly trans: readonly string[];
  readonly dns: readonly string[];
  readonly virtualNetwork: string | undefined;
}

async function readListenerConfig(tor: TorControlClient): Promise<ListenerConfig> {
  const entries = await tor.getConf(['TransPort', 'DNSPort', 'VirtualAddrNetworkIPv4']);
  const values = (key: string): string[] =>
    entries
      .filter((entry) => entry.key.toLowerCase() === key.toLowerCase() && entry.value !== null)
      .map((entry) => entry.value as string);
  return {
    trans: values('TransPort'),
    dns: values('DNSPort'),
    virtualNetwork: values('VirtualAddrNetworkIPv4')[0],
  };
}

/** A listener line is "ADDRESS:PORT [flags]"; the device's are the ones on its host address. */
function withoutAddress(lines: readonly string[], hostAddress: string): string[] {
  return lines.filter((line) => !line.startsWith(`${hostAddress}:`));
}

async function applyConfig(
  tor: TorControlClient,
  what: string,
  settings: Readonly<Record<string, TorConfigValue>>,
): Promise<void> {
  try {
    await tor.setConf(settings);
  } catch (error) {
    throw new OnionDeviceError(
      'ONION_DEVICE_TOR_REFUSED',
      `tor refused to ${what}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}
