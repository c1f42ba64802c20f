import { createServer } from 'node:http';
import type { Socket } from 'node:net';

export interface LoopbackHttpServer {
  readonly port: number;
  /** The body every GET receives: unique per server, so a test knows which server answered. */
  readonly body: string;
  /** How many requests it has answered. */
  requests(): number;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 (random port) for tests to fetch through tor. */
export async function startLoopbackHttpServer(name = 'loopback'): Promise<LoopbackHttpServer> {
  const body = `hello from ${name} ${process.pid}-${Math.random().toString(36).slice(2)}\n`;
  let count = 0;
  const server = createServer((request, response) => {
    count += 1;
    request.resume();
    response.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    response.end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the HTTP server has no TCP port');
  return {
    port: address.port,
    body,
    requests: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Sends `GET /` on an already-connected socket (e.g. through SOCKS) and resolves with the status and body. */
export function httpGetOverSocket(socket: Socket, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', reject);
    socket.once('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = /^HTTP\/1\.[01] ([0-9]{3})/.exec(text);
      const bodyStart = text.indexOf('\r\n\r\n');
      if (!status || bodyStart === -1) {
        reject(new Error(`not an HTTP response: ${JSON.stringify(text.slice(0, 200))}`));
        return;
      }
      resolve({ status: Number(status[1]), body: text.slice(bodyStart + 4) });
    });
    socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}
