import type { Socket } from 'node:net';
import {
  ADDRESS_DOMAIN,
  ADDRESS_IPV4,
  ADDRESS_IPV6,
  AUTH_NO_ACCEPTABLE,
  AUTH_NONE,
  AUTH_USERNAME_PASSWORD,
  COMMAND_CONNECT,
  SOCKS_REPLY,
  SOCKS_VERSION,
  USERNAME_PASSWORD_VERSION,
  formatIpv6,
  type SocksDestination,
} from './socks5-protocol.js';
import type { HandshakeReader } from './stream-reader.js';

/** What a SOCKS5 client asked for. Credentials, if sent, only select a circuit set; they are not checked. */
export interface Socks5Request {
  readonly destination: SocksDestination;
  readonly username?: string;
  readonly password?: string;
}

/** Why the bridge refused a SOCKS5 request before forwarding it; the client has been sent `reply`. */
export class Socks5RequestRejected extends Error {
  override readonly name = 'Socks5RequestRejected';

  constructor(
    readonly reply: number | null,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The server side of a SOCKS5 handshake up to the CONNECT request (RFC 1928, RFC 1929 for the optional
 * username/password). The version byte has been read already. Unsupported requests are answered with the
 * RFC's reply code and rejected.
 */
export async function readSocks5Request(socket: Socket, reader: HandshakeReader): Promise<Socks5Request> {
  const [methodCount = 0] = await reader.readExactly(1);
  const methods = await reader.readExactly(methodCount);
  const method = methods.includes(AUTH_USERNAME_PASSWORD)
    ? AUTH_USERNAME_PASSWORD
    : methods.includes(AUTH_NONE)
      ? AUTH_NONE
      : AUTH_NO_ACCEPTABLE;
  socket.write(Buffer.from([SOCKS_VERSION, method]));
  if (method === AUTH_NO_ACCEPTABLE) {
    throw new Socks5RequestRejected(
      null,
      'the client offered neither "no authentication" nor username/password',
    );
  }

  let credentials: { username: string; password: string } | undefined;
  if (method === AUTH_USERNAME_PASSWORD) {
    const [version, usernameLength = 0] = await reader.readExactly(2);
    if (version !== USERNAME_PASSWORD_VERSION) {
      socket.write(Buffer.from([USERNAME_PASSWORD_VERSION, 1]));
      throw new Socks5RequestRejected(null, `username/password sub-negotiation version ${version} is not 1`);
    }
    const username = (await reader.readExactly(usernameLength)).toString('utf8');
    const [passwordLength = 0] = await reader.readExactly(1);
    const password = (await reader.readExactly(passwordLength)).toString('utf8');
    // Any credentials are accepted: who may connect is decided by the socket file's permissions.
    socket.write(Buffer.from([USERNAME_PASSWORD_VERSION, 0]));
    credentials = { username, password };
  }

  const [version, command, , addressType] = await reader.readExactly(4);
  if (version !== SOCKS_VERSION) throw new Socks5RequestRejected(null, `request version ${version} is not 5`);
  let host: string;
  if (addressType === ADDRESS_IPV4) {
    host = [...(await reader.readExactly(4))].join('.');
  } else if (addressType === ADDRESS_IPV6) {
    host = formatIpv6(await reader.readExactly(16));
  } else if (addressType === ADDRESS_DOMAIN) {
    const [length = 0] = await reader.readExactly(1);
    const name = await reader.readExactly(length);
    // Host names go to tor verbatim; anything but printable ASCII cannot be a valid name and is refused here.
    if (length === 0 || !name.every((byte) => byte > 0x20 && byte < 0x7f)) {
      reply(socket, SOCKS_REPLY.generalFailure);
      throw new Socks5RequestRejected(
        SOCKS_REPLY.generalFailure,
        'the host name is empty or not printable ASCII',
      );
    }
    host = name.toString('latin1');
  } else {
    reply(socket, SOCKS_REPLY.addressTypeNotSupported);
    throw new Socks5RequestRejected(
      SOCKS_REPLY.addressTypeNotSupported,
      `address type ${addressType} is unknown`,
    );
  }
  const port = (await reader.readExactly(2)).readUInt16BE(0);
  if (command !== COMMAND_CONNECT) {
    reply(socket, SOCKS_REPLY.commandNotSupported);
    throw new Socks5RequestRejected(SOCKS_REPLY.commandNotSupported, `command ${command} is not CONNECT`);
  }
  if (port === 0) {
    reply(socket, SOCKS_REPLY.generalFailure);
    throw new Socks5RequestRejected(SOCKS_REPLY.generalFailure, 'destination port 0');
  }
  return { destination: { host, port }, ...credentials };
}

/** Sends a SOCKS5 reply with an unspecified bound address (0.0.0.0:0), as tor does for names. */
export function reply(socket: Socket, code: number): void {
  socket.write(Buffer.from([SOCKS_VERSION, code, 0, ADDRESS_IPV4, 0, 0, 0, 0, 0, 0]));
}
