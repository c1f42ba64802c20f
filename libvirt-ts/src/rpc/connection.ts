import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { XdrDecodeError, XdrReader, XdrWriter } from '../xdr/index.js';
import { ConnectionClosedError, ProtocolError, readRemoteError } from './errors.js';
import type { CloseReason } from './errors.js';
import { KeepaliveMonitor, KeepaliveProcedure } from './keepalive.js';
import type { KeepaliveOptions } from './keepalive.js';
import {
  KEEPALIVE_PROGRAM,
  MessageStatus,
  MessageType,
  PacketDecoder,
  PROTOCOL_VERSION,
  REMOTE_PROGRAM,
  encodePacket,
} from './packet.js';
import type { Packet, PacketDecoderOptions, PacketHeader } from './packet.js';
import { LibvirtStream } from './stream.js';
import type { StreamAddress, StreamChannel } from './stream.js';
import { connectTransport } from './transport.js';
import type { TransportOptions } from './transport.js';

export interface CallOptions {
  program?: number;
  version?: number;
  /** Rejects the call with the signal's reason; a reply that arrives later is dropped. */
  signal?: AbortSignal;
}

export type ConnectionOptions = PacketDecoderOptions;

export type MessageHandler = (reader: XdrReader, header: PacketHeader) => void;

/** A call waiting for its reply. An abandoned one stays until the reply comes, so that reply is not misread. */
interface PendingCall {
  program: number;
  version: number;
  procedure: number;
  onReply(packet: Packet): void;
  onClose(error: ConnectionClosedError): void;
}

/**
 * One connection to libvirtd speaking its RPC protocol: calls matched to replies by serial (any number in
 * flight), server-pushed messages (events), streams, keepalive.
 *
 * Events: `'close' (error?: ConnectionClosedError)` once, when the connection ends — without an argument
 * when `close()` ended it; `'messageError' (error, header)` when a handler registered with `onMessage`
 * throws (without a listener it becomes a process warning, so a bad event handler cannot kill the
 * connection).
 */
export class RpcConnection extends EventEmitter {
  private readonly decoder: PacketDecoder;
  private readonly pending = new Map<number, PendingCall>();
  private readonly streams = new Map<number, LibvirtStream>();
  /** Serials of streams closed here whose daemon side may still send a few packets. */
  private readonly drainingStreams = new Set<number>();
  private readonly handlers = new Map<string, Set<MessageHandler>>();
  private readonly pausedBy = new Set<LibvirtStream>();
  private drainWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private keepalive: KeepaliveMonitor | undefined;
  private nextSerial = 1;
  private closeError: ConnectionClosedError | undefined;
  private readonly socketClosed: Promise<void>;

  /** Opens the transport and wraps it. */
  static async connect(
    transport: TransportOptions,
    options: ConnectionOptions & { signal?: AbortSignal } = {},
  ): Promise<RpcConnection> {
    const socket = await connectTransport(transport, options.signal);
    return new RpcConnection(socket, options);
  }

  /** Takes over `socket`, which must not be read by anyone else. */
  constructor(
    private readonly socket: Duplex,
    options: ConnectionOptions = {},
  ) {
    super();
    this.decoder = new PacketDecoder(options);
    this.socketClosed = new Promise((resolve) => {
      if (socket.destroyed) resolve();
      else socket.once('close', () => resolve());
    });
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('end', () => this.shutdown('peer-closed', 'libvirtd closed the connection'));
    socket.on('error', (error: Error) =>
      this.shutdown('peer-closed', `the connection to libvirtd failed: ${error.message}`, error),
    );
    socket.on('close', () => this.shutdown('peer-closed', 'the connection to libvirtd was closed'));
    socket.resume();
    if (socket.destroyed) this.shutdown('peer-closed', 'the socket was already closed');
  }

  get closed(): boolean {
    return this.closeError !== undefined;
  }

