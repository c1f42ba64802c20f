import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { DownloadRequest } from './onion-download-child.js';

/** A TCP server on 127.0.0.1 that sends `bytes` bytes to each connection, then closes it. */
export interface BulkServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function startBulkServer(bytes: number): Promise<BulkServer> {
  const block = Buffer.alloc(1024 * 1024, 0x5a);
  const server: Server = createServer((socket) => {
    let left = bytes;
    const writeMore = (): void => {
      while (left > 0) {
        const chunk = left >= block.length ? block : block.subarray(0, left);
        left -= chunk.length;
        if (!socket.write(chunk)) {
          socket.once('drain', writeMore);
          return;
        }
      }
      socket.end();
    };
    socket.on('error', () => socket.destroy());
    writeMore();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the bulk server has no TCP port');
  return {
    port: address.port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
      }),
  };
}

const CHILD = fileURLToPath(new URL('./onion-download-child.js', import.meta.url));

/** Runs one download in a child process (through `prefix`, e.g. `ip netns exec NS`); resolves with MiB/s. */
export function timedDownload(request: DownloadRequest, prefix: readonly string[] = []): Promise<number> {
  const argv = [...prefix, process.execPath, CHILD, JSON.stringify(request)];
  return new Promise((resolve, reject) => {
    execFile(argv[0]!, argv.slice(1), { timeout: 600_000 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`download via ${request.via} failed: ${stderr.trim() || error.message}`));
        return;
      }
      const result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
        bytes?: number;
        seconds?: number;
      };
      if (typeof result.bytes !== 'number' || typeof result.seconds !== 'number' || result.seconds <= 0) {
        reject(new Error(`the download child printed no timing: ${stdout}`));
        return;
      }
      resolve(result.bytes / (1024 * 1024) / result.seconds);
    });
  });
}
