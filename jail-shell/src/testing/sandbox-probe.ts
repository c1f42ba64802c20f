#!/usr/bin/env node
// Runs inside the jail's sandbox for sandbox.test.ts, started exactly as a session interpreter is,
// and reports as JSON what it could and could not do. Arguments: --host-port=N (a TCP listener on the
// host's 127.0.0.1), --socket=PATH (the bound unix socket), --secret-dir=PATH (a directory on the
// host it must not see), --setuid-id=PATH (a setuid-root copy of id), --writable-probe=PATH[,PATH…].
// The session arguments the launcher appends (--user, --role) are ignored.
import { execFile } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    'host-port': { type: 'string' },
    socket: { type: 'string' },
    'secret-dir': { type: 'string' },
    'setuid-id': { type: 'string' },
    'writable-probe': { type: 'string' },
    user: { type: 'string' },
    role: { type: 'string' },
  },
});

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? String(error);
}

async function outcome(action: () => Promise<unknown>): Promise<string> {
  try {
    await action();
    return 'ok';
  } catch (error) {
    return errorCode(error);
  }
}

function tcpConnect(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host, () => {
      socket.destroy();
      resolve();
    });
    socket.setTimeout(3000, () => socket.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    socket.once('error', reject);
  });
}

function unixExchange(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(path, () => socket.write('ping\n'));
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString();
      if (received.endsWith('\n')) {
        socket.end();
        resolve(received.trim());
      }
    });
    socket.once('error', reject);
  });
}

function runSetuidId(path: string): Promise<string> {
  return new Promise((resolve) =>
    execFile(path, ['-u'], (error, stdout) => resolve(error ? errorCode(error) : stdout.trim())),
  );
}

const writes: Record<string, string> = {};
for (const path of (values['writable-probe'] ?? '').split(',').filter((entry) => entry !== '')) {
  writes[path] = await outcome(() => writeFile(path, 'written from the sandbox'));
}

const report = {
  uid: process.getuid?.(),
  gid: process.getgid?.(),
  groups: process.getgroups?.(),
  pid: process.pid,
  hostname: hostname(),
  environment: Object.keys(process.env).sort(),
  rootEntries: (await readdir('/')).sort(),
  tcpToHostLoopback: await outcome(() => tcpConnect('127.0.0.1', Number(values['host-port']))),
  tcpToOutside: await outcome(() => tcpConnect('192.0.2.1', 80)),
  unixSocket: await unixExchange(values.socket ?? '').catch(errorCode),
  secretDirectory: await outcome(() => readdir(values['secret-dir'] ?? '')),
  shadow: await outcome(() => readFile('/etc/shadow')),
  hostProcesses: await outcome(() => readFile('/proc/1/environ')),
  setuidRoot: await outcome(() => {
    process.setuid?.(0);
    return Promise.resolve();
  }),
  setuidBinaryUid: await runSetuidId(values['setuid-id'] ?? ''),
  writes,
};
process.stdout.write(`${JSON.stringify(report)}\n`);
