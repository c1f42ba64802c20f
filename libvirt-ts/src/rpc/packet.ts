import { ProtocolError } from './errors.js';
import { HEADER_SIZE, LENGTH_WORD_SIZE, MAX_PACKET_SIZE } from './limits.js';

export {
  HEADER_SIZE,
  LENGTH_WORD_SIZE,
  MAX_MESSAGE_SIZE,
  MAX_PACKET_SIZE,
  MAX_STREAM_CHUNK,
  MESSAGE_STRING_MAX,
} from './limits.js';

/** Program number of libvirt's remote driver protocol (`remote_protocol.x`). */
export const REMOTE_PROGRAM = 0x20008086;
/** Program number of the keepalive protocol (`virkeepaliveprotocol.x`): ASCII "keep". */
export const KEEPALIVE_PROGRAM = 0x6b656570;
/** Version of both the remote and the keepalive program. */
export const PROTOCOL_VERSION = 1;

/** `virNetMessageType`. */
export enum MessageType {
  Call = 0,
  Reply = 1,
  Message = 2,
  Stream = 3,
  CallWithFds = 4,
  ReplyWithFds = 5,
  StreamHole = 6,
}

/** `virNetMessageStatus`. */
export enum MessageStatus {
  Ok = 0,
  Error = 1,
  Continue = 2,
}

export interface PacketHeader {
  program: number;
  version: number;
  procedure: number;
  type: MessageType;
  serial: number;
  status: MessageStatus;
}

export interface Packet {
  header: PacketHeader;
  body: Buffer;
}

function checkUint(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new ProtocolError(`packet header field ${name} must be an unsigned 32-bit integer, got ${value}`);
  }
}

/** Serialises one packet: length word, header, body (already XDR-encoded, or raw stream bytes). */
export function encodePacket(header: PacketHeader, body: Buffer = Buffer.alloc(0)): Buffer {
  checkUint('program', header.program);
  checkUint('version', header.version);
  checkUint('serial', header.serial);
  if (
    !Number.isInteger(header.procedure) ||
    header.procedure < -0x80000000 ||
    header.procedure > 0x7fffffff
  ) {
    throw new ProtocolError(
      `packet header field procedure must be a signed 32-bit integer, got ${header.procedure}`,
    );
  }
  if (!(header.type in MessageType) || !(header.status in MessageStatus)) {
    throw new ProtocolError(`packet header has unknown type ${header.type} or status ${header.status}`);
  }
  const length = LENGTH_WORD_SIZE + HEADER_SIZE + body.length;
  if (length > MAX_PACKET_SIZE) {
    throw new ProtocolError(
      `packet of ${length} bytes exceeds libvirt's limit of ${MAX_PACKET_SIZE}: split the payload or send less`,
    );
  }
  const packet = Buffer.allocUnsafe(length);
  packet.writeUInt32BE(length, 0);
  packet.writeUInt32BE(header.program, 4);
  packet.writeUInt32BE(header.version, 8);
  packet.writeInt32BE(header.procedure, 12);
  packet.writeInt32BE(header.type, 16);
  packet.writeUInt32BE(header.serial, 20);
  packet.writeInt32BE(header.status, 24);
  body.copy(packet, LENGTH_WORD_SIZE + HEADER_SIZE);
  return packet;
}

function decodeHeader(packet: Buffer): PacketHeader {
  const type = packet.readInt32BE(16);
  const status = packet.readInt32BE(24);
  if (!(type in MessageType)) throw new ProtocolError(`received a packet of unknown message type ${type}`);
  if (!(status in MessageStatus)) throw new ProtocolError(`received a packet of unknown status ${status}`);
  return {
    program: packet.readUInt32BE(4),
    version: packet.readUInt32BE(8),
    procedure: packet.readInt32BE(12),
    type,
    serial: packet.readUInt32BE(20),
    status,
  };
}

export interface PacketDecoderOptions {
  /** Packets announcing more bytes than this (length word included) are refused before any allocation. */
  maxPacketSize?: number;
}

/**
 * Reassembles packets from a byte stream cut at arbitrary points. Bytes are kept as the chunks they arrived
 * in and copied once, when a whole packet is there, so a 16 MiB packet arriving in 64 KiB reads costs O(n).
 * A framing error is fatal: the byte stream can no longer be trusted, so every later push throws it again.
 */
export class PacketDecoder {
  private readonly maxPacketSize: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failure: ProtocolError | undefined;

  constructor(options: PacketDecoderOptions = {}) {
    this.maxPacketSize = options.maxPacketSize ?? MAX_PACKET_SIZE;
    if (!Number.isInteger(this.maxPacketSize) || this.maxPacketSize < LENGTH_WORD_SIZE + HEADER_SIZE) {
      throw new RangeError(`maxPacketSize must be an integer of at least ${LENGTH_WORD_SIZE + HEADER_SIZE}`);
    }
  }

  /** Bytes received that do not yet form a whole packet. */
  get pendingBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): Packet[] {
    if (this.failure) throw this.failure;
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const packets: Packet[] = [];
    try {
      for (let length = this.nextLength(); length !== undefined; length = this.nextLength()) {
        const packet = this.take(length);
        packets.push({ header: decodeHeader(packet), body: packet.subarray(LENGTH_WORD_SIZE + HEADER_SIZE) });
      }
    } catch (error) {
      this.failure =
        error instanceof ProtocolError ? error : new ProtocolError(String(error), { cause: error });
      this.chunks = [];
      this.buffered = 0;
      throw this.failure;
    }
    return packets;
  }

  /** The length of the next packet once all of it has arrived. */
  private nextLength(): number | undefined {
    if (this.buffered < LENGTH_WORD_SIZE) return undefined;
    let first = this.chunks[0]!;
    if (first.length < LENGTH_WORD_SIZE) {
      this.chunks = [Buffer.concat(this.chunks)];
      first = this.chunks[0]!;
    }
    const length = first.readUInt32BE(0);
    if (length < LENGTH_WORD_SIZE + HEADER_SIZE) {
      throw new ProtocolError(
        `received a packet announcing ${length} bytes, less than the ${LENGTH_WORD_SIZE + HEADER_SIZE}-byte minimum: ` +
          'the peer does not speak the libvirt RPC protocol',
      );
    }
    if (length > this.maxPacketSize) {
      throw new ProtocolError(
        `received a packet announcing ${length} bytes, over the limit of ${this.maxPacketSize}: refusing to buffer it`,
      );
    }
    return this.buffered >= length ? length : undefined;
  }

  private take(length: number): Buffer {
    const first = this.chunks[0]!;
    let packet: Buffer;
    if (first.length >= length) {
      packet = first.subarray(0, length);
      if (first.length === length) this.chunks.shift();
      else this.chunks[0] = first.subarray(length);
    } else {
      packet = Buffer.allocUnsafe(length);
      let copied = 0;
      while (copied < length) {
        const chunk = this.chunks[0]!;
        const wanted = Math.min(chunk.length, length - copied);
        chunk.copy(packet, copied, 0, wanted);
        copied += wanted;
        if (wanted === chunk.length) this.chunks.shift();
        else this.chunks[0] = chunk.subarray(wanted);
      }
    }
    this.buffered -= length;
    return packet;
  }
}
