#!/usr/bin/env node
// One timed download, run as its own process so it can be started inside a network namespace
// (`ip netns exec NS node onion-download-child.js …`) for the onion0 path; the other paths run the same
// program here, so every path is measured the same way. Prints one JSON line: {"bytes":…,"seconds":…}.
import { connect, type Socket } from 'node:net';
import { connectThroughSocks5 } from '@multiverse/onion';

/** What the bench asks the child to fetch: straight (onion0 path, from inside the namespace) or through SOCKS5. */
export type DownloadRequest =
  | { readonly via: 'direct'; readonly host: string; readonly port: number; readonly bytes: number }
  | {
      readonly via: 'socks5';
      readonly proxy: { readonly host: string; readonly port: number } | { readonly path: string };
      readonly host: string;
      readonly port: number;
      readonly bytes: number;
    };

function parseRequest(text: string | undefined): DownloadRequest {
  const value: unknown = JSON.parse(text ?? 'null');
  const request = value as DownloadRequest;
  const valid =
    typeof value === 'object' &&
    value !== null &&
    (request.via === 'direct' || (request.via === 'socks5' && typeof request.proxy === 'object')) &&
    typeof request.host === 'string' &&
    Number.isInteger(request.port) &&
    Number.isInteger(request.bytes);
  if (!valid) throw new Error(`not a download request: ${text}`);
  return request;
}

async function open(request: DownloadRequest): Promise<Socket> {
  if (request.via === 'socks5') {
    return connectThroughSocks5(
      request.proxy,
      { host: request.host, port: request.port },
      { timeoutMs: 120_000 },
    );
  }
  return new Promise((resolve, reject) => {
    const socket = connect({ host: request.host, port: request.port });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function download(request: DownloadRequest): Promise<{ bytes: number; seconds: number }> {
  const start = process.hrtime.bigint();
  const socket = await open(request);
  let bytes = 0;
  await new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    socket.once('end', resolve);
    socket.once('error', reject);
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (bytes !== request.bytes) throw new Error(`received ${bytes} bytes, expected ${request.bytes}`);
  return { bytes, seconds };
}

const request = parseRequest(process.argv[2]);
console.log(JSON.stringify(await download(request)));
