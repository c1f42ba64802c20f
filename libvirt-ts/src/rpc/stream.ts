import { Duplex } from 'node:stream';
import { XdrDecodeError, XdrReader } from '../xdr/index.js';
import { ProtocolError, readRemoteError } from './errors.js';
import { MAX_STREAM_CHUNK } from './limits.js';
import { MessageStatus, MessageType } from './packet.js';
import type { Packet } from './packet.js';

/** Identifies a stream on the wire: every packet of it repeats the opening call's procedure and serial. */
export interface StreamAddress {
  program: number;
  version: number;
  procedure: number;
  serial: number;
}

/** What a stream needs from the connection that carries it. */
export interface StreamChannel {
  /** Sends one STREAM packet; resolves once the socket has room for more (its write buffer drained). */
  sendStreamPacket(address: StreamAddress, status: MessageStatus, body?: Buffer): Promise<void>;
  /** This stream's reader is full: stop reading the socket until `resumeReading`. */
  pauseReading(stream: LibvirtStream): void;
  resumeReading(stream: LibvirtStream): void;
  /**
   * The stream is done on this side. With `awaitingPeer`, the daemon still owes a final packet (the
   * confirmation of our abort), and late packets for this serial must be dropped rather than misread.
   */
  release(stream: LibvirtStream, awaitingPeer: boolean): void;
}

/**
 * A libvirt data stream (console, volume upload/download, screenshot) as a Node Duplex.
 *
 * - Iterating with `for await` destroys the stream when the loop ends (Node's rule), which aborts it
 *   instead of finishing; use `stream.iterator({ destroyOnReturn: false })` or `'data'` events to let the
 *   finish handshake run. As with any Duplex, `'close'` needs the readable side consumed: a writer that
 *   reads nothing should call `resume()`.
 * - Writing sends STREAM/CONTINUE packets of at most {@link MAX_STREAM_CHUNK} bytes. A write completes when
 *   the socket has room again, so a fast writer is held back by the daemon's reading speed.
 * - `end()` performs libvirt's finish handshake (STREAM/OK, wait for the daemon's OK); `'finish'` then means
 *   the daemon committed the data. An empty CONTINUE from the daemon is its end of data: the readable side
 *   ends, and because half-open streams make no sense in libvirt, that also finishes the writable side.
 * - `destroy(error)` aborts: a STREAM/ERROR packet tells the daemon to drop the stream.
 * - A STREAM/ERROR from the daemon destroys the stream with the {@link LibvirtError} it carries.
 * - Reading: when `push()` reports the reader full, the connection stops reading its socket until this
 *   stream is read from again. That holds back every other call, event and stream on the same connection
 *   (libvirt multiplexes them all on one socket and has no per-stream flow control), so read streams
 *   promptly, or give a bulk transfer its own connection. Keepalive does not count this pause as silence.
 */
export class LibvirtStream extends Duplex {
  readonly address: StreamAddress;
  /** Set once the daemon has nothing more to say about this stream: no abort needs sending. */
  private peerDone = false;
  private finishCallback: ((error?: Error | null) => void) | undefined;

  constructor(
    private readonly channel: StreamChannel,
    address: StreamAddress,
  ) {
    super({ allowHalfOpen: false });
    this.address = address;
  }

  /** Routes one packet addressed to this stream; called by the connection. */
  handlePacket(packet: Packet): void {
    if (this.destroyed) return;
    const { type, status } = packet.header;
    if (type === MessageType.Stream && status === MessageStatus.Continue) {
      this.receiveData(packet.body);
    } else if (type === MessageType.Stream && status === MessageStatus.Ok && this.finishCallback) {
      const callback = this.finishCallback;
      this.finishCallback = undefined;
      this.peerDone = true;
      if (!this.readableEnded) this.push(null);
      callback();
    } else if (
      (type === MessageType.Stream || type === MessageType.Reply) &&
      status === MessageStatus.Error
    ) {
      this.peerDone = true;
      this.destroy(this.decodeError(packet.body));
    } else {
      this.peerDone = true;
      this.destroy(
        new ProtocolError(
          `unexpected packet (type ${type}, status ${status}) on stream of procedure ${this.address.procedure}, ` +
            `serial ${this.address.serial}`,
        ),
      );
    }
  }

  /** The connection closed under this stream; nothing can be sent any more. */
  connectionClosed(error?: Error): void {
    this.peerDone = true;
    this.destroy(error);
  }

  /** Ends the stream without telling the daemon, for when the daemon never opened it. */
  discard(): void {
    this.peerDone = true;
    this.destroy();
  }

  private receiveData(body: Buffer): void {
    if (this.readableEnded) {
      this.peerDone = true;
      this.destroy(
        new ProtocolError(`libvirtd sent data after the end of stream serial ${this.address.serial}`),
      );
      return;
    }
    if (body.length === 0) {
      this.push(null);
      return;
    }
    if (!this.push(body)) this.channel.pauseReading(this);
  }

  private decodeError(body: Buffer): Error {
    try {
      return readRemoteError(new XdrReader(body));
    } catch (error) {
      if (!(error instanceof XdrDecodeError)) throw error;
      return new ProtocolError(`malformed error on stream serial ${this.address.serial}: ${error.message}`, {
        cause: error,
      });
    }
  }

  override _read(): void {
    this.channel.resumeReading(this);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.sendData(chunk).then(() => callback(), callback);
  }

  private async sendData(data: Buffer): Promise<void> {
    for (let offset = 0; offset < data.length; offset += MAX_STREAM_CHUNK) {
      await this.channel.sendStreamPacket(
        this.address,
        MessageStatus.Continue,
        data.subarray(offset, offset + MAX_STREAM_CHUNK),
      );
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finishCallback = callback;
    this.channel.sendStreamPacket(this.address, MessageStatus.Ok).catch((error: Error) => {
      this.finishCallback = undefined;
      callback(error);
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.finishCallback = undefined;
    const abort = !this.peerDone;
    this.channel.release(this, abort);
    if (abort) {
      // Fire and forget: the stream is gone on this side whatever the daemon answers.
      this.channel.sendStreamPacket(this.address, MessageStatus.Error).catch(() => undefined);
    }
    callback(error);
  }
}
