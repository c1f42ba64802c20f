import { randomBytes } from 'node:crypto';
import { chmod, chown, lstat, mkdir, mkdtemp, rename, rmdir, unlink } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream';
import {
  HTTP_CONNECT_ESTABLISHED,
  HttpConnectRejected,
  MAX_HTTP_HEAD_BYTES,
  formatHttpError,
  parseHttpConnect,
} from './http-connect.js';
import { torIsolationCredentials } from './isolation.js';
import { connectThroughSocks5, type SocksProxyEndpoint } from './socks5-client.js';
import { Socks5Error } from './socks5-error.js';
import { SOCKS_REPLY, SOCKS_VERSION, describeSocksReply, type SocksDestination } from './socks5-protocol.js';
import { Socks5RequestRejected, readSocks5Request, reply } from './socks5-server-handshake.js';
import { HandshakeReadError, HandshakeReader } from './stream-reader.js';

export type SocketBridgeErrorCode =
  /** A client name or socket option is not acceptable. */
  | 'BRIDGE_INVALID_CLIENT'
  /** A client of that name exists, or its socket path is held by a live server. */
  | 'BRIDGE_CLIENT_EXISTS'
  /** The bridge was used after close(). */
  | 'BRIDGE_CLOSED';

export class SocketBridgeError extends Error {
  override readonly name = 'SocketBridgeError';

