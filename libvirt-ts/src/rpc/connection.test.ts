// Protocol behaviour the real daemon cannot be made to show on demand (crossed replies, garbage, silence),
// against a peer scripted through this package's own framing over a real unix socket.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { XdrWriter } from '../xdr/index.js';
import { RpcConnection } from './connection.js';
import { ConnectionClosedError, LibvirtError, ProtocolError } from './errors.js';
import { KeepaliveProcedure } from './keepalive.js';
import { KEEPALIVE_PROGRAM, MessageStatus, MessageType, REMOTE_PROGRAM } from './packet.js';
import { scriptedPair } from './test-support/scripted-peer.js';
import type { ScriptedPeer } from './test-support/scripted-peer.js';

const readUint = (r: { readUint(): number }): number => r.readUint();
const uintBody = (value: number): Buffer => new XdrWriter().writeUint(value).toBuffer();

function settleLater<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

describe('RpcConnection protocol handling', () => {
  let client: net.Socket;
  let peer: ScriptedPeer;
  let cleanup: () => Promise<void>;
  let rpc: RpcConnection;

  beforeEach(async () => {
    ({ client, peer, cleanup } = await scriptedPair());
    rpc = new RpcConnection(client, { maxPacketSize: 4096 });
  });
  afterEach(async () => {
    await rpc.close();
    await cleanup();
  });

  it('sends well-formed calls and matches replies that come back in any order', async () => {
    const calls = [10, 20, 30].map((procedure) =>
      rpc.call(procedure, (w) => w.writeUint(procedure), readUint),
    );
    const received = [await peer.next(), await peer.next(), await peer.next()];
    assert.deepEqual(
      received.map((p) => [p.header.program, p.header.version, p.header.type, p.header.status]),
      Array(3).fill([REMOTE_PROGRAM, 1, MessageType.Call, MessageStatus.Ok]),
    );
    assert.equal(new Set(received.map((p) => p.header.serial)).size, 3);
    for (const call of received.reverse()) peer.reply(call, uintBody(call.header.procedure * 2));
    assert.deepEqual(await Promise.all(calls), [20, 40, 60]);
  });

  it('rejects a reply with bytes its decoder left unread, and keeps the connection', async () => {
    const call = settleLater(rpc.call(5, undefined, readUint));
    peer.reply(await peer.next(), Buffer.concat([uintBody(1), uintBody(2)]));
    await assert.rejects(
      call,
      (error: Error) => error instanceof ProtocolError && /4 bytes left/.test(error.message),
    );
    const next = rpc.call(5, undefined, readUint);
    peer.reply(await peer.next(), uintBody(3));
    assert.equal(await next, 3);
  });

  it('rejects a call whose arguments cannot be encoded, without sending anything', async () => {
    await assert.rejects(
      rpc.call(1, (w) => w.writeInt(2 ** 40), readUint),
      RangeError,
    );
    const next = rpc.call(2, undefined, readUint);
    const sent = await peer.next();
    assert.equal(sent.header.procedure, 2);
    peer.reply(sent, uintBody(1));
    assert.equal(await next, 1);
  });

  it('rejects a truncated reply as a ProtocolError', async () => {
    const call = settleLater(rpc.call(5, undefined, (r) => r.readString()));
    peer.reply(await peer.next(), uintBody(100));
    await assert.rejects(
      call,
      (error: Error) => error instanceof ProtocolError && error.code === 'LIBVIRT_PROTOCOL',
    );
  });

  it('rejects with the LibvirtError of an ERROR reply', async () => {
    const call = settleLater(rpc.call(23, undefined, readUint));
    const w = new XdrWriter()
      .writeInt(42)
      .writeInt(10)
      .writeOptional('gone', (w2, s) => w2.writeString(s));
    w.writeInt(2).writeBool(false).writeBool(false).writeBool(false).writeBool(false).writeInt(0).writeInt(0);
    w.writeBool(false);
    peer.reply(await peer.next(), w.toBuffer(), MessageStatus.Error);
    await assert.rejects(call, (error: Error) => error instanceof LibvirtError && error.code === 42);
  });

  it('rejects an aborted call at once and drops its late reply', async () => {
    const controller = new AbortController();
    const aborted = settleLater(rpc.call(7, undefined, readUint, { signal: controller.signal }));
    const call = await peer.next();
    controller.abort();
    await assert.rejects(aborted, { name: 'AbortError' });
    peer.reply(call, uintBody(1));
    const next = rpc.call(8, undefined, readUint);
    peer.reply(await peer.next(), uintBody(2));
    assert.equal(await next, 2);
    assert.equal(rpc.closed, false);
    const alreadyAborted = rpc.call(9, undefined, readUint, { signal: AbortSignal.abort() });
    await assert.rejects(alreadyAborted, { name: 'AbortError' });
  });

  it('closes on a reply nobody waits for, failing pending calls with the cause', async () => {
    const pending = settleLater(rpc.call(1, undefined, readUint));
    const call = await peer.next();
    const closed = once(rpc, 'close') as Promise<[ConnectionClosedError]>;
    peer.send({ ...call.header, type: MessageType.Reply, serial: call.header.serial + 100 });
    const [error] = await closed;
    assert.equal(error.reason, 'protocol-error');
    assert.ok(error.cause instanceof ProtocolError);
    await assert.rejects(
      pending,
      (e: Error) => e instanceof ConnectionClosedError && e.reason === 'protocol-error',
    );
  });

  it('closes on a packet over its size limit without buffering it', async () => {
    const pending = settleLater(rpc.call(1, undefined, readUint));
    await peer.next();
    const announce = Buffer.alloc(8);
    announce.writeUInt32BE(4097, 0);
    peer.socket.write(announce);
    await assert.rejects(
      pending,
      (e: Error) => e instanceof ConnectionClosedError && /over the limit of 4096/.test(e.message),
    );
  });

  it('closes when the daemon sends a call', async () => {
    const closed = once(rpc, 'close') as Promise<[ConnectionClosedError]>;
    peer.send({
      program: REMOTE_PROGRAM,
      version: 1,
      procedure: 1,
      type: MessageType.Call,
      serial: 1,
      status: 0,
    });
    const [error] = await closed;
    assert.equal(error.reason, 'protocol-error');
  });

  it('fails pending calls when the daemon hangs up', async () => {
    const pending = settleLater(rpc.call(1, undefined, readUint));
    await peer.next();
    peer.socket.end();
    await assert.rejects(
      pending,
      (e: Error) => e instanceof ConnectionClosedError && e.reason === 'peer-closed',
    );
    assert.equal(rpc.closed, true);
  });

  it('delivers server messages to their subscribers until they unsubscribe', async () => {
    const seen: number[] = [];
    const unsubscribe = rpc.onMessage(REMOTE_PROGRAM, 318, (reader, header) => {
      assert.equal(header.type, MessageType.Message);
      seen.push(reader.readUint());
    });
    const event = (value: number): void =>
      peer.send(
        {
          program: REMOTE_PROGRAM,
          version: 1,
          procedure: 318,
          type: MessageType.Message,
          serial: 0,
          status: 0,
        },
        uintBody(value),
      );
    event(1);
    event(2);
    await sleep(50);
    unsubscribe();
    event(3);
    await sleep(50);
    assert.deepEqual(seen, [1, 2]);
  });

  it('reports a throwing message handler without losing the connection', async () => {
    rpc.onMessage(REMOTE_PROGRAM, 318, () => {
      throw new Error('handler bug');
    });
    const reported = once(rpc, 'messageError') as Promise<[Error]>;
    peer.send({
      program: REMOTE_PROGRAM,
      version: 1,
      procedure: 318,
      type: MessageType.Message,
      serial: 0,
      status: 0,
    });
    const [error] = await reported;
    assert.equal(error.message, 'handler bug');
    const call = rpc.call(1, undefined, readUint);
    peer.reply(await peer.next(), uintBody(5));
    assert.equal(await call, 5);
  });

  it('answers a keepalive PING with a PONG, even before keepalive was started', async () => {
    peer.send({
      program: KEEPALIVE_PROGRAM,
      version: 1,
      procedure: KeepaliveProcedure.Ping,
      type: MessageType.Message,
      serial: 0,
      status: 0,
    });
    const pong = await peer.next();
    assert.deepEqual(pong.header, {
      program: KEEPALIVE_PROGRAM,
      version: 1,
      procedure: KeepaliveProcedure.Pong,
      type: MessageType.Message,
      serial: 0,
      status: MessageStatus.Ok,
    });
    assert.equal(pong.body.length, 0);
  });

  it('pings a silent peer maxMissed times, then closes with keepalive-timeout', async () => {
    const closed = once(rpc, 'close') as Promise<[ConnectionClosedError]>;
    const started = Date.now();
    rpc.startKeepalive({ intervalMs: 50, maxMissed: 3 });
    const [error] = await closed;
    const elapsed = Date.now() - started;
    assert.equal(error.reason, 'keepalive-timeout');
    assert.ok(elapsed >= 190 && elapsed < 1000, `closed after ${elapsed} ms`);
    const pings = [await peer.next(), await peer.next(), await peer.next()];
    for (const ping of pings) assert.equal(ping.header.procedure, KeepaliveProcedure.Ping);
  });

  it('stays up while the peer answers each ping', async () => {
    peer.socket.on('data', () => {
      peer.send({
        program: KEEPALIVE_PROGRAM,
        version: 1,
        procedure: KeepaliveProcedure.Pong,
        type: MessageType.Message,
        serial: 0,
        status: 0,
      });
    });
    rpc.startKeepalive({ intervalMs: 30, maxMissed: 1 });
    await sleep(400);
    assert.equal(rpc.closed, false);
  });

  it('validates keepalive options', () => {
    assert.throws(() => rpc.startKeepalive({ intervalMs: 0 }), RangeError);
    assert.throws(() => rpc.startKeepalive({ maxMissed: 1.5 }), RangeError);
  });
});
