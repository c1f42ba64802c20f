import { describeSocksReply } from './socks5-protocol.js';

export type Socks5ErrorCode =
  /** The proxy answered the CONNECT with a failure reply; `reply` holds its code. */
  | 'SOCKS5_REPLY'
  /** The proxy refused our username/password. */
  | 'SOCKS5_AUTH_REJECTED'
  /** The proxy spoke something other than SOCKS5. */
  | 'SOCKS5_PROTOCOL'
  /** The proxy could not be reached, or closed the connection during the handshake. */
  | 'SOCKS5_CLOSED'
  /** The handshake took longer than the time limit. */
  | 'SOCKS5_TIMEOUT'
  /** The destination or credentials cannot be expressed in SOCKS5 (e.g. a name over 255 bytes). */
  | 'SOCKS5_INVALID_REQUEST';

export class Socks5Error extends Error {
  override readonly name = 'Socks5Error';

  constructor(
    readonly code: Socks5ErrorCode,
    message: string,
    /** The SOCKS5 reply code when `code` is SOCKS5_REPLY. */
    readonly reply?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  static fromReply(reply: number, destination: string): Socks5Error {
    return new Socks5Error(
      'SOCKS5_REPLY',
      `SOCKS5 CONNECT to ${destination} failed: ${describeSocksReply(reply)} (reply 0x${reply.toString(16).padStart(2, '0')})`,
      reply,
    );
  }
}
