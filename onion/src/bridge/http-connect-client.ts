import { createConnection, type Socket } from 'node:net';
import { MAX_HTTP_HEAD_BYTES } from './http-connect.js';
import { HandshakeReader } from './stream-reader.js';

export interface HttpConnectResponse {
  readonly status: number;
  /** The response head, for error details (e.g. the Proxy-Status header). */
  readonly head: string;
  /** Open tunnel on 200; on an error status, the body follows here until the proxy closes. */
  readonly socket: Socket;
}

/**
 * Sends `CONNECT host:port` to an HTTP proxy listening on a unix socket (like the bridge) and resolves once
 * the response head has arrived. The tunnel is the returned socket when the status is 200.
 */
export function httpConnectOverUnixSocket(
  socketPath: string,
  target: string,
  options: { headers?: Readonly<Record<string, string>>; timeoutMs?: number } = {},
): Promise<HttpConnectResponse> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path: socketPath });
    socket.once('error', reject);
    socket.once('connect', () => {
      const headerLines = Object.entries(options.headers ?? {}).map(
        ([name, value]) => `${name}: ${value}\r\n`,
      );
      socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${headerLines.join('')}\r\n`);
      new HandshakeReader(socket, options.timeoutMs ?? 120_000, `CONNECT ${target}`)
        .readUntil('\r\n\r\n', MAX_HTTP_HEAD_BYTES)
        .then((headBytes) => {
          const head = headBytes.toString('latin1');
          const status = /^HTTP\/1\.[01] ([0-9]{3})/.exec(head);
          if (!status)
            throw new Error(`the proxy's answer is not HTTP: ${JSON.stringify(head.slice(0, 100))}`);
          socket.off('error', reject);
          resolve({ status: Number(status[1]), head, socket });
        })
        .catch((error: unknown) => {
          socket.destroy();
          reject(error instanceof Error ? error : new Error(String(error)));
        });
    });
  });
}
