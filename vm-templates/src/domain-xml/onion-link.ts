import { closedObject, parsedString } from '../templates/schema-fields.js';

/**
 * A VM behind the onion device: its own point-to-point TAP link on the host (hostd makes it, with the
 * torifying rules, before the VM starts) and the IPv4 settings the guest gives its first NIC.
 */
export interface VmOnionLink {
  /** The host's TAP device QEMU attaches the NIC to (libvirt `managed='no'`: it must already exist). */
  readonly tap: string;
  readonly mac: string;
  /** The guest's address with its prefix length, e.g. 10.154.0.2/30. */
  readonly address: string;
  /** The host side of the link: default route and nameserver (tor's DNSPort listens there). */
  readonly gateway: string;
}

const IPV4_OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${IPV4_OCTET}(\\.${IPV4_OCTET}){3}$`);
/** Smallest link network: a /30 holds the host side and the guest. Larger ones are allowed, not needed. */
const MIN_PREFIX = 8;
const MAX_PREFIX = 30;

function ipv4Value(address: string): number {
  return address.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
}

/** The network and broadcast addresses of `address/prefix`, as numbers. */
function linkNetwork(address: string, prefix: number): { first: number; last: number } {
  const size = 2 ** (32 - prefix);
  const first = Math.floor(ipv4Value(address) / size) * size;
  return { first, last: first + size - 1 };
}

export const onionLinkSchema = closedObject(
  {
    tap: parsedString('a Linux interface name: 1 to 15 of a-z, 0-9 and _, starting with a letter', (text) =>
      /^[a-z][a-z0-9_]{0,14}$/.test(text) ? text : undefined,
    ),
    mac: parsedString('a unicast MAC address in lowercase, such as 52:54:00:12:34:56', (text) =>
      /^[0-9a-f][02468ace](:[0-9a-f]{2}){5}$/.test(text) && text !== '00:00:00:00:00:00' ? text : undefined,
    ),
    address: parsedString(
      `an IPv4 host address with a prefix length from ${MIN_PREFIX} to ${MAX_PREFIX}, such as 10.154.0.2/30 (not the network's first or last address)`,
      (text) => {
        const [address, prefixText, ...rest] = text.split('/');
        if (address === undefined || !IPV4.test(address) || rest.length > 0) return undefined;
        if (prefixText === undefined || !/^[0-9]{1,2}$/.test(prefixText)) return undefined;
        const prefix = Number(prefixText);
        if (prefix < MIN_PREFIX || prefix > MAX_PREFIX) return undefined;
        const { first, last } = linkNetwork(address, prefix);
        const value = ipv4Value(address);
        return value === first || value === last ? undefined : text;
      },
    ),
    gateway: parsedString('an IPv4 address such as 10.154.0.1', (text) =>
      IPV4.test(text) ? text : undefined,
    ),
  },
  "a mapping of the VM's onion link (tap, mac, address, gateway)",
);

/** What is wrong with a link whose fields are each valid: the gateway must be another host on its network. */
export function onionLinkProblem(link: VmOnionLink): string | undefined {
  const [address = '', prefixText = ''] = link.address.split('/');
  const { first, last } = linkNetwork(address, Number(prefixText));
  const gateway = ipv4Value(link.gateway);
  if (gateway === ipv4Value(address)) return 'the gateway must be the host side, not the guest address';
  if (gateway <= first || gateway >= last)
    return `the gateway ${link.gateway} is not a host on ${link.address}`;
  return undefined;
}
