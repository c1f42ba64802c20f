// LibvirtStream's packet handling against a peer scripted through this package's own framing. The
// console stream against the real daemon is tested with the typed client.
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { XdrWriter } from '../xdr/index.js';
import { RpcConnection } from './connection.js';
import { ConnectionClosedError, LibvirtError } from './errors.js';
import { MAX_STREAM_CHUNK, MessageStatus, MessageType } from './packet.js';
import type { Packet } from './packet.js';
import type { LibvirtStream } from './stream.js';
import { scriptedPair } from './test-support/scripted-peer.js';
import type { ScriptedPeer } from './test-support/scripted-peer.js';

const OPEN_CONSOLE = 201;
const readNothing = (): undefined => undefined;

function errorBody(code: number, message: string): Buffer {
  const w = new XdrWriter()
    .writeInt(code)
    .writeInt(10)
    .writeOptional(message, (w2, s) => w2.writeString(s));
  w.writeInt(2).writeBool(false).writeBool(false).writeBool(false).writeBool(false).writeInt(0).writeInt(0);
  return w.writeBool(false).toBuffer();
}

async function collect(stream: LibvirtStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  // Not plain `for await`, which would destroy (abort) the stream instead of letting it finish.
  for await (const chunk of stream.iterator({ destroyOnReturn: false })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('LibvirtStream', () => {
  let client: net.Socket;
  let peer: ScriptedPeer;
  let cleanup: () => Promise<void>;
  let rpc: RpcConnection;

  beforeEach(async () => {
    ({ client, peer, cleanup } = await scriptedPair());
    rpc = new RpcConnection(client);
  });
  afterEach(async () => {
    await rpc.close();
    await cleanup();
  });

  async function open(): Promise<{ stream: LibvirtStream; call: Packet }> {
    const opening = rpc.openStream(OPEN_CONSOLE, (w) => w.writeUint(0), readNothing);
    const call = await peer.next();
    peer.reply(call);
    const { stream } = await opening;
    return { stream, call };
  }

  it('keeps data sent right behind the reply, ends on the empty packet, then finishes the handshake', async () => {
    const opening = rpc.openStream(OPEN_CONSOLE, undefined, readNothing);
    const call = await peer.next();
    // Reply and data in one write, as a busy daemon may send them.
    peer.reply(call);
    peer.stream(call, MessageStatus.Continue, Buffer.from('login: '));
    peer.stream(call, MessageStatus.Continue, Buffer.from('root\n'));
    peer.stream(call, MessageStatus.Continue);
    const { stream } = await opening;
    const finished = once(stream, 'finish');
    assert.equal((await collect(stream)).toString(), 'login: root\n');
    // Our end of the stream: a STREAM/OK with the opening call's procedure and serial.
    const finish = await peer.next();
    assert.deepEqual(
      [
        finish.header.type,
        finish.header.status,
        finish.header.procedure,
        finish.header.serial,
        finish.body.length,
      ],
      [MessageType.Stream, MessageStatus.Ok, OPEN_CONSOLE, call.header.serial, 0],
    );
    peer.stream(call, MessageStatus.Ok);
    await finished;
  });

  it('cuts writes into packets of at most the legacy payload size, then finishes on end()', async () => {
    const { stream, call } = await open();
    stream.resume();
    const data = Buffer.alloc(2 * MAX_STREAM_CHUNK + 1000);
    for (let i = 0; i < data.length; i++) data[i] = i % 251;
    stream.end(data);
    const packets = [await peer.next(), await peer.next(), await peer.next(), await peer.next()];
    assert.deepEqual(
      packets.map((p) => [p.header.status, p.body.length]),
      [
        [MessageStatus.Continue, MAX_STREAM_CHUNK],
        [MessageStatus.Continue, MAX_STREAM_CHUNK],
        [MessageStatus.Continue, 1000],
        [MessageStatus.Ok, 0],
      ],
    );
    assert.ok(Buffer.concat(packets.map((p) => p.body)).equals(data));
    for (const packet of packets) assert.equal(packet.header.serial, call.header.serial);
    // 'finish' waits for the daemon's confirmation.
    let finished = false;
    stream.once('finish', () => (finished = true));
    await sleep(50);
    assert.equal(finished, false);
    peer.stream(call, MessageStatus.Ok);
    await once(stream, 'close');
    assert.equal(finished, true);
  });

  it('surfaces a daemon-side stream error as a LibvirtError', async () => {
    const { stream, call } = await open();
    const failed = once(stream, 'error') as Promise<[Error]>;
    peer.stream(
      call,
      MessageStatus.Error,
      errorBody(1, 'internal error: character device console0 is not using a PTY'),
    );
    const [error] = await failed;
    assert.ok(error instanceof LibvirtError);
    assert.match(error.message, /not using a PTY/);
  });

  it('treats an error reply on the stream serial (a rejected write) as a stream error', async () => {
    const { stream, call } = await open();
    const failed = once(stream, 'error') as Promise<[Error]>;
    peer.reply(call, errorBody(38, 'cannot write to volume'), MessageStatus.Error);
    const [error] = await failed;
    assert.ok(error instanceof LibvirtError && error.code === 38);
    assert.equal(rpc.closed, false);
  });

  it('aborts with a STREAM/ERROR on destroy, and drops what the daemon had in flight', async () => {
    const { stream, call } = await open();
    stream.destroy();
    const abort = await peer.next();
    assert.deepEqual(
      [abort.header.type, abort.header.status, abort.header.serial, abort.body.length],
      [MessageType.Stream, MessageStatus.Error, call.header.serial, 0],
    );
    peer.stream(call, MessageStatus.Continue, Buffer.from('late data'));
    peer.stream(call, MessageStatus.Ok);
    const next = rpc.call(59, undefined, (r) => r.readString());
    const hostnameCall = await peer.next();
    assert.notEqual(hostnameCall.header.serial, call.header.serial);
    peer.reply(hostnameCall, new XdrWriter().writeString('host').toBuffer());
    assert.equal(await next, 'host');
  });

  it('rejects openStream with the error reply and leaves no stream behind', async () => {
    const opening = rpc.openStream(OPEN_CONSOLE, undefined, readNothing);
    const call = await peer.next();
    peer.reply(call, errorBody(55, 'domain is not running'), MessageStatus.Error);
    await assert.rejects(opening, (e: Error) => e instanceof LibvirtError && e.code === 55);
    // A stray stream packet for that serial is ignored, as libvirt's own client does.
    peer.stream(call, MessageStatus.Continue, Buffer.from('x'));
    await sleep(20);
    assert.equal(rpc.closed, false);
  });

  it('aborts a stream whose opening call was abandoned, once the daemon has opened it', async () => {
    const controller = new AbortController();
    const opening = rpc.openStream(OPEN_CONSOLE, undefined, readNothing, { signal: controller.signal });
    const call = await peer.next();
    controller.abort();
    await assert.rejects(opening, { name: 'AbortError' });
    peer.reply(call);
    peer.stream(call, MessageStatus.Continue, Buffer.from('console output nobody reads'));
    const abort = await peer.next();
    assert.deepEqual(
      [abort.header.type, abort.header.status, abort.header.serial],
      [MessageType.Stream, MessageStatus.Error, call.header.serial],
    );
    peer.stream(call, MessageStatus.Ok);
    await sleep(20);
    assert.equal(rpc.closed, false);
  });

  it('stops reading the socket while the reader is full, and resumes when it reads', async () => {
    const { stream, call } = await open();
    const piece = Buffer.alloc(64 * 1024, 1);
    for (let i = 0; i < 8; i++) peer.stream(call, MessageStatus.Continue, piece);
    await sleep(100);
    assert.equal(client.isPaused(), true, 'socket paused behind the full stream');
    let received = 0;
    stream.on('data', (chunk: Buffer) => (received += chunk.length));
    await sleep(100);
    assert.equal(received, 8 * piece.length);
    assert.equal(client.isPaused(), false);
  });

  it('holds a write until the socket drains', async () => {
    const { stream } = await open();
    peer.socket.pause();
    let written = false;
    stream.write(Buffer.alloc(8 * 1024 * 1024), () => (written = true));
    await sleep(200);
    assert.equal(written, false, 'write completed while the peer was not reading');
    peer.socket.resume();
    for (let drained = 0; drained < 8 * 1024 * 1024;) drained += (await peer.next()).body.length;
    await sleep(20);
    assert.equal(written, true);
  });

  it('is destroyed with ConnectionClosedError when its connection closes', async () => {
    const { stream } = await open();
    const failed = once(stream, 'error') as Promise<[Error]>;
    peer.socket.destroy();
    const [error] = await failed;
    assert.ok(error instanceof ConnectionClosedError);
    assert.equal(error.reason, 'peer-closed');
  });
});
