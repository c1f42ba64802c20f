import { z } from 'zod';
import { parseInput } from '../validation/parse-input.js';
import { OnionDeviceError } from './errors.js';

/** Where the device's two addresses come from unless the caller picks a subnet. */
export const DEFAULT_DEVICE_SUBNET = '10.153.0.0/30';
/**
 * The range tor hands out for names it maps (AutomapHostsOnResolve: every .onion name). tor's own default,
 * 127.192.0.0/10, is loopback: a process in another namespace would dial its own loopback and never reach
 * the device. 10.192.0.0/10 is what tor's manual suggests for TransPort setups; the device's default
 * subnet lies outside it.
 */
export const DEFAULT_VIRTUAL_ADDRESS_NETWORK = '10.192.0.0/10';

const IPV4 =
  /^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}$/;

/** A network name `ip netns` accepts and that is safe as a file name under /run/netns. */
const NamespaceName = z
  .string()
  .regex(
    /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/,
    'a namespace name is 1-64 of A-Z a-z 0-9 _ . - (not starting with . or -)',
  );

/** Linux interface names are at most 15 bytes; the device keeps one for its peer's "p" suffix. */
const InterfaceName = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,13}$/, 'an interface name is 1-14 of a-z 0-9 _, starting with a letter');

const Ipv4Cidr = z
  .string()
  .refine((value) => parseCidr(value) !== undefined, 'an IPv4 network like 10.153.0.0/30');

const TorPort = z.union([z.literal('auto'), z.number().int().min(1).max(65535)]);

export const OnionDeviceOptionsSchema = z
  .object({
    /** The host side's interface name (default onion0); the peer has the same name in its namespace. */
    name: InterfaceName.default('onion0'),
    /** A /30: the host side gets its first usable address, the peer the second. */
    subnet: Ipv4Cidr.refine(
      (value) => parseCidr(value)?.prefixLength === 30,
      'the subnet must be a /30',
    ).default(DEFAULT_DEVICE_SUBNET),
  })
  .strict();

export const OnionDeviceUpSchema = z
  .object({
    /**
     * veth (default): a pair whose peer end moves into `namespace` (or stays here as NAMEp). tap: a persistent
     * TAP device whose other end is a VM's NIC (QEMU attaches to it by name, libvirt `managed='no'`).
     */
    link: z.enum(['veth', 'tap']).default('veth'),
    /** The namespace the peer end moves into; without one it stays here unaddressed, for a bridge or a VM. */
    namespace: NamespaceName.optional(),
    /** Give the namespace a default route through the device (default true); else only the virtual range. */
    defaultRoute: z.boolean().default(true),
    /** tor's TransPort and DNSPort on the device address: a fixed port, or 'auto' (tor picks; the default). */
    transPort: TorPort.default('auto'),
    dnsPort: TorPort.default('auto'),
    /** VirtualAddrNetworkIPv4 when tor's current one is loopback (see DEFAULT_VIRTUAL_ADDRESS_NETWORK). */
    virtualAddressNetwork: Ipv4Cidr.default(DEFAULT_VIRTUAL_ADDRESS_NETWORK),
  })
  .strict()
  .refine((settings) => settings.link === 'veth' || settings.namespace === undefined, {
    message: 'a tap link has no peer end to move into a namespace: leave namespace out',
    path: ['namespace'],
  });

export type OnionDeviceOptions = z.input<typeof OnionDeviceOptionsSchema>;
export type OnionDeviceUpSettings = z.input<typeof OnionDeviceUpSchema>;

export interface Ipv4Network {
  readonly network: string;
  readonly prefixLength: number;
}

/** Parses `a.b.c.d/n`; undefined unless the address is the network's first (host bits zero). */
export function parseCidr(text: string): Ipv4Network | undefined {
  const [address, length, ...rest] = text.split('/');
  if (address === undefined || length === undefined || rest.length > 0 || !IPV4.test(address))
    return undefined;
  if (!/^[0-9]{1,2}$/.test(length)) return undefined;
  const prefixLength = Number(length);
  if (prefixLength > 32) return undefined;
  const hostBits = 32 - prefixLength;
  const value = ipv4ToNumber(address);
  if (hostBits > 0 && value % 2 ** hostBits !== 0) return undefined;
  return { network: address, prefixLength };
}

/** The two usable addresses of a /30: the host side's and the peer's. */
export function deviceAddresses(subnet: string): { hostAddress: string; peerAddress: string } {
  const parsed = parseCidr(subnet);
  if (parsed?.prefixLength !== 30) {
    throw new OnionDeviceError('ONION_DEVICE_INVALID_OPTIONS', `${subnet} is not an IPv4 /30 network`);
  }
  const base = ipv4ToNumber(parsed.network);
  return { hostAddress: numberToIpv4(base + 1), peerAddress: numberToIpv4(base + 2) };
}

/** True when `address` lies in the network `cidr`. */
export function networkContains(cidr: string, address: string): boolean {
  const parsed = parseCidr(cidr);
  if (!parsed || !IPV4.test(address)) return false;
  const size = 2 ** (32 - parsed.prefixLength);
  const start = ipv4ToNumber(parsed.network);
  const value = ipv4ToNumber(address);
  return value >= start && value < start + size;
}

/** True when two networks share any address. */
export function networksOverlap(first: string, second: string): boolean {
  const a = parseCidr(first);
  const b = parseCidr(second);
  if (!a || !b) return false;
  return networkContains(first, b.network) || networkContains(second, a.network);
}

function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
}

function numberToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/** Validates with `schema`, turning zod's report into ONION_DEVICE_INVALID_OPTIONS. */
export function parseDeviceOptions<Schema extends z.ZodType>(
  schema: Schema,
  input: unknown,
  what: string,
): z.output<Schema> {
  return parseInput(
    schema,
    input,
    '(options)',
    (problems) => new OnionDeviceError('ONION_DEVICE_INVALID_OPTIONS', `invalid ${what}: ${problems}`),
  );
}