  constructor(
    readonly code: SocketBridgeErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface SocketBridgeOptions {
  /** tor's SOCKS port (TCP, or `SocksPort unix:…`). Its IsolateSOCKSAuth must be on (tor's default). */
  readonly tor: SocksProxyEndpoint;
  /** Directory for the client sockets (created if missing, mode 0755 so each socket's own mode decides). */
  readonly directory: string;
  /** Limit for a client to send its SOCKS5 or CONNECT request (default 30 s). */
  readonly handshakeTimeoutMs?: number;
  /** Limit for tor to connect to the destination (default 120 s, tor's own stream timeout is similar). */
  readonly connectTimeoutMs?: number;
  /** Most connections open at once per client socket (default 256). */
  readonly maxConnectionsPerClient?: number;
  /** Called once per connection when its handshake ends, successfully or not. */
  readonly onConnection?: (record: BridgeConnectionRecord) => void;
}

export interface BridgeClientOptions {
  /** 1-64 of a-z A-Z 0-9 _ -, starting with a letter or digit; also the socket's file name. */
  readonly name: string;
  /** Owner of the socket file (default: this process's user). */
  readonly uid?: number;
  readonly gid?: number;
  /** Permission bits of the socket file (default 0600: only its owner, and root, may connect). */
  readonly mode?: number;
}

export interface BridgeClient {
  readonly name: string;
  readonly socketPath: string;
}

export type BridgeProtocol = 'socks5' | 'http-connect';

export interface BridgeConnectionRecord {
  readonly client: string;
  readonly protocol: BridgeProtocol | 'unknown';
  readonly destination?: string;
  /**
   * connected: tunnel open. tor-refused: tor answered the CONNECT with an error (see socksReply).
   * tor-unreachable: tor's SOCKS port could not be used. rejected: the client's request was invalid or
   * unsupported. aborted: the client went away or was too slow.
   */
  readonly outcome: 'connected' | 'tor-refused' | 'tor-unreachable' | 'rejected' | 'aborted';
  readonly socksReply?: number;
  readonly detail?: string;
}

interface ClientListener {
  readonly client: BridgeClient;
  readonly server: Server;
}

const CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
/** sun_path is 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

/**
 * A userspace bridge into Tor: each client gets its own unix socket speaking SOCKS5 (CONNECT, names
 * including .onion) and HTTP CONNECT, and every connection is forwarded through tor's SOCKS port with
 * credentials that give that client its own circuits (see isolation.ts). Who a client is comes from the
 * socket it connected to, and who may connect to a socket is enforced by the kernel through the socket
 * file's owner and mode; Node cannot read SO_PEERCRED, and this needs no root.
 */
export class SocketBridge {
  private readonly listeners = new Map<string, ClientListener>();
  /** Every open socket (client side and tor side) and the client it belongs to. */
  private readonly connections = new Map<Socket, string>();
  private readonly nonce = randomBytes(12).toString('hex');
  private closed = false;

  private constructor(private readonly options: SocketBridgeOptions) {}

  static async start(options: SocketBridgeOptions): Promise<SocketBridge> {
    await mkdir(options.directory, { recursive: true, mode: 0o755 });
    return new SocketBridge(options);
  }

  /** Opens the socket for one client. The socket appears with its final owner and mode, never looser. */
  async addClient(options: BridgeClientOptions): Promise<BridgeClient> {
    if (this.closed) throw new SocketBridgeError('BRIDGE_CLOSED', 'the bridge is closed');
    if (!CLIENT_NAME.test(options.name)) {
      throw new SocketBridgeError(
        'BRIDGE_INVALID_CLIENT',
        `client name ${JSON.stringify(options.name)} must be 1-64 of A-Z a-z 0-9 _ -, starting with a letter or digit`,
      );
    }
    if (this.listeners.has(options.name)) {
      throw new SocketBridgeError(
        'BRIDGE_CLIENT_EXISTS',
        `the bridge already has a client named ${options.name}`,
      );
    }
    const socketPath = join(this.options.directory, `${options.name}.sock`);
    if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES - 24) {
      throw new SocketBridgeError(
        'BRIDGE_INVALID_CLIENT',
        `socket path ${socketPath} is too long for a unix socket; use a shorter bridge directory`,
      );
    }
    await this.removeStaleSocket(socketPath);

    const client: BridgeClient = { name: options.name, socketPath };
    const server = createServer({ allowHalfOpen: true }, (socket) => this.accept(client, socket));
    server.maxConnections = this.options.maxConnectionsPerClient ?? 256;
    // Listen in a private directory, set owner and mode, then move the socket into place: there is no
    // moment at which the socket exists with the process umask's looser permissions.
    const staging = await mkdtemp(join(this.options.directory, '.staging-'));
    const stagingPath = join(staging, 's');
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(stagingPath, () => {
          server.off('error', reject);
          resolve();
        });
      });
      await chmod(stagingPath, options.mode ?? 0o600);
      if (options.uid !== undefined || options.gid !== undefined) {
        await chown(
          stagingPath,
          options.uid ?? process.getuid?.() ?? 0,
          options.gid ?? process.getgid?.() ?? 0,
        );
      }
      await rename(stagingPath, socketPath);
    } catch (error) {
      server.close();
      throw new SocketBridgeError('BRIDGE_INVALID_CLIENT', `cannot open the socket for ${options.name}`, {
        cause: error,
      });
    } finally {
      await rmdir(staging).catch(() => undefined);
    }
    this.listeners.set(options.name, { client, server });
    return client;
  }

  /** Closes a client's socket and every connection it has open. */
  async removeClient(name: string): Promise<void> {
    const listener = this.listeners.get(name);
    if (!listener) return;
    this.listeners.delete(name);
    await this.closeListener(listener);
  }

  get clients(): readonly BridgeClient[] {
    return [...this.listeners.values()].map((listener) => listener.client);
  }

  get openConnections(): number {
    return this.connections.size;
  }

  /** Stops accepting, closes every connection and removes the sockets. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const listeners = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(listeners.map((listener) => this.closeListener(listener)));
    for (const socket of this.connections.keys()) socket.destroy();
    this.connections.clear();
  }

  private async closeListener(listener: ClientListener): Promise<void> {
    const closed = new Promise<void>((resolve) => listener.server.close(() => resolve()));
    for (const [socket, owner] of this.connections) {
      if (owner === listener.client.name) socket.destroy();
    }
    await closed;
    await unlink(listener.client.socketPath).catch(() => undefined);
  }

  /** A socket file left by a bridge that died is replaced; one that still answers is not. */
  private async removeStaleSocket(socketPath: string): Promise<void> {
    const stats = await lstat(socketPath).catch(() => null);
    if (!stats) return;
    if (!stats.isSocket()) {
      throw new SocketBridgeError(
        'BRIDGE_CLIENT_EXISTS',
        `${socketPath} exists and is not a socket; remove it`,
      );
    }
    const alive = await new Promise<boolean>((resolve) => {
      const probe = createConnection({ path: socketPath });
      probe.once('connect', () => {
        probe.destroy();
        resolve(true);
      });
      probe.once('error', () => resolve(false));
    });
    if (alive)
      throw new SocketBridgeError('BRIDGE_CLIENT_EXISTS', `${socketPath} is in use by a running server`);
    await unlink(socketPath);
  }

  private accept(client: BridgeClient, socket: Socket): void {
    this.connections.set(socket, client.name);
    socket.once('close', () => this.connections.delete(socket));
    socket.on('error', () => socket.destroy());
    this.handshake(client, socket).catch(() => socket.destroy());
  }

  private async handshake(client: BridgeClient, socket: Socket): Promise<void> {
    const reader = new HandshakeReader(
      socket,
      this.options.handshakeTimeoutMs ?? 30_000,
      `request from bridge client ${client.name}`,
    );
    const record = (entry: Omit<BridgeConnectionRecord, 'client'>): void =>
      this.options.onConnection?.({ client: client.name, ...entry });

    let first: number;
    try {
      first = (await reader.readExactly(1))[0] as number;
    } catch (error) {
      record({ protocol: 'unknown', outcome: 'aborted', detail: (error as Error).message });
      socket.destroy();
      return;
    }
    if (first === SOCKS_VERSION) {
      await this.handleSocks5(client, socket, reader, record);
    } else if (first >= 0x41 && first <= 0x5a) {
      socket.unshift(Buffer.from([first]));
      await this.handleHttpConnect(client, socket, reader, record);
    } else {
      if (first === 0x04) socket.write(Buffer.from([0, 0x5b, 0, 0, 0, 0, 0, 0])); // SOCKS4 "request rejected"
      record({
        protocol: 'unknown',
        outcome: 'rejected',
        detail:
          first === 0x04 ? 'SOCKS4 is not supported; use SOCKS5' : `unknown protocol (first byte ${first})`,
      });
      socket.end();
    }
  }

  private async handleSocks5(
    client: BridgeClient,
    socket: Socket,
    reader: HandshakeReader,
    record: (entry: Omit<BridgeConnectionRecord, 'client'>) => void,
  ): Promise<void> {
    let request;
    try {
      request = await readSocks5Request(socket, reader);
    } catch (error) {
      const rejected = error instanceof Socks5RequestRejected;
      record({
        protocol: 'socks5',
        outcome: rejected ? 'rejected' : 'aborted',
        ...(rejected && error.reply !== null ? { socksReply: error.reply } : {}),
        detail: (error as Error).message,
      });
      socket.end();
      return;
    }
    const where = formatDestination(request.destination);
    const upstream = await this.connectThroughTor(client, request).catch((error: unknown) => error as Error);
    if (upstream instanceof Error) {
      const { code, outcome } = socksFailure(upstream);
      reply(socket, code);
      record({ protocol: 'socks5', destination: where, outcome, socksReply: code, detail: upstream.message });
      socket.end();
      return;
    }
    reply(socket, SOCKS_REPLY.succeeded);
    record({ protocol: 'socks5', destination: where, outcome: 'connected' });
    this.splice(client, socket, upstream);
  }

  private async handleHttpConnect(
    client: BridgeClient,
    socket: Socket,
    reader: HandshakeReader,
    record: (entry: Omit<BridgeConnectionRecord, 'client'>) => void,
  ): Promise<void> {
    let request;
    try {
      const head = await reader.readUntil('\r\n\r\n', MAX_HTTP_HEAD_BYTES);
      request = parseHttpConnect(head.toString('latin1'));
    } catch (error) {
      const status =
        error instanceof HttpConnectRejected
          ? error.status
          : error instanceof HandshakeReadError && error.reason === 'too-long'
            ? 431
            : error instanceof HandshakeReadError && error.reason === 'timeout'
              ? 408
              : null;
      record({
        protocol: 'http-connect',
        outcome: status === null || status === 408 ? 'aborted' : 'rejected',
        detail: (error as Error).message,
      });
      if (status !== null) socket.end(formatHttpError(status, (error as Error).message));
      else socket.destroy();
      return;
    }
    const where = formatDestination(request.destination);
    const upstream = await this.connectThroughTor(client, request).catch((error: unknown) => error as Error);
    if (upstream instanceof Error) {
      const { code, outcome } = socksFailure(upstream);
      const reason =
        outcome === 'tor-unreachable'
          ? `the bridge cannot reach tor: ${upstream.message}`
          : `tor could not connect to ${where}: ${describeSocksReply(code)} (SOCKS reply 0x${code.toString(16).padStart(2, '0')})`;
      socket.end(
        formatHttpError(
          502,
          reason,
          outcome === 'tor-unreachable' ? 'proxy_internal_error' : proxyStatusFor(code),
        ),
      );
      record({
        protocol: 'http-connect',
        destination: where,
        outcome,
        socksReply: code,
        detail: upstream.message,
      });
      return;
    }
    socket.write(HTTP_CONNECT_ESTABLISHED);
    record({ protocol: 'http-connect', destination: where, outcome: 'connected' });
    this.splice(client, socket, upstream);
  }

  private connectThroughTor(
    client: BridgeClient,
    request: { destination: SocksDestination; username?: string; password?: string },
  ): Promise<Socket> {
    const credentials = torIsolationCredentials(this.nonce, client.name, request);
    return connectThroughSocks5(this.options.tor, request.destination, {
      ...credentials,
      timeoutMs: this.options.connectTimeoutMs ?? 120_000,
    });
  }

  /** Copies bytes both ways; an error or close on either side ends both. */
  private splice(client: BridgeClient, socket: Socket, upstream: Socket): void {
    // The client may have gone (or been removed) while tor was connecting.
    if (socket.destroyed) {
      upstream.destroy();
      return;
    }
    this.connections.set(upstream, client.name);
    upstream.once('close', () => {
      this.connections.delete(upstream);
      socket.destroy();
    });
    socket.once('close', () => upstream.destroy());
    const destroyBoth = (error: Error | null | undefined): void => {
      if (!error) return;
      socket.destroy();
      upstream.destroy();
    };
    pipeline(socket, upstream, destroyBoth);
    pipeline(upstream, socket, destroyBoth);
  }
}

