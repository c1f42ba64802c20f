import { isIP } from 'node:net';

/** RFC 1928 constants the bridge uses (CONNECT only). */
export const SOCKS_VERSION = 0x05;
export const AUTH_NONE = 0x00;
export const AUTH_USERNAME_PASSWORD = 0x02;
export const AUTH_NO_ACCEPTABLE = 0xff;
export const USERNAME_PASSWORD_VERSION = 0x01;
export const COMMAND_CONNECT = 0x01;
export const ADDRESS_IPV4 = 0x01;
export const ADDRESS_DOMAIN = 0x03;
export const ADDRESS_IPV6 = 0x04;

/** SOCKS5 reply codes: RFC 1928's, then tor's ExtendedErrors for onion services (tor's socks-extensions). */
export const SOCKS_REPLY = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
  onionDescriptorNotFound: 0xf0,
  onionDescriptorInvalid: 0xf1,
  onionIntroductionFailed: 0xf2,
  onionRendezvousFailed: 0xf3,
  onionMissingClientAuth: 0xf4,
  onionWrongClientAuth: 0xf5,
  onionInvalidAddress: 0xf6,
  onionIntroductionTimedOut: 0xf7,
} as const;

const REPLY_MEANINGS: Readonly<Record<number, string>> = {
  0x01: 'general failure',
  0x02: 'connection not allowed by ruleset (exit policy)',
  0x03: 'network unreachable',
  0x04: 'host unreachable (for a fresh onion service: not yet published, retry)',
  0x05: 'connection refused by the destination',
  0x06: 'timed out (TTL expired)',
  0x07: 'command not supported',
  0x08: 'address type not supported',
  0xf0: 'onion service descriptor not found (not published yet, or offline)',
  0xf1: 'onion service descriptor is invalid',
  0xf2: 'onion service introduction failed',
  0xf3: 'onion service rendezvous failed',
  0xf4: 'onion service requires client authorization and none is configured',
  0xf5: 'onion service rejected our client authorization',
  0xf6: 'invalid onion address',
  0xf7: 'onion service introduction timed out',
};

export function describeSocksReply(code: number): string {
  return REPLY_MEANINGS[code] ?? `unknown SOCKS reply 0x${code.toString(16).padStart(2, '0')}`;
}

/** A destination as SOCKS carries it: a domain name (including .onion) or an IP literal. */
export interface SocksDestination {
  readonly host: string;
  readonly port: number;
}

/** Encodes ATYP + DST.ADDR + DST.PORT. Host names go as names, so tor resolves them (and .onion works). */
export function encodeDestination(destination: SocksDestination): Buffer {
  const port = Buffer.alloc(2);
  port.writeUInt16BE(destination.port);
  const family = isIP(destination.host);
  if (family === 4) {
    return Buffer.concat([Buffer.from([ADDRESS_IPV4, ...destination.host.split('.').map(Number)]), port]);
  }
  if (family === 6) return Buffer.concat([Buffer.from([ADDRESS_IPV6]), encodeIpv6(destination.host), port]);
  const name = Buffer.from(destination.host, 'utf8');
  return Buffer.concat([Buffer.from([ADDRESS_DOMAIN, name.length]), name, port]);
}

export function encodeIpv6(address: string): Buffer {
  const [head = '', tail] = address.split('::') as [string, string | undefined];
  const parse = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const headGroups = parse(head);
  const tailGroups = tail === undefined ? [] : parse(tail);
  const expandDotted = (groups: string[]): string[] => {
    const last = groups[groups.length - 1];
    if (last === undefined || !last.includes('.')) return groups;
    const [a = 0, b = 0, c = 0, d = 0] = last.split('.').map(Number);
    return [...groups.slice(0, -1), ((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
  };
  const first = expandDotted(headGroups);
  const second = expandDotted(tailGroups);
  const zeros = tail === undefined ? [] : new Array<string>(8 - first.length - second.length).fill('0');
  const groups = [...first, ...zeros, ...second];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, index) => bytes.writeUInt16BE(parseInt(group, 16), index * 2));
  return bytes;
}

export function formatIpv6(bytes: Buffer): string {
  const groups: string[] = [];
  for (let offset = 0; offset < 16; offset += 2) groups.push(bytes.readUInt16BE(offset).toString(16));
  return groups.join(':');
}