  call<T>(
    procedure: number,
    writeArgs: ((writer: XdrWriter) => void) | undefined,
    readReturn: (reader: XdrReader) => T,
    options: CallOptions = {},
  ): Promise<T> {
    return this.request(this.allocateSerial(), procedure, writeArgs, readReturn, options);
  }

  /**
   * Makes a call that opens a stream (e.g. DOMAIN_OPEN_CONSOLE). The stream is registered before the call
   * is sent, so data the daemon sends right after its reply is not lost.
   */
  async openStream<T>(
    procedure: number,
    writeArgs: ((writer: XdrWriter) => void) | undefined,
    readReturn: (reader: XdrReader) => T,
    options: CallOptions = {},
  ): Promise<{ reply: T; stream: LibvirtStream }> {
    const serial = this.allocateSerial();
    const program = options.program ?? REMOTE_PROGRAM;
    const version = options.version ?? PROTOCOL_VERSION;
    const stream = new LibvirtStream(this.streamChannel, { program, version, procedure, serial });
    if (!this.closed) this.streams.set(serial, stream);
    try {
      const reply = await this.request(serial, procedure, writeArgs, readReturn, options, stream);
      return { reply, stream };
    } catch (error) {
      stream.discard();
      throw error;
    }
  }

  /** Subscribes to server-pushed MESSAGE packets of one program and procedure. Returns the unsubscribe. */
  onMessage(program: number, procedure: number, handler: MessageHandler): () => void {
    const key = `${program}:${procedure}`;
    let set = this.handlers.get(key);
    if (!set) this.handlers.set(key, (set = new Set()));
    set.add(handler);
    return () => {
      set.delete(handler);
      if (set.size === 0 && this.handlers.get(key) === set) this.handlers.delete(key);
    };
  }

  /**
   * Starts pinging an idle daemon and closes the connection (reason `'keepalive-timeout'`) when `maxMissed`
   * pings in a row go unanswered. Only call this once the daemon said it supports the keepalive program
   * (CONNECT_SUPPORTS_FEATURE with VIR_DRV_FEATURE_PROGRAM_KEEPALIVE). Calling it again restarts it with
   * the new options. Pings from the daemon are answered whether or not this was called.
   */
  startKeepalive(options: KeepaliveOptions = {}): void {
    if (this.closeError) throw this.closeError;
    const monitor = new KeepaliveMonitor(options, {
      sendPing: () => this.sendKeepalive(KeepaliveProcedure.Ping),
      onDead: (silentForMs) =>
        this.shutdown(
          'keepalive-timeout',
          `libvirtd answered none of ${monitor.maxMissed} keepalive pings and was silent for ${silentForMs} ms`,
        ),
      isReadingPaused: () => this.pausedBy.size > 0,
    });
    this.keepalive?.stop();
    this.keepalive = monitor;
    monitor.start();
  }

  /**
   * Ends the connection. Pending calls reject with ConnectionClosedError; open streams are destroyed
   * without an error (their readers see a premature close).
   */
  async close(): Promise<void> {
    this.shutdown('closed-locally', 'the connection was closed by close()');
    await this.socketClosed;
  }

