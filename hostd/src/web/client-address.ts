import type { Request } from 'express';

/**
 * The peer's address as the socket sees it. X-Forwarded-For is never read: hostd is reached directly or
 * through tor (then every client is tor's loopback address), and a header is the client's to forge.
 */
export function clientAddress(request: Request): string {
  return request.socket.remoteAddress?.replace(/^::ffff:/, '') ?? 'unknown';
}
