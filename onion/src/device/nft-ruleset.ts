import { z } from 'zod';

/** What the device's nftables tables are built from. */
export interface OnionRulesetPlan {
  readonly tableName: string;
  readonly interfaceName: string;
  readonly hostAddress: string;
  readonly peerAddress: string;
  readonly transPort: number;
  readonly dnsPort: number;
}

/** Counters the device keeps, one per reason a packet from the device is dropped. */
export const DROP_COUNTERS = {
  /** Every IPv6 frame (also when the peer turns IPv6 back on), counted before the IP stack sees it. */
  ipv6: { family: 'netdev', name: 'dropped_ipv6' },
  /** Frames that are neither IPv4, IPv6 nor ARP. */
  nonIp: { family: 'netdev', name: 'dropped_non_ip' },
  /** IPv4 whose source is not the peer address (spoofed, e.g. to make the host reflect packets elsewhere). */
  spoofed: { family: 'ip', name: 'dropped_spoofed' },
  /** UDP other than DNS. */
  udp: { family: 'ip', name: 'dropped_udp' },
  icmp: { family: 'ip', name: 'dropped_icmp' },
  /** Other IPv4 protocols, invalid connection state, and anything that would be forwarded. */
  otherIp: { family: 'ip', name: 'dropped_other_ip' },
} as const;

export type DropCounterName = keyof typeof DROP_COUNTERS;

/** Rule comments that mark the two redirects, so status() can read the tor ports back. */
export const REDIRECT_COMMENTS = { trans: 'tor-trans', dns: 'tor-dns' } as const;

/**
 * The device's nftables tables as one `nft -f` transaction. Each table is declared, deleted and declared
 * again, so leftovers of a crashed run are replaced in the same atomic step as the new rules go in.
 *
 * Two tables, because no one family sees everything: a netdev table on the interface's ingress sees every
 * frame (IPv6 too, before the IPv6 stack drops it unseen on an interface where IPv6 is disabled), and an ip
 * table does the redirects. Filtering happens in prerouting, before routing: with forwarding off, a packet
 * for another host would be discarded by the routing code without ever reaching a forward hook to count it.
 */
