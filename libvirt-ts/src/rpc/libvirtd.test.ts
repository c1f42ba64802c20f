// Against real daemons: the shared system libvirtd (read-only use of test:///default), and a private one
// this file starts so it may freeze and kill it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { XdrWriter } from '../xdr/index.js';
import type { XdrReader } from '../xdr/index.js';
import { RpcConnection } from './connection.js';
import { ConnectionClosedError, LibvirtError, TransportError } from './errors.js';
import { KeepaliveProcedure } from './keepalive.js';
import { KEEPALIVE_PROGRAM, PacketDecoder, REMOTE_PROGRAM, encodePacket } from './packet.js';
import { startPrivateLibvirtd } from './test-support/private-libvirtd.js';
import type { PrivateLibvirtd } from './test-support/private-libvirtd.js';
import { connectTransport, transportForUri } from './transport.js';

// remote_protocol.x procedure numbers and the few structures these tests encode by hand.
const CONNECT_OPEN = 1;
const DOMAIN_LOOKUP_BY_NAME = 23;
const CONNECT_GET_HOSTNAME = 59;
const CONNECT_SUPPORTS_FEATURE = 60;
const AUTH_LIST = 66;
const CONNECT_LIST_ALL_DOMAINS = 273;
const VIR_DRV_FEATURE_PROGRAM_KEEPALIVE = 10;
const VIR_CONNECT_RO = 1;
const VIR_ERR_NO_DOMAIN = 42;
const VIR_FROM_QEMU = 10;

const readNothing = (): undefined => undefined;
const readDomain = (r: XdrReader): { name: string; uuid: Buffer; id: number } => ({
  name: r.readString(),
  uuid: r.readFixedOpaque(16),
  id: r.readInt(),
});
const writeOpen =
  (name: string, flags = 0) =>
  (w: XdrWriter): void => {
    w.writeOptional(name, (w2, s) => w2.writeString(s)).writeUint(flags);
  };

async function connect(uri: string, options: { readOnly?: boolean; socketPath?: string } = {}) {
  const { transport, remoteUri } = transportForUri(uri, options);
  const socket = await connectTransport(transport);
  const rpc = new RpcConnection(socket);
  // libvirtd refuses CONNECT_OPEN with "authentication required" until AUTH_LIST has been asked, even
  // when the only auth type is none.
  await rpc.call(AUTH_LIST, undefined, (r) => r.readArray((r2) => r2.readInt()));
  await rpc.call(CONNECT_OPEN, writeOpen(remoteUri, options.readOnly ? VIR_CONNECT_RO : 0), readNothing);
  return { rpc, socket };
}

const getHostname = (rpc: RpcConnection): Promise<string> =>
  rpc.call(CONNECT_GET_HOSTNAME, undefined, (r) => r.readString());
const lookupDomain = (rpc: RpcConnection, name: string) =>
  rpc.call(DOMAIN_LOOKUP_BY_NAME, (w) => w.writeString(name), readDomain);
const enableKeepalive = (rpc: RpcConnection): Promise<number> =>
  rpc.call(
    CONNECT_SUPPORTS_FEATURE,
    (w) => w.writeInt(VIR_DRV_FEATURE_PROGRAM_KEEPALIVE),
    (r) => r.readInt(),
  );

/** Records the keepalive packets the daemon sends on `socket`, next to the connection that owns it. */
function tapKeepalive(socket: Duplex): { pings: number; pongs: number } {
  const seen = { pings: 0, pongs: 0 };
  const decoder = new PacketDecoder();
  socket.on('data', (chunk: Buffer) => {
    for (const packet of decoder.push(chunk)) {
      if (packet.header.program !== KEEPALIVE_PROGRAM) continue;
      if (packet.header.procedure === KeepaliveProcedure.Ping) seen.pings++;
      if (packet.header.procedure === KeepaliveProcedure.Pong) seen.pongs++;
    }
  });
  return seen;
}

/** Asserts every call rejects with ConnectionClosedError for `reason` within `withinMs` of now. */
async function assertAllClosed(calls: Promise<unknown>[], reason: string, withinMs: number): Promise<void> {
  const started = Date.now();
  const results = await Promise.allSettled(calls);
  assert.ok(Date.now() - started < withinMs, `calls took ${Date.now() - started} ms to fail`);
  for (const result of results) {
    assert.equal(result.status, 'rejected');
    assert.ok(result.reason instanceof ConnectionClosedError, String(result.reason));
    assert.equal(result.reason.code, 'LIBVIRT_CONNECTION_CLOSED');
    assert.equal(result.reason.reason, reason);
  }
}

/** Keeps a rejection from counting as unhandled while the test has not awaited it yet. */
function settleLater<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

