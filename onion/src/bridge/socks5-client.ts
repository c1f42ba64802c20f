import { createConnection, type Socket } from 'node:net';
import { Socks5Error } from './socks5-error.js';
import {
  ADDRESS_DOMAIN,
  ADDRESS_IPV4,
  ADDRESS_IPV6,
  AUTH_NONE,
  AUTH_USERNAME_PASSWORD,
  COMMAND_CONNECT,
  SOCKS_REPLY,
  SOCKS_VERSION,
  USERNAME_PASSWORD_VERSION,
  encodeDestination,
  type SocksDestination,
} from './socks5-protocol.js';
import { HandshakeReadError, HandshakeReader } from './stream-reader.js';

/** A SOCKS5 proxy: TCP, or a unix socket (tor's `SocksPort unix:…`, or the bridge itself). */
export type SocksProxyEndpoint = { readonly host: string; readonly port: number } | { readonly path: string };

export interface Socks5ConnectOptions {
  /** RFC 1929 credentials; tor isolates streams by them (IsolateSOCKSAuth). */
  readonly username?: string;
  readonly password?: string;
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 120_000;

/**
 * Runs the client side of a SOCKS5 CONNECT (RFC 1928, RFC 1929) on an open socket. On success the socket
 * carries the destination's bytes; a failure reply rejects with SOCKS5_REPLY and its code.
 */
export async function socks5Handshake(
  socket: Socket,
  destination: SocksDestination,
  options: Socks5ConnectOptions = {},
): Promise<void> {
  const where = `${destination.host}:${destination.port}`;
  validateRequest(destination, options);
  const reader = new HandshakeReader(
    socket,
    options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    `SOCKS5 handshake for ${where}`,
  );
  try {
    const useAuth = options.username !== undefined || options.password !== undefined;
    socket.write(Buffer.from([SOCKS_VERSION, 1, useAuth ? AUTH_USERNAME_PASSWORD : AUTH_NONE]));
    const [version, method] = await reader.readExactly(2);
    if (version !== SOCKS_VERSION)
      throw protocolError(`the proxy answered with version ${version}, not SOCKS5`);
    if (method !== (useAuth ? AUTH_USERNAME_PASSWORD : AUTH_NONE)) {
      throw new Socks5Error(
        'SOCKS5_AUTH_REJECTED',
        `the proxy accepts none of our authentication methods (it chose 0x${(method ?? 0).toString(16)})`,
      );
    }
    if (useAuth) {
      const username = Buffer.from(options.username ?? '', 'utf8');
      const password = Buffer.from(options.password ?? '', 'utf8');
      socket.write(
        Buffer.concat([
          Buffer.from([USERNAME_PASSWORD_VERSION, username.length]),
          username,
          Buffer.from([password.length]),
          password,
        ]),
      );
      const [, status] = await reader.readExactly(2);
      if (status !== 0)
        throw new Socks5Error('SOCKS5_AUTH_REJECTED', 'the proxy rejected our username/password');
    }

    socket.write(
      Buffer.concat([Buffer.from([SOCKS_VERSION, COMMAND_CONNECT, 0]), encodeDestination(destination)]),
    );
    const [replyVersion, reply, , addressType] = await reader.readExactly(4);
    if (replyVersion !== SOCKS_VERSION) throw protocolError(`the proxy's reply has version ${replyVersion}`);
    if (reply !== SOCKS_REPLY.succeeded) throw Socks5Error.fromReply(reply ?? 0xff, where);
    let addressLength: number;
    if (addressType === ADDRESS_IPV4) addressLength = 4;
    else if (addressType === ADDRESS_IPV6) addressLength = 16;
    else if (addressType === ADDRESS_DOMAIN) addressLength = (await reader.readExactly(1))[0] as number;
    else throw protocolError(`the proxy's reply has address type ${addressType}`);
    await reader.readExactly(addressLength + 2);
  } catch (error) {
    throw asSocksError(error);
  }
}

/** Opens a connection through a SOCKS5 proxy; resolves with the socket once the destination is connected. */
export function connectThroughSocks5(
  proxy: SocksProxyEndpoint,
  destination: SocksDestination,
  options: Socks5ConnectOptions = {},
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = 'path' in proxy ? createConnection({ path: proxy.path }) : createConnection(proxy);
    const proxyName = 'path' in proxy ? proxy.path : `${proxy.host}:${proxy.port}`;
    const onError = (error: Error): void => {
      reject(
        new Socks5Error('SOCKS5_CLOSED', `cannot reach the SOCKS5 proxy at ${proxyName}: ${error.message}`),
      );
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      // Errors after connect are reported by the handshake; this keeps them from being unhandled.
      socket.on('error', () => undefined);
      socks5Handshake(socket, destination, options).then(
        () => {
          socket.removeAllListeners('error');
          resolve(socket);
        },
        (error: unknown) => {
          socket.destroy();
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  });
}

function validateRequest(destination: SocksDestination, options: Socks5ConnectOptions): void {
  if (!Number.isInteger(destination.port) || destination.port < 1 || destination.port > 65535) {
    throw new Socks5Error(
      'SOCKS5_INVALID_REQUEST',
      `destination port must be 1..65535, got ${destination.port}`,
    );
  }
  const hostBytes = Buffer.byteLength(destination.host, 'utf8');
  if (hostBytes === 0 || hostBytes > 255) {
    throw new Socks5Error('SOCKS5_INVALID_REQUEST', 'a SOCKS5 host name must be 1..255 bytes');
  }
  for (const [name, value] of [
    ['username', options.username],
    ['password', options.password],
  ] as const) {
    if (value !== undefined && Buffer.byteLength(value, 'utf8') > 255) {
      throw new Socks5Error('SOCKS5_INVALID_REQUEST', `a SOCKS5 ${name} must be at most 255 bytes`);
    }
  }
}

function protocolError(message: string): Socks5Error {
  return new Socks5Error('SOCKS5_PROTOCOL', message);
}

function asSocksError(error: unknown): Error {
  if (error instanceof HandshakeReadError) {
    return new Socks5Error(
      error.reason === 'timeout' ? 'SOCKS5_TIMEOUT' : 'SOCKS5_CLOSED',
      error.message,
      undefined,
      {
        cause: error,
      },
    );
  }
  return error as Error;
}