export function buildOnionRuleset(plan: OnionRulesetPlan): string {
  const table = plan.tableName;
  const device = quote(plan.interfaceName);
  const counter = (name: DropCounterName): string => `counter name ${quote(DROP_COUNTERS[name].name)}`;
  const counterDeclarations = (family: 'netdev' | 'ip'): string[] =>
    Object.values(DROP_COUNTERS)
      .filter((entry) => entry.family === family)
      .map((entry) => `  counter ${entry.name} { }`);
  return [
    `table netdev ${table}`,
    `delete table netdev ${table}`,
    `table netdev ${table} {`,
    ...counterDeclarations('netdev'),
    '  chain ingress {',
    `    type filter hook ingress device ${device} priority -500; policy accept;`,
    '    meta protocol ip accept',
    '    meta protocol arp accept',
    `    meta protocol ip6 ${counter('ipv6')} drop`,
    `    ${counter('nonIp')} drop`,
    '  }',
    '}',
    `table ip ${table}`,
    `delete table ip ${table}`,
    `table ip ${table} {`,
    ...counterDeclarations('ip'),
    '  chain classify {',
    '    type filter hook prerouting priority -150; policy accept;',
    `    iifname != ${device} accept`,
    `    ip saddr != ${plan.peerAddress} ${counter('spoofed')} drop`,
    `    ct state invalid ${counter('otherIp')} drop`,
    '    meta l4proto tcp accept',
    '    udp dport 53 accept',
    `    meta l4proto udp ${counter('udp')} drop`,
    `    meta l4proto icmp ${counter('icmp')} drop`,
    `    ${counter('otherIp')} drop`,
    '  }',
    '  chain to_tor {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    `    iifname ${device} udp dport 53 redirect to :${plan.dnsPort} comment ${quote(REDIRECT_COMMENTS.dns)}`,
    `    iifname ${device} meta l4proto tcp redirect to :${plan.transPort} comment ${quote(REDIRECT_COMMENTS.trans)}`,
    '  }',
    '  chain host_input {',
    '    type filter hook input priority filter; policy accept;',
    `    iifname != ${device} accept`,
    `    ip daddr ${plan.hostAddress} tcp dport ${plan.transPort} accept`,
    `    ip daddr ${plan.hostAddress} udp dport ${plan.dnsPort} accept`,
    `    ${counter('otherIp')} drop`,
    '  }',
    '  chain no_forward {',
    '    type filter hook forward priority filter; policy accept;',
    `    iifname ${device} ${counter('otherIp')} drop`,
    `    oifname ${device} ${counter('otherIp')} drop`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Removes both tables; the leading declarations make it succeed when a table is already gone. */
export function buildOnionRulesetRemoval(tableName: string): string {
  const table = tableName;
  return [
    `table netdev ${table}`,
    `delete table netdev ${table}`,
    `table ip ${table}`,
    `delete table ip ${table}`,
    '',
  ].join('\n');
}

/**
 * Strings in rules (interface names, comments) are quoted. Table and counter names cannot be (nft 1.0.6 wants a
 * bare identifier): they are built from validated names with a prefix that no nft keyword has.
 */
function quote(name: string): string {
  return `"${name}"`;
}

const NftCounter = z.object({
  counter: z.object({
    family: z.string(),
    name: z.string(),
    table: z.string(),
    packets: z.number(),
    bytes: z.number(),
  }),
});
const NftRule = z.object({
  rule: z.object({
    family: z.string(),
    table: z.string(),
    chain: z.string(),
    comment: z.string().optional(),
    expr: z.array(z.record(z.string(), z.unknown())),
  }),
});
const NftListing = z.object({ nftables: z.array(z.record(z.string(), z.unknown())) });

export interface PacketCount {
  readonly packets: number;
  readonly bytes: number;
}

export interface RulesetReading {
  readonly dropped: Partial<Record<DropCounterName, PacketCount>>;
  readonly transPort?: number;
  readonly dnsPort?: number;
}

/** Reads the counters and the redirect ports out of `nft -j list table …` output (one or more listings). */
export function readRulesetListing(tableName: string, listings: readonly string[]): RulesetReading {
  const dropped: Partial<Record<DropCounterName, PacketCount>> = {};
  let transPort: number | undefined;
  let dnsPort: number | undefined;
  for (const listing of listings) {
    for (const item of NftListing.parse(JSON.parse(listing)).nftables) {
      const counter = NftCounter.safeParse(item);
      if (counter.success && counter.data.counter.table === tableName) {
        const { family, name, packets, bytes } = counter.data.counter;
        for (const [key, entry] of Object.entries(DROP_COUNTERS) as Array<
          [DropCounterName, (typeof DROP_COUNTERS)[DropCounterName]]
        >) {
          if (entry.family === family && entry.name === name) dropped[key] = { packets, bytes };
        }
        continue;
      }
      const rule = NftRule.safeParse(item);
      if (!rule.success || rule.data.rule.table !== tableName) continue;
      const port = redirectPort(rule.data.rule.expr);
      if (rule.data.rule.comment === REDIRECT_COMMENTS.trans) transPort = port;
      if (rule.data.rule.comment === REDIRECT_COMMENTS.dns) dnsPort = port;
    }
  }
  return {
    dropped,
    ...(transPort === undefined ? {} : { transPort }),
    ...(dnsPort === undefined ? {} : { dnsPort }),
  };
}

const RedirectStatement = z.object({ redirect: z.object({ port: z.number().int() }) });

function redirectPort(expressions: ReadonlyArray<Record<string, unknown>>): number | undefined {
  for (const expression of expressions) {
    const parsed = RedirectStatement.safeParse(expression);
    if (parsed.success) return parsed.data.redirect.port;
  }
  return undefined;
}
