import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageStatus, MessageType, PacketDecoder, encodePacket } from '../packet.js';
import type { Packet, PacketHeader } from '../packet.js';

/**
 * The daemon end of a real unix socket, driven by a test through this package's own framing code: it
 * reads the client's packets and sends whatever the test scripts, including malformed bytes.
 */
export class ScriptedPeer {
  private readonly decoder = new PacketDecoder();
  private readonly received: Packet[] = [];
  private waiting: ((packet: Packet) => void) | undefined;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const packet of this.decoder.push(chunk)) {
        const waiter = this.waiting;
        this.waiting = undefined;
        if (waiter) waiter(packet);
        else this.received.push(packet);
      }
    });
    socket.on('error', () => undefined);
  }

  /** The next packet the client sent. */
  next(): Promise<Packet> {
    const packet = this.received.shift();
    if (packet) return Promise.resolve(packet);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  send(header: PacketHeader, body?: Buffer): void {
    this.socket.write(encodePacket(header, body));
  }

  /** Answers a call with status OK and `body`. */
  reply(call: Packet, body?: Buffer, status = MessageStatus.Ok): void {
    this.send({ ...call.header, type: MessageType.Reply, status }, body);
  }

  /** Sends a STREAM packet on the stream `call` opened. */
  stream(call: Packet, status: MessageStatus, body?: Buffer): void {
    this.send({ ...call.header, type: MessageType.Stream, status }, body);
  }
}

/** A connected unix socket pair: `client` for the code under test, `peer` scripted by the test. */
export async function scriptedPair(): Promise<{
  client: net.Socket;
  peer: ScriptedPeer;
  cleanup: () => Promise<void>;
}> {
  const dir = await mkdtemp(join(tmpdir(), 'libvirt-ts-peer-'));
  const path = join(dir, 'sock');
  const server = net.createServer().listen(path);
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const client = net.connect(path);
  await once(client, 'connect');
  const [serverSide] = await accepted;
  const peer = new ScriptedPeer(serverSide);
  return {
    client,
    peer,
    cleanup: async () => {
      client.destroy();
      serverSide.destroy();
      server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
