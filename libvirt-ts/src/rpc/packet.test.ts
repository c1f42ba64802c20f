import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ProtocolError } from './errors.js';
import {
  MAX_PACKET_SIZE,
  MessageStatus,
  MessageType,
  PacketDecoder,
  REMOTE_PROGRAM,
  encodePacket,
} from './packet.js';
import type { PacketHeader } from './packet.js';

const header = (serial: number, procedure = 59): PacketHeader => ({
  program: REMOTE_PROGRAM,
  version: 1,
  procedure,
  type: MessageType.Reply,
  serial,
  status: MessageStatus.Ok,
});

describe('packet framing', () => {
  it('lays out the length word and the header big-endian, as libvirt does', () => {
    const bytes = encodePacket(header(7, 66), Buffer.from([1, 2, 3, 4]));
    assert.equal(bytes.length, 32);
    assert.deepEqual(
      [...bytes.subarray(0, 28)],
      [0, 0, 0, 32, 0x20, 0x00, 0x80, 0x86, 0, 0, 0, 1, 0, 0, 0, 66, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 0],
    );
  });

  it('reassembles a packet split at every byte boundary', () => {
    const bytes = encodePacket(header(3), Buffer.from('hello, libvirt!!'));
    for (let cut = 0; cut <= bytes.length; cut++) {
      const decoder = new PacketDecoder();
      const first = decoder.push(bytes.subarray(0, cut));
      const second = decoder.push(bytes.subarray(cut));
      const packets = [...first, ...second];
      assert.equal(packets.length, 1, `cut at ${cut}`);
      assert.deepEqual(packets[0]!.header, header(3));
      assert.equal(packets[0]!.body.toString(), 'hello, libvirt!!');
      assert.equal(decoder.pendingBytes, 0);
    }
  });

  it('reassembles packets fed one byte at a time', () => {
    const bytes = Buffer.concat([encodePacket(header(1)), encodePacket(header(2), Buffer.alloc(8, 9))]);
    const decoder = new PacketDecoder();
    const packets = [...bytes].flatMap((byte) => decoder.push(Buffer.from([byte])));
    assert.deepEqual(
      packets.map((p) => [p.header.serial, p.body.length]),
      [
        [1, 0],
        [2, 8],
      ],
    );
  });

  it('returns every packet of a chunk that holds several, keeping the partial tail for later', () => {
    const bytes = Buffer.concat(
      [1, 2, 3].map((serial) => encodePacket(header(serial), Buffer.alloc(serial * 4))),
    );
    const decoder = new PacketDecoder();
    const packets = decoder.push(bytes.subarray(0, bytes.length - 5));
    assert.deepEqual(
      packets.map((p) => p.header.serial),
      [1, 2],
    );
    assert.equal(decoder.pendingBytes, 4 + 24 + 12 - 5);
    assert.deepEqual(
      decoder.push(bytes.subarray(bytes.length - 5)).map((p) => p.body.length),
      [12],
    );
  });

  it('decodes any packet sequence cut into any chunks', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ serial: fc.nat(), body: fc.uint8Array({ maxLength: 64 }) }), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (messages, cuts) => {
          const bytes = Buffer.concat(
            messages.map((m) => encodePacket(header(m.serial), Buffer.from(m.body))),
          );
          const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
          const decoder = new PacketDecoder();
          const decoded = [];
          let start = 0;
          for (const point of [...points, bytes.length]) {
            decoded.push(...decoder.push(bytes.subarray(start, point)));
            start = point;
          }
          assert.deepEqual(
            decoded.map((p) => [p.header.serial, [...p.body]]),
            messages.map((m) => [m.serial, [...m.body]]),
          );
        },
      ),
    );
  });

  it('refuses an oversize packet from its length word alone, before buffering it', () => {
    const decoder = new PacketDecoder({ maxPacketSize: 1024 });
    const announce = Buffer.alloc(8);
    announce.writeUInt32BE(1025, 0);
    assert.throws(() => decoder.push(announce), ProtocolError);
    assert.equal(decoder.pendingBytes, 0);
    // The stream is desynchronised for good: later bytes are refused too.
    assert.throws(() => decoder.push(encodePacket(header(1))), /over the limit of 1024/);

    const defaultLimit = Buffer.alloc(4);
    defaultLimit.writeUInt32BE(MAX_PACKET_SIZE + 1, 0);
    assert.throws(() => new PacketDecoder().push(defaultLimit), /over the limit of 16777220/);
  });

  it('refuses a length word too short to hold a header', () => {
    const bytes = Buffer.from([0, 0, 0, 27, ...Buffer.alloc(24)]);
    assert.throws(() => new PacketDecoder().push(bytes), /less than the 28-byte minimum/);
  });

  it('refuses garbage in the header: unknown message type or status', () => {
    const badType = encodePacket(header(1));
    badType.writeInt32BE(9, 16);
    assert.throws(() => new PacketDecoder().push(badType), /unknown message type 9/);
    const badStatus = encodePacket(header(1));
    badStatus.writeInt32BE(-1, 24);
    assert.throws(() => new PacketDecoder().push(badStatus), /unknown status -1/);
    // Text where a packet should be (someone connected to the wrong port): "HTTP" is 1.2 GB long.
    assert.throws(() => new PacketDecoder().push(Buffer.from('HTTP/1.1 400 Bad Request\r\n')), ProtocolError);
  });

  it('refuses to encode what libvirt would reject', () => {
    assert.throws(() => encodePacket(header(-1)), ProtocolError);
    assert.throws(() => encodePacket({ ...header(1), procedure: 2 ** 31 }), ProtocolError);
    assert.throws(() => encodePacket({ ...header(1), type: 42 as MessageType }), ProtocolError);
    assert.throws(() => encodePacket(header(1), Buffer.alloc(MAX_PACKET_SIZE)), /exceeds libvirt's limit/);
  });
});