  private request<T>(
    serial: number,
    procedure: number,
    writeArgs: ((writer: XdrWriter) => void) | undefined,
    readReturn: (reader: XdrReader) => T,
    options: CallOptions,
    stream?: LibvirtStream,
  ): Promise<T> {
    const { signal } = options;
    const program = options.program ?? REMOTE_PROGRAM;
    const version = options.version ?? PROTOCOL_VERSION;
    if (this.closeError) return Promise.reject(this.closeError);
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    let packet: Buffer;
    try {
      let body: Buffer | undefined;
      if (writeArgs) {
        const writer = new XdrWriter();
        writeArgs(writer);
        body = writer.toBuffer();
      }
      packet = encodePacket(
        { program, version, procedure, type: MessageType.Call, serial, status: MessageStatus.Ok },
        body,
      );
    } catch (error) {
      // Arguments that cannot be encoded fail this call only, as a rejection like every other failure.
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }

    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        this.pending.set(serial, {
          program,
          version,
          procedure,
          // The daemon opened the stream after all: tell it to drop it.
          onReply: (reply) => {
            if (stream && reply.header.status === MessageStatus.Ok) {
              this.drainingStreams.add(serial);
              this.sendStreamPacket(stream.address, MessageStatus.Error).catch(() => undefined);
            }
          },
          onClose: () => undefined,
        });
        reject(abortReason(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(serial, {
        program,
        version,
        procedure,
        onReply: (reply) => {
          signal?.removeEventListener('abort', onAbort);
          try {
            resolve(decodeReply(reply, procedure, readReturn));
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        },
        onClose: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      });
      this.socket.write(packet);
    });
  }

  private allocateSerial(): number {
    for (;;) {
      const serial = this.nextSerial;
      this.nextSerial = serial === 0xffffffff ? 1 : serial + 1;
      if (!this.pending.has(serial) && !this.streams.has(serial) && !this.drainingStreams.has(serial)) {
        return serial;
      }
    }
  }

  private receive(chunk: Buffer): void {
    if (this.closeError) return;
    let packets: Packet[];
    try {
      packets = this.decoder.push(chunk);
    } catch (error) {
      this.shutdown(
        'protocol-error',
        `libvirtd sent invalid data: ${(error as Error).message}`,
        error as Error,
      );
      return;
    }
    for (const packet of packets) {
      if (this.closeError) return;
      this.keepalive?.noteTraffic();
      try {
        this.dispatch(packet);
      } catch (error) {
        if (!(error instanceof ProtocolError)) throw error;
        this.shutdown('protocol-error', `libvirtd broke the protocol: ${error.message}`, error);
      }
    }
  }

  private dispatch(packet: Packet): void {
    const { header } = packet;
    if (header.program === KEEPALIVE_PROGRAM) {
      if (header.type === MessageType.Message && header.procedure === KeepaliveProcedure.Ping) {
        this.sendKeepalive(KeepaliveProcedure.Pong);
      }
      return;
    }
    switch (header.type) {
      case MessageType.Reply:
      case MessageType.ReplyWithFds:
        return this.dispatchReply(packet);
      case MessageType.Message:
        return this.dispatchMessage(packet);
      case MessageType.Stream:
      case MessageType.StreamHole:
        return this.dispatchStream(packet);
      case MessageType.Call:
      case MessageType.CallWithFds:
        throw new ProtocolError(
          `libvirtd sent a call (program ${header.program}, procedure ${header.procedure}); clients serve none`,
        );
    }
  }

  private dispatchReply(packet: Packet): void {
    const { serial } = packet.header;
    const call = this.pending.get(serial);
    if (call) {
      // Left pending on mismatch, so the shutdown that follows rejects it with the cause.
      const { program, version, procedure } = packet.header;
      if (program !== call.program || version !== call.version || procedure !== call.procedure) {
        throw new ProtocolError(
          `reply serial ${serial} is for program ${program} v${version} procedure ${procedure}, but call ` +
            `${serial} was program ${call.program} v${call.version} procedure ${call.procedure}`,
        );
      }
      this.pending.delete(serial);
      call.onReply(packet);
      return;
    }
    // After its opening reply, a stream's failures (e.g. a rejected write) come back as replies.
    const stream = this.streams.get(serial);
    if (stream) return stream.handlePacket(packet);
    if (this.drainingStreams.delete(serial)) return;
    throw new ProtocolError(`reply for serial ${serial}, which no call is waiting for`);
  }

  private dispatchMessage(packet: Packet): void {
    const { header } = packet;
    const handlers = this.handlers.get(`${header.program}:${header.procedure}`);
    if (!handlers) return;
    for (const handler of [...handlers]) {
      try {
        handler(new XdrReader(packet.body), header);
      } catch (error) {
        if (this.listenerCount('messageError') > 0) this.emit('messageError', error, header);
        else
          process.emitWarning(
            `libvirt message handler for procedure ${header.procedure} threw: ${String(error)}`,
          );
      }
    }
  }

  private dispatchStream(packet: Packet): void {
    const { serial, status } = packet.header;
    const stream = this.streams.get(serial);
    if (stream && stream.address.procedure === packet.header.procedure) return stream.handlePacket(packet);
    // Packets already in flight when a stream was closed here; the daemon's OK or ERROR is its last word.
    if (this.drainingStreams.has(serial) && status !== MessageStatus.Continue)
      this.drainingStreams.delete(serial);
  }

  private readonly streamChannel: StreamChannel = {
    sendStreamPacket: (address, status, body) => this.sendStreamPacket(address, status, body),
    pauseReading: (stream) => {
      this.pausedBy.add(stream);
      this.socket.pause();
    },
    resumeReading: (stream) => this.resumeReadingFor(stream),
    release: (stream, awaitingPeer) => {
      const { serial } = stream.address;
      if (this.streams.get(serial) === stream) this.streams.delete(serial);
      if (awaitingPeer && !this.closed) this.drainingStreams.add(serial);
      this.resumeReadingFor(stream);
    },
  };

  private resumeReadingFor(stream: LibvirtStream): void {
    if (this.pausedBy.delete(stream) && this.pausedBy.size === 0 && !this.closed) this.socket.resume();
  }

  private sendStreamPacket(address: StreamAddress, status: MessageStatus, body?: Buffer): Promise<void> {
    if (this.closeError) return Promise.reject(this.closeError);
    const packet = encodePacket(
      {
        program: address.program,
        version: address.version,
        procedure: address.procedure,
        type: MessageType.Stream,
        serial: address.serial,
        status,
      },
      body,
    );
    if (this.socket.write(packet)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      if (this.drainWaiters.length === 0) this.socket.once('drain', () => this.releaseDrainWaiters());
      this.drainWaiters.push({ resolve, reject });
    });
  }

