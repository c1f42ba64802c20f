import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allocateFreePorts } from '../test-network/free-ports.js';
import { SocketBridge, SocketBridgeError, type BridgeConnectionRecord } from './bridge.js';
import { httpConnectOverUnixSocket } from './http-connect-client.js';
import { connectThroughSocks5 } from './socks5-client.js';
import { Socks5Error } from './socks5-error.js';
import { SOCKS_REPLY } from './socks5-protocol.js';

/** Writes raw bytes to a bridge socket and collects everything it answers until it closes. */
function exchange(socketPath: string, ...messages: Buffer[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket: Socket = createConnection({ path: socketPath });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('error', reject);
    socket.once('close', () => resolve(Buffer.concat(chunks)));
    socket.once('connect', () => {
      for (const message of messages) socket.write(message);
    });
  });
}

// These tests need no tor: everything here is decided before the bridge contacts tor, or tor's port is
// closed on purpose. Forwarding through a real tor is in bridge-tor.test.ts.
describe('SocketBridge without tor', () => {
  let directory: string;
  let bridge: SocketBridge;
  let socketPath: string;
  const records: BridgeConnectionRecord[] = [];

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'bridge-test-'));
    const [closedPort] = await allocateFreePorts(1, '127.0.0.1');
    bridge = await SocketBridge.start({
      tor: { host: '127.0.0.1', port: closedPort as number },
      directory: join(directory, 'sockets'),
      handshakeTimeoutMs: 2_000,
      onConnection: (record) => records.push(record),
    });
    socketPath = (await bridge.addClient({ name: 'alice' })).socketPath;
  });

  after(async () => {
    await bridge?.close();
    await rm(directory, { recursive: true, force: true });
  });

  it('creates the client socket owner-only by default', async () => {
    const info = await stat(socketPath);
    assert.equal(info.isSocket(), true);
    assert.equal(info.mode & 0o777, 0o600);
    assert.deepEqual(bridge.clients, [{ name: 'alice', socketPath }]);
  });

  it('answers SOCKS5 general failure when tor cannot be reached', async () => {
    await assert.rejects(
      connectThroughSocks5({ path: socketPath }, { host: 'example.onion', port: 80 }),
      (error: unknown) => error instanceof Socks5Error && error.reply === SOCKS_REPLY.generalFailure,
    );
    const record = records.at(-1);
    assert.equal(record?.outcome, 'tor-unreachable');
    assert.equal(record?.destination, 'example.onion:80');
  });

  it('answers HTTP 502 with a reason and Proxy-Status when tor cannot be reached', async () => {
    const response = await httpConnectOverUnixSocket(socketPath, '127.0.0.1:8080');
    assert.equal(response.status, 502);
    assert.match(
      response.head,
      /^Proxy-Status: multiverse-bridge; error=proxy_internal_error; details=".*cannot reach tor/m,
    );
    response.socket.destroy();
  });

  it('refuses SOCKS5 commands other than CONNECT with reply 7', async () => {
    const answer = await exchange(
      socketPath,
      Buffer.from([5, 1, 0]),
      Buffer.from([5, 2, 0, 1, 127, 0, 0, 1, 0, 80]), // BIND
    );
    assert.deepEqual([...answer.subarray(0, 4)], [5, 0, 5, SOCKS_REPLY.commandNotSupported]);
  });

  it('refuses unknown address types with reply 8 and unprintable names with reply 1', async () => {
    const unknownType = await exchange(socketPath, Buffer.from([5, 1, 0]), Buffer.from([5, 1, 0, 9, 0, 80]));
    assert.equal(unknownType[3], SOCKS_REPLY.addressTypeNotSupported);
    const badName = await exchange(
      socketPath,
      Buffer.from([5, 1, 0]),
      Buffer.from([5, 1, 0, 3, 3, 0x61, 0x0a, 0x62, 0, 80]),
    );
    assert.equal(badName[3], SOCKS_REPLY.generalFailure);
  });

  it('tells a client that offers no usable authentication method so', async () => {
    const answer = await exchange(socketPath, Buffer.from([5, 1, 0x80]));
    assert.deepEqual([...answer], [5, 0xff]);
  });

  it('accepts any SOCKS5 username/password: they only pick circuits', async () => {
    await assert.rejects(
      connectThroughSocks5(
        { path: socketPath },
        { host: 'a.example', port: 1 },
        { username: 'x', password: 'y' },
      ),
      (error: unknown) => error instanceof Socks5Error && error.code === 'SOCKS5_REPLY',
    );
  });

  it('rejects SOCKS4 with its own "request rejected" reply', async () => {
    const answer = await exchange(socketPath, Buffer.from([4, 1, 0, 80, 127, 0, 0, 1, 0]));
    assert.deepEqual([...answer], [0, 0x5b, 0, 0, 0, 0, 0, 0]);
    assert.match(records.at(-1)?.detail ?? '', /SOCKS4 is not supported/);
  });

  it('answers HTTP methods other than CONNECT with 405 and Allow', async () => {
    const answer = (await exchange(socketPath, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))).toString();
    assert.match(answer, /^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    assert.match(answer, /\r\nAllow: CONNECT\r\n/);
  });

  it('answers malformed CONNECT targets with 400', async () => {
    for (const target of ['no-port', 'host:0', 'host:70000', '[not-v6]:80', 'http://x/:80']) {
      const answer = (
        await exchange(socketPath, Buffer.from(`CONNECT ${target} HTTP/1.1\r\n\r\n`))
      ).toString();
      assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/, target);
    }
  });

  it('answers an oversized request head with 431', async () => {
    const answer = (
      await exchange(socketPath, Buffer.from(`CONNECT a:1 HTTP/1.1\r\nX: ${'a'.repeat(20_000)}\r\n\r\n`))
    ).toString();
    assert.match(answer, /^HTTP\/1\.1 431 /);
  });

  it('answers a client that never finishes its request with 408 after the handshake limit', async () => {
    const answer = (await exchange(socketPath, Buffer.from('CONNECT a:1 HTTP/1.1\r\n'))).toString();
    assert.match(answer, /^HTTP\/1\.1 408 /);
  });

  it('validates client names and refuses duplicates', async () => {
    for (const name of ['', '-x', 'a/b', 'a'.repeat(65), '../x']) {
      await assert.rejects(
        bridge.addClient({ name }),
        (error: unknown) => error instanceof SocketBridgeError && error.code === 'BRIDGE_INVALID_CLIENT',
      );
    }
    await assert.rejects(
      bridge.addClient({ name: 'alice' }),
      (error: unknown) => error instanceof SocketBridgeError && error.code === 'BRIDGE_CLIENT_EXISTS',
    );
  });

  it('replaces a stale socket file but never a live one or a regular file', async () => {
    const other = await SocketBridge.start({
      tor: { path: '/nonexistent' },
      directory: join(directory, 'sockets'),
    });
    try {
      await assert.rejects(
        other.addClient({ name: 'alice' }),
        (error: unknown) => error instanceof SocketBridgeError && /in use/.test(error.message),
      );
      // A bridge that is SIGKILLed leaves its socket file behind, with nobody listening.
      const stalePath = join(directory, 'sockets', 'stale.sock');
      const dying = spawn(process.execPath, [
        '-e',
        "require('net').createServer().listen(process.argv[1],()=>console.log('listening'))",
        stalePath,
      ]);
      await new Promise<void>((resolve) => dying.stdout.once('data', () => resolve()));
      dying.kill('SIGKILL');
      await new Promise<void>((resolve) => dying.once('exit', () => resolve()));
      assert.equal((await stat(stalePath)).isSocket(), true);
      await writeFile(join(directory, 'sockets', 'plain.sock'), 'not a socket');
      await assert.rejects(other.addClient({ name: 'plain' }), /not a socket/);
      await other.addClient({ name: 'stale' });
    } finally {
      await other.close();
    }
  });

  it('removes a client: its socket disappears and its connections close', async () => {
    const { socketPath: bobPath } = await bridge.addClient({ name: 'bob' });
    const open = createConnection({ path: bobPath });
    await new Promise<void>((resolve) => open.once('connect', resolve));
    const closed = new Promise<void>((resolve) => open.once('close', () => resolve()));
    await bridge.removeClient('bob');
    await closed;
    await assert.rejects(stat(bobPath), { code: 'ENOENT' });
  });

  it(
    'lets only the socket owner connect (the kernel checks the socket file mode)',
    { skip: process.getuid?.() !== 0 && 'needs root to run a client as another user' },
    async () => {
      const nobody = 65534;
      await chmod(directory, 0o755);
      const owned = await bridge.addClient({ name: 'nobody-owned', uid: nobody, gid: nobody });
      const foreign = await bridge.addClient({ name: 'root-owned' });
      const tryConnect = (path: string): Promise<string> =>
        new Promise((resolve) => {
          const script =
            "const s=require('net').createConnection({path:process.argv[1]});" +
            "s.on('connect',()=>{console.log('connected');s.destroy()});s.on('error',e=>console.log(e.code))";
          const child = spawn(process.execPath, ['-e', script, path], { uid: nobody, gid: nobody });
          let output = '';
          child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
          child.once('close', () => resolve(output.trim()));
        });
      assert.equal(await tryConnect(owned.socketPath), 'connected');
      assert.equal(await tryConnect(foreign.socketPath), 'EACCES');
      const info = await stat(owned.socketPath);
      assert.deepEqual([info.uid, info.gid, info.mode & 0o777], [nobody, nobody, 0o600]);
    },
  );
});
