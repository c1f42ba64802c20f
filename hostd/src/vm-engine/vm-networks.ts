import { ErrorNumber, LibvirtError } from '@multiverse/libvirt-ts';
import type { LibvirtClient, Network } from '@multiverse/libvirt-ts';
import type { DropCounterName, PacketCount } from '@multiverse/onion';
import type { InterfacePurpose, VmTemplate } from '@multiverse/vm-templates';
import { ONION_ROUTER, element, renderXml } from '@multiverse/vm-templates';
import { libvirtFailure } from '../service/libvirt-access.js';

/** The NAT network router VMs reach the outside through; nothing but routers is ever attached to it. */
export const UPLINK_NETWORK = 'mv-uplink';
const UPLINK_ADDRESS = {
  gateway: '10.213.0.1',
  netmask: '255.255.255.0',
  first: '10.213.0.100',
  last: '10.213.0.199',
};

/**
 * The links of VMs behind the onion device ("router: onion"): made with their torifying rules before the VM
 * starts (the TAP device libvirt attaches to with managed='no'), removed after it stops. hostd's HostOnionVmLinks.
 */
export interface OnionLinks {
  up(vm: string): Promise<{ readonly tap: string; readonly address: string; readonly gateway: string }>;
  down(vm: string): Promise<void>;
  status(vm: string): Promise<OnionLinkStatus | null>;
}

/** What `vm info` shows of a VM's onion link. */
export interface OnionLinkStatus {
  readonly state: 'up' | 'down' | 'partial';
  readonly interfaceName: string;
  readonly hostAddress: string;
  readonly peerAddress: string;
  readonly transPort?: number;
  readonly dnsPort?: number;
  readonly dropped: Readonly<Record<DropCounterName, PacketCount>>;
}

export interface NetworkAttachment {
  readonly purpose: InterfacePurpose;
  readonly network: string;
}

/** The network behind router `router`: an L2 segment shared only by the router and the VMs behind it. */
export function insideNetworkOf(router: string): string {
  return `mv-in-${router}`;
}

/**
 * Where a VM's interfaces go. A router has an upstream on the uplink and an inside network of its own; a VM
 * behind a router has one interface, on that router's inside network, whether or not the router exists yet
 * (with no router, the segment leads nowhere: the kill switch holds by construction); offline VMs have none.
 */
export function networkAttachments(name: string, template: VmTemplate): NetworkAttachment[] {
  if (template.role === 'router') {
    return [
      { purpose: 'upstream', network: UPLINK_NETWORK },
      { purpose: 'inside', network: insideNetworkOf(name) },
    ];
  }
  // Behind the onion device: no libvirt network at all, a link of its own made at each start (OnionLinks).
  if (template.router === ONION_ROUTER) return [];
  if (template.router !== null) return [{ purpose: 'upstream', network: insideNetworkOf(template.router) }];
  return [];
}

function networkXml(name: string): string {
  if (name === UPLINK_NETWORK) {
    return renderXml(
      element(
        'network',
        {},
        element('name', {}, name),
        element('forward', { mode: 'nat' }),
        element(
          'ip',
          { address: UPLINK_ADDRESS.gateway, netmask: UPLINK_ADDRESS.netmask },
          element('dhcp', {}, element('range', { start: UPLINK_ADDRESS.first, end: UPLINK_ADDRESS.last })),
        ),
      ),
    );
  }
  // No <forward> and no <ip>: an isolated bridge on which the host itself has no address, so a VM on it can
  // reach its router and nothing else — not the host, not another router's segment.
  return renderXml(
    element('network', {}, element('name', {}, name), element('bridge', { stp: 'on', delay: '0' })),
  );
}

async function lookupNetwork(client: LibvirtClient, name: string): Promise<Network | undefined> {
  try {
    return await client.networkLookupByName(name);
  } catch (error) {
    if (error instanceof LibvirtError && error.code === ErrorNumber.ERR_NO_NETWORK) return undefined;
    throw libvirtFailure(`looking up network ${name}`, error);
  }
}

/** Defines and starts the networks a VM's interfaces need; those already there are left as they are. */
export async function ensureNetworks(
  client: LibvirtClient,
  attachments: readonly NetworkAttachment[],
): Promise<void> {
  for (const { network: name } of attachments) {
    try {
      const network =
        (await lookupNetwork(client, name)) ?? (await client.networkDefineXml(networkXml(name)));
      if (!(await client.networkIsActive(network))) await client.networkCreate(network);
    } catch (error) {
      throw libvirtFailure(`preparing network ${name}`, error);
    }
  }
}
