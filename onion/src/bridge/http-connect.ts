import { isIP } from 'node:net';
import type { SocksDestination } from './socks5-protocol.js';

export const MAX_HTTP_HEAD_BYTES = 16 * 1024;

export interface HttpConnectRequest {
  readonly destination: SocksDestination;
  /** From `Proxy-Authorization: Basic …`, used only to select a circuit set. */
  readonly username?: string;
  readonly password?: string;
}

/** A request the bridge answers with an HTTP error instead of forwarding. */
export class HttpConnectRejected extends Error {
  override readonly name = 'HttpConnectRejected';

  constructor(
    readonly status: 400 | 405 | 408 | 431,
    message: string,
  ) {
    super(message);
  }
}

/** Parses the head of an HTTP/1.x CONNECT request (RFC 9110 §9.3.6): `CONNECT host:port HTTP/1.1`. */
export function parseHttpConnect(head: string): HttpConnectRequest {
  const [requestLine = '', ...headerLines] = head.replace(/\r\n\r\n$/, '').split('\r\n');
  const match = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/1\.[01]$/.exec(requestLine);
  if (!match) throw new HttpConnectRejected(400, 'the request line is not "METHOD target HTTP/1.x"');
  if (match[1] !== 'CONNECT') {
    throw new HttpConnectRejected(
      405,
      `${match[1] ?? ''} is not supported: this proxy only tunnels with CONNECT`,
    );
  }
  const destination = parseAuthority(match[2] as string);

  let credentials: { username: string; password: string } | undefined;
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon <= 0)
      throw new HttpConnectRejected(400, `malformed header line ${JSON.stringify(line.slice(0, 80))}`);
    if (line.slice(0, colon).trim().toLowerCase() !== 'proxy-authorization') continue;
    const basic = /^Basic\s+([A-Za-z0-9+/]+=*)$/i.exec(line.slice(colon + 1).trim());
    if (!basic) continue;
    const decoded = Buffer.from(basic[1] as string, 'base64').toString('utf8');
    const separator = decoded.indexOf(':');
    credentials =
      separator === -1
        ? { username: decoded, password: '' }
        : { username: decoded.slice(0, separator), password: decoded.slice(separator + 1) };
  }
  return { destination, ...credentials };
}

/** `host:port` or `[ipv6]:port` (authority-form). */
function parseAuthority(target: string): SocksDestination {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:/@[\]]+)):([0-9]{1,5})$/.exec(target);
  const port = Number(match?.[3]);
  if (!match || port < 1 || port > 65535) {
    throw new HttpConnectRejected(
      400,
      `CONNECT target ${JSON.stringify(target.slice(0, 300))} is not host:port`,
    );
  }
  // The pattern matched, so exactly one of the two host groups is set.
  const host = match[1] ?? match[2] ?? '';
  if (match[1] !== undefined && isIP(host) !== 6) {
    throw new HttpConnectRejected(400, `[${host}] is not an IPv6 address`);
  }
  if (Buffer.byteLength(host) > 255)
    throw new HttpConnectRejected(400, 'the host name is longer than 255 bytes');
  return { host, port };
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  502: 'Bad Gateway',
};

/**
 * An HTTP error response that closes the connection. `proxyStatus` is the RFC 9209 error type, so
 * programs can tell a refused connection from a missing onion service without parsing the text.
 */
export function formatHttpError(status: number, reason: string, proxyStatus?: string): string {
  const body = `${reason}\n`;
  const headers = [
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}`,
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
  ];
  if (status === 405) headers.push('Allow: CONNECT');
  if (proxyStatus) {
    headers.push(
      `Proxy-Status: multiverse-bridge; error=${proxyStatus}; details=${structuredString(reason)}`,
    );
  }
  return `${headers.join('\r\n')}\r\n\r\n${body}`;
}

/** An RFC 8941 sf-string: printable ASCII only, with backslash and quote escaped. */
function structuredString(text: string): string {
  return `"${text.replace(/[^\x20-\x7e]/g, '?').replace(/[\\"]/g, (char) => `\\${char}`)}"`;
}

export const HTTP_CONNECT_ESTABLISHED = 'HTTP/1.1 200 Connection established\r\n\r\n';