function formatDestination(destination: SocksDestination): string {
  return destination.host.includes(':')
    ? `[${destination.host}]:${destination.port}`
    : `${destination.host}:${destination.port}`;
}

/** The SOCKS5 reply to give our client for a failed upstream CONNECT: tor's own code when it gave one. */
function socksFailure(error: Error): { code: number; outcome: 'tor-refused' | 'tor-unreachable' } {
  if (error instanceof Socks5Error && error.code === 'SOCKS5_REPLY' && error.reply !== undefined) {
    return { code: error.reply, outcome: 'tor-refused' };
  }
  if (error instanceof Socks5Error && error.code === 'SOCKS5_TIMEOUT') {
    return { code: SOCKS_REPLY.ttlExpired, outcome: 'tor-refused' };
  }
  return { code: SOCKS_REPLY.generalFailure, outcome: 'tor-unreachable' };
}

/** RFC 9209 error type for a SOCKS reply code. */
function proxyStatusFor(code: number): string {
  switch (code) {
    case SOCKS_REPLY.notAllowed:
      return 'destination_ip_prohibited';
    case SOCKS_REPLY.networkUnreachable:
      return 'destination_ip_unroutable';
    case SOCKS_REPLY.connectionRefused:
      return 'connection_refused';
    case SOCKS_REPLY.ttlExpired:
      return 'connection_timeout';
    case SOCKS_REPLY.onionDescriptorNotFound:
    case SOCKS_REPLY.onionDescriptorInvalid:
    case SOCKS_REPLY.onionInvalidAddress:
      return 'destination_not_found';
    case SOCKS_REPLY.generalFailure:
    case SOCKS_REPLY.hostUnreachable:
    case SOCKS_REPLY.onionIntroductionFailed:
    case SOCKS_REPLY.onionRendezvousFailed:
    case SOCKS_REPLY.onionIntroductionTimedOut:
    case SOCKS_REPLY.onionMissingClientAuth:
    case SOCKS_REPLY.onionWrongClientAuth:
      return 'destination_unavailable';
    default:
      return 'proxy_internal_error';
  }
}
