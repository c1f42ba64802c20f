// Networks: the handle, its wire form `remote_nonnull_network`, and the network procedures' messages.
import {
  array,
  hyper,
  int,
  intBoolean,
  none,
  optionalString,
  remoteProcedure,
  string,
  struct,
  uint,
  uuid,
} from './codec.js';
import type { Codec } from './codec.js';
import { Procedure } from './procedures.js';
import { requireName, requireRecord, requireUuid } from './validate.js';

export interface Network {
  readonly name: string;
  readonly uuid: string;
}

/** `remote_nonnull_network`. */
export const network: Codec<Network> = struct({ name: string, uuid });

/** `REMOTE_NETWORK_LIST_MAX`. */
export const NETWORK_LIST_MAX = 16384;
/** `REMOTE_NETWORK_DHCP_LEASES_MAX`. */
export const DHCP_LEASES_MAX = 65536;

export function requireNetwork(value: unknown, what = 'network'): Network {
  const record = requireRecord(value, what);
  return {
    name: requireName(record['name'], `${what}.name`),
    uuid: requireUuid(record['uuid'], `${what}.uuid`),
  };
}

export interface DhcpLease {
  /** The network's bridge, e.g. 'virbr0'. */
  readonly iface: string;
  /** When the lease ends, in seconds since the epoch. */
  readonly expiryTime: bigint;
  /** An IPAddrType value: IPV4 or IPV6. */
  readonly type: number;
  readonly mac: string | null;
  /** IAID of a DHCPv6 lease. */
  readonly iaid: string | null;
  readonly ipAddress: string;
  readonly prefix: number;
  readonly hostname: string | null;
  readonly clientId: string | null;
}

/** `remote_network_dhcp_lease`. */
export const dhcpLease = struct({
  iface: string,
  expiryTime: hyper,
  type: int,
  mac: optionalString,
  iaid: optionalString,
  ipAddress: string,
  prefix: uint,
  hostname: optionalString,
  clientId: optionalString,
}) satisfies Codec<DhcpLease>;

export const NetworkProcedures = {
  lookupByName: remoteProcedure(Procedure.NETWORK_LOOKUP_BY_NAME, string, network),
  defineXml: remoteProcedure(Procedure.NETWORK_DEFINE_XML, string, network),
  create: remoteProcedure(Procedure.NETWORK_CREATE, network, none),
  destroy: remoteProcedure(Procedure.NETWORK_DESTROY, network, none),
  undefine: remoteProcedure(Procedure.NETWORK_UNDEFINE, network, none),
  isActive: remoteProcedure(Procedure.NETWORK_IS_ACTIVE, network, intBoolean),
  getXmlDesc: remoteProcedure(Procedure.NETWORK_GET_XML_DESC, struct({ network, flags: uint }), string),
  listAll: remoteProcedure(
    Procedure.CONNECT_LIST_ALL_NETWORKS,
    struct({ needResults: intBoolean, flags: uint }),
    struct({ networks: array(network, NETWORK_LIST_MAX), count: uint }),
  ),
  getDhcpLeases: remoteProcedure(
    Procedure.NETWORK_GET_DHCP_LEASES,
    struct({ network, mac: optionalString, needResults: intBoolean, flags: uint }),
    struct({ leases: array(dhcpLease, DHCP_LEASES_MAX), count: uint }),
  ),
};