describe('RpcConnection against the system libvirtd', () => {
  it('lists auth types, opens test:///default and makes plain calls', async () => {
    const { transport, remoteUri } = transportForUri('test:///default');
    const rpc = new RpcConnection(await connectTransport(transport));
    try {
      const authTypes = await rpc.call(AUTH_LIST, undefined, (r) => r.readArray((r2) => r2.readInt()));
      assert.ok(authTypes.includes(0), `REMOTE_AUTH_NONE in ${authTypes.join(',')}`);
      await rpc.call(CONNECT_OPEN, writeOpen(remoteUri), readNothing);
      assert.equal(await getHostname(rpc), hostname());
      const listed = await rpc.call(
        CONNECT_LIST_ALL_DOMAINS,
        (w) => w.writeInt(1).writeUint(0),
        (r) => ({ domains: r.readArray(readDomain), count: r.readUint() }),
      );
      assert.ok(listed.domains.some((d) => d.name === 'test'));
      assert.equal(listed.count, listed.domains.length);
    } finally {
      await rpc.close();
    }
  });

  it('turns an error reply into a LibvirtError with libvirt’s numbers', async () => {
    // The QEMU driver, unlike the test driver, names the missing domain in its message.
    const { rpc } = await connect('qemu:///system');
    try {
      const error = await lookupDomain(rpc, 'no-such-domain').then(
        () => assert.fail('lookup of a missing domain succeeded'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof LibvirtError);
      assert.equal(error.code, VIR_ERR_NO_DOMAIN);
      assert.equal(error.domain, VIR_FROM_QEMU);
      assert.equal(error.level, 2);
      assert.equal(error.libvirtMessage, "Domain not found: no domain with matching name 'no-such-domain'");
      assert.equal(error.str2, "no domain with matching name 'no-such-domain'");
      // The connection is unaffected.
      assert.equal(await getHostname(rpc), hostname());
    } finally {
      await rpc.close();
    }
  });

  it('matches many calls in flight to their own replies by serial', async () => {
    const { rpc } = await connect('qemu:///system');
    try {
      // Three reply shapes, and failures that name what was asked: a crossed reply would show.
      const calls = Array.from({ length: 300 }, (_, i) => {
        if (i % 3 === 0) return getHostname(rpc).then((name) => `host:${name}`);
        if (i % 3 === 1) return enableKeepalive(rpc).then((supported) => `keepalive:${supported}`);
        return lookupDomain(rpc, `ghost-${i}`).then(
          () => 'found a ghost',
          (e: LibvirtError) => `error:${e.code}:${e.str2}`,
        );
      });
      const results = await Promise.all(calls);
      results.forEach((result, i) => {
        const expected = [
          `host:${hostname()}`,
          'keepalive:1',
          `error:42:no domain with matching name 'ghost-${i}'`,
        ][i % 3];
        assert.equal(result, expected, `call ${i}`);
      });
    } finally {
      await rpc.close();
    }
  });

  it('works over the read-only socket', async () => {
    const { rpc } = await connect('test:///default', { readOnly: true });
    try {
      assert.equal(await getHostname(rpc), hostname());
    } finally {
      await rpc.close();
    }
  });

  it('pings an idle daemon after asking for keepalive, and stays up on its pongs', async () => {
    const { rpc, socket } = await connect('test:///default');
    try {
      assert.equal(await enableKeepalive(rpc), 1);
      const seen = tapKeepalive(socket);
      rpc.startKeepalive({ intervalMs: 100, maxMissed: 2 });
      await sleep(800);
      assert.ok(seen.pongs >= 3, `${seen.pongs} pongs`);
      assert.equal(rpc.closed, false);
      assert.equal(await getHostname(rpc), hostname());
    } finally {
      await rpc.close();
    }
  });

  it('rejects every pending call when closed, and later calls at once', async () => {
    const { rpc } = await connect('test:///default');
    let closeEvents = 0;
    rpc.on('close', (error?: Error) => {
      closeEvents++;
      assert.equal(error, undefined);
    });
    const calls = Array.from({ length: 50 }, () => settleLater(getHostname(rpc)));
    const closing = rpc.close();
    await assertAllClosed(calls, 'closed-locally', 1000);
    await closing;
    await rpc.close();
    assert.equal(rpc.closed, true);
    assert.equal(closeEvents, 1);
    await assertAllClosed([getHostname(rpc)], 'closed-locally', 100);
  });
});

describe('RpcConnection against a private libvirtd', () => {
  let daemon: PrivateLibvirtd;
  before(async () => {
    daemon = await startPrivateLibvirtd({ tcp: true, tls: true, keepaliveIntervalS: 1, keepaliveCount: 1 });
  });
  after(async () => {
    await daemon.stop();
  });

  it('connects over plain TCP', async () => {
    const { rpc, socket } = await connect(`test+tcp://127.0.0.1:${daemon.tcpPort}/default`);
    try {
      assert.equal(socket.remotePort, daemon.tcpPort);
      assert.equal((await lookupDomain(rpc, 'test')).name, 'test');
    } finally {
      await rpc.close();
    }
  });

  it('connects over TLS with a client certificate, after the daemon’s verdict byte', async () => {
    for (const host of ['localhost', '127.0.0.1']) {
      const { rpc, socket } = await connect(
        `test+tls://${host}:${daemon.tlsPort}/default?pkipath=${daemon.clientPkiDir}`,
      );
      try {
        assert.ok(
          socket instanceof TLSSocket && socket.authorized,
          `server certificate verified for ${host}`,
        );
        assert.equal((await lookupDomain(rpc, 'test')).name, 'test');
      } finally {
        await rpc.close();
      }
    }
  });

  it('reports a TLS client without a certificate as refused, and an unknown server CA as unverifiable', async () => {
    const pki = daemon.clientPkiDir!;
    const withoutCertificate = connectTransport({
      kind: 'tls',
      host: 'localhost',
      port: daemon.tlsPort!,
      caFile: join(pki, 'cacert.pem'),
    });
    await assert.rejects(
      withoutCertificate,
      (e: Error) => e instanceof TransportError && /rejected this client's certificate/.test(e.message),
    );
    const wrongCa = connectTransport({
      kind: 'tls',
      host: 'localhost',
      port: daemon.tlsPort!,
      caFile: join(pki, 'clientcert.pem'),
      certFile: join(pki, 'clientcert.pem'),
      keyFile: join(pki, 'clientkey.pem'),
    });
    await assert.rejects(
      wrongCa,
      (e: Error) => e instanceof TransportError && /unable to verify/.test(e.message),
    );
  });

  it('answers the daemon’s pings, so it keeps an idle connection open', async () => {
    const { rpc, socket } = await connect('test:///default', { socketPath: daemon.socketPath });
    // The control: a raw client that asks for keepalive but never answers a ping.
    const deaf = net.connect(daemon.socketPath);
    const deafClosed = once(deaf, 'close');
    deaf.on('data', () => undefined);
    const call = (procedure: number, serial: number, body?: Buffer): Buffer =>
      encodePacket({ program: REMOTE_PROGRAM, version: 1, procedure, type: 0, serial, status: 0 }, body);
    deaf.write(call(AUTH_LIST, 1));
    deaf.write(
      call(
        CONNECT_OPEN,
        2,
        (() => {
          const w = new XdrWriter();
          writeOpen('test:///default')(w);
          return w.toBuffer();
        })(),
      ),
    );
    deaf.write(
      call(
        CONNECT_SUPPORTS_FEATURE,
        3,
        new XdrWriter().writeInt(VIR_DRV_FEATURE_PROGRAM_KEEPALIVE).toBuffer(),
      ),
    );
    try {
      const seen = tapKeepalive(socket);
      assert.equal(await enableKeepalive(rpc), 1);
      // This daemon pings after 1 s of silence and drops a client that misses one ping, i.e. after ~2 s.
      await sleep(3500);
      assert.ok(seen.pings >= 2, `${seen.pings} pings from the daemon`);
      assert.equal(rpc.closed, false);
      assert.equal(await getHostname(rpc), hostname());
      assert.ok(deaf.destroyed, 'the daemon dropped the client that did not answer');
      await deafClosed;
    } finally {
      deaf.destroy();
      await rpc.close();
    }
  });

  it('declares a frozen daemon dead after the unanswered pings, failing pending calls', async () => {
    const { rpc } = await connect('test:///default', { socketPath: daemon.socketPath });
    assert.equal(await enableKeepalive(rpc), 1);
    rpc.startKeepalive({ intervalMs: 100, maxMissed: 3 });
    const closed = once(rpc, 'close') as Promise<[ConnectionClosedError]>;
    daemon.signal('SIGSTOP');
    try {
      const started = Date.now();
      const pending = settleLater(getHostname(rpc));
      await assertAllClosed([pending], 'keepalive-timeout', 2000);
      const [error] = await closed;
      assert.equal(error.reason, 'keepalive-timeout');
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 300 && elapsed < 1500, `declared dead after ${elapsed} ms`);
    } finally {
      daemon.signal('SIGCONT');
      await rpc.close();
    }
  });

  it('fails every pending call promptly when the daemon is killed mid-call', async () => {
    const { rpc } = await connect('test:///default', { socketPath: daemon.socketPath });
    const closed = once(rpc, 'close') as Promise<[ConnectionClosedError]>;
    // Frozen first, so the calls are certainly in flight when it dies.
    daemon.signal('SIGSTOP');
    const calls = Array.from({ length: 20 }, () => settleLater(getHostname(rpc)));
    await sleep(100);
    assert.equal(rpc.closed, false);
    daemon.signal('SIGKILL');
    await assertAllClosed(calls, 'peer-closed', 1000);
    const [error] = await closed;
    assert.equal(error.reason, 'peer-closed');
    await rpc.close();
  });
});
