import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectThroughSocks5, type SocksProxyEndpoint } from '../bridge/socks5-client.js';
import { Socks5Error } from '../bridge/socks5-error.js';
import { SOCKS_REPLY } from '../bridge/socks5-protocol.js';

/**
 * SOCKS replies that mean "not yet" for a freshly (re)published onion service: its descriptor, introduction or
 * rendezvous is not there yet. Any other reply (missing client authorization, say) is an answer.
 */
export const ONION_NOT_YET_REPLIES: ReadonlySet<number> = new Set<number>([
  SOCKS_REPLY.generalFailure,
  SOCKS_REPLY.hostUnreachable,
  SOCKS_REPLY.ttlExpired,
  SOCKS_REPLY.onionDescriptorNotFound,
  SOCKS_REPLY.onionIntroductionFailed,
  SOCKS_REPLY.onionRendezvousFailed,
  SOCKS_REPLY.onionIntroductionTimedOut,
]);

/** A connected socket, or the SOCKS reply that ended the dialling. */
export type OnionDialOutcome = { readonly socket: Socket } | { readonly reply: number };

export interface OnionDialOptions {
  /** How long to keep retrying "not yet" replies (default 90 s); the last reply is returned after it. */
  readonly timeoutMs?: number;
  /** The pause between attempts (default 1 s). */
  readonly retryDelayMs?: number;
  /** The bound of one SOCKS connection attempt (default: connectThroughSocks5's). */
  readonly connectTimeoutMs?: number;
}

/**
 * Dials an onion service through a client tor, retrying while the service is still appearing. Errors other
 * than a SOCKS reply (the proxy is not there) are thrown.
 */
export async function dialOnionService(
  proxy: SocksProxyEndpoint,
  target: { readonly host: string; readonly port: number },
  options: OnionDialOptions = {},
): Promise<OnionDialOutcome> {
  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  for (;;) {
    try {
      const socket = await connectThroughSocks5(
        proxy,
        target,
        options.connectTimeoutMs === undefined ? {} : { timeoutMs: options.connectTimeoutMs },
      );
      return { socket };
    } catch (error) {
      if (!(error instanceof Socks5Error) || error.reply === undefined) throw error;
      if (!ONION_NOT_YET_REPLIES.has(error.reply) || Date.now() > deadline) return { reply: error.reply };
      await sleep(options.retryDelayMs ?? 1_000);
    }
  }
}

/** The first line the server sends (an SSH server's identification); closes the socket once it has it. */
export function readFirstLine(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (received.includes('\n')) {
        socket.destroy();
        resolve(received.split(/\r?\n/)[0] ?? '');
      }
    });
    socket.once('error', reject);
    socket.once('close', () => resolve(received));
  });
}