  private releaseDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  private sendKeepalive(procedure: KeepaliveProcedure): void {
    if (this.closeError) return;
    this.socket.write(
      encodePacket({
        program: KEEPALIVE_PROGRAM,
        version: PROTOCOL_VERSION,
        procedure,
        type: MessageType.Message,
        serial: 0,
        status: MessageStatus.Ok,
      }),
    );
  }

  private shutdown(reason: CloseReason, message: string, cause?: Error): void {
    if (this.closeError) return;
    const error = new ConnectionClosedError(reason, message, cause ? { cause } : undefined);
    this.closeError = error;
    this.keepalive?.stop();
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const call of calls) call.onClose(error);
    const streams = [...this.streams.values()];
    this.streams.clear();
    this.drainingStreams.clear();
    // A stream cut by our own close() ends without an 'error' event (readers see a premature close), so
    // closing a connection on purpose cannot crash a program that left a stream without an error listener.
    for (const stream of streams) stream.connectionClosed(reason === 'closed-locally' ? undefined : error);
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
    this.socket.destroy();
    this.emit('close', reason === 'closed-locally' ? undefined : error);
  }
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason));
}

/** Turns a reply into the call's result: the decoded return value, or the daemon's error. */
function decodeReply<T>(packet: Packet, procedure: number, readReturn: (reader: XdrReader) => T): T {
  const reader = new XdrReader(packet.body);
  try {
    if (packet.header.status === MessageStatus.Error) throw readRemoteError(reader);
    if (packet.header.status !== MessageStatus.Ok) {
      throw new ProtocolError(`reply to procedure ${procedure} has status ${packet.header.status}`);
    }
    const result = readReturn(reader);
    if (reader.remaining !== 0) {
      throw new ProtocolError(
        `reply to procedure ${procedure} has ${reader.remaining} bytes left after its return value: ` +
          'the decoder does not match the daemon’s protocol version',
      );
    }
    return result;
  } catch (error) {
    if (error instanceof XdrDecodeError) {
      throw new ProtocolError(`reply to procedure ${procedure} is malformed: ${error.message}`, {
        cause: error,
      });
    }
    throw error;
  }
}
