import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { InvalidUriError, TransportError } from './errors.js';

export const SYSTEM_SOCKET = '/run/libvirt/libvirt-sock';
export const SYSTEM_READ_ONLY_SOCKET = '/run/libvirt/libvirt-sock-ro';
export const DEFAULT_TCP_PORT = 16509;
export const DEFAULT_TLS_PORT = 16514;

export type TransportOptions =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number }
  | {
      kind: 'tls';
      host: string;
      port: number;
      /** PEM contents; when absent, read from the matching `*File`. */
      ca?: string | Buffer;
      cert?: string | Buffer;
      key?: string | Buffer;
      caFile?: string;
      certFile?: string;
      keyFile?: string;
      /** Check the daemon's certificate against the CA and the host name (libvirt's `no_verify=1` turns it off). */
      verifyServer?: boolean;
    };

export interface UriOverrides {
  /** Use this unix socket instead of the one the URI implies. */
  socketPath?: string;
  /** Connect to the read-only socket (local system URIs only). */
  readOnly?: boolean;
}

// Query parameters the remote driver consumes itself rather than passing to the daemon.
const SUPPORTED_REMOTE_PARAMS = new Set(['name', 'socket', 'pkipath', 'no_verify']);
const UNSUPPORTED_REMOTE_PARAMS = new Set([
  'command',
  'netcat',
  'keyfile',
  'no_tty',
  'known_hosts',
  'known_hosts_verify',
  'sshauth',
  'auth',
  'mode',
  'proxy',
  'tls_priority',
  'no_sanity',
]);

/** Default PKI files of a libvirt client: per-user ones for non-root users that have them, else system-wide. */
function defaultPkiFiles(): { caFile: string; certFile: string; keyFile: string } {
  const userDir = join(homedir(), '.pki', 'libvirt');
  if (process.getuid?.() !== 0 && existsSync(join(userDir, 'cacert.pem'))) {
    return pkiFilesIn(userDir);
  }
  return {
    caFile: '/etc/pki/CA/cacert.pem',
    certFile: '/etc/pki/libvirt/clientcert.pem',
    keyFile: '/etc/pki/libvirt/private/clientkey.pem',
  };
}

function pkiFilesIn(dir: string): { caFile: string; certFile: string; keyFile: string } {
  return {
    caFile: join(dir, 'cacert.pem'),
    certFile: join(dir, 'clientcert.pem'),
    keyFile: join(dir, 'clientkey.pem'),
  };
}

function sessionSocket(): string {
  const runtimeDir = process.env['XDG_RUNTIME_DIR'];
  return runtimeDir
    ? join(runtimeDir, 'libvirt', 'libvirt-sock')
    : join(homedir(), '.cache', 'libvirt', 'libvirt-sock');
}

/**
 * Works out how to reach the daemon a libvirt URI names (`driver[+transport]://[host][:port]/path[?params]`)
 * and the URI to hand to CONNECT_OPEN, which is the same URI without transport, host, port and the
 * parameters only the client-side remote driver understands — as libvirt's own client does.
 */
export function transportForUri(
  uri: string,
  overrides: UriOverrides = {},
): { transport: TransportOptions; remoteUri: string } {
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    throw new InvalidUriError(
      `'${uri}' is not a URI; libvirt URIs look like qemu:///system or qemu+tls://host/system`,
    );
  }
  const scheme = /^([a-z][a-z0-9-]*)(?:\+([a-z0-9]+))?:$/.exec(parsed.protocol);
  if (!scheme) throw new InvalidUriError(`'${uri}' has an invalid scheme '${parsed.protocol}'`);
  const driver = scheme[1]!;
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const kind = scheme[2] ?? (host ? 'tls' : 'unix');
  if (parsed.username || parsed.password) {
    throw new InvalidUriError(
      `'${uri}' names a user; user names need SASL or SSH, which libvirt-ts does not implement`,
    );
  }

  const params = new URLSearchParams();
  for (const [name, value] of parsed.searchParams) {
    if (UNSUPPORTED_REMOTE_PARAMS.has(name)) {
      throw new InvalidUriError(
        `'${uri}' sets '${name}', a remote-driver option libvirt-ts does not implement`,
      );
    }
    if (!SUPPORTED_REMOTE_PARAMS.has(name)) params.append(name, value);
  }
  const query = params.size > 0 ? `?${params.toString()}` : '';
  const remoteUri = parsed.searchParams.get('name') ?? `${driver}://${parsed.pathname || '/'}${query}`;

  const readOnly = overrides.readOnly ?? false;
  if (readOnly && kind !== 'unix') {
    throw new InvalidUriError(`read-only connections use the local read-only socket, but '${uri}' is remote`);
  }
  const port = parsed.port ? Number(parsed.port) : undefined;

  switch (kind) {
    case 'unix': {
      if (host) throw new InvalidUriError(`'${uri}' names host '${host}', but unix sockets are local`);
      const explicit = overrides.socketPath ?? parsed.searchParams.get('socket') ?? undefined;
      const session = parsed.pathname === '/session';
      if (readOnly && (session || explicit)) {
        throw new InvalidUriError(`'${uri}': only the system daemon has a read-only socket`);
      }
      const path =
        explicit ?? (session ? sessionSocket() : readOnly ? SYSTEM_READ_ONLY_SOCKET : SYSTEM_SOCKET);
      return { transport: { kind: 'unix', path }, remoteUri };
    }
    case 'tcp':
      return {
        transport: { kind: 'tcp', host: host || 'localhost', port: port ?? DEFAULT_TCP_PORT },
        remoteUri,
      };
    case 'tls': {
      const pkiPath = parsed.searchParams.get('pkipath');
      const files = pkiPath ? pkiFilesIn(pkiPath) : defaultPkiFiles();
      const noVerify = parsed.searchParams.get('no_verify');
      if (noVerify !== null && noVerify !== '0' && noVerify !== '1') {
        throw new InvalidUriError(`'${uri}': no_verify must be 0 or 1, got '${noVerify}'`);
      }
      return {
        transport: {
          kind: 'tls',
          host: host || 'localhost',
          port: port ?? DEFAULT_TLS_PORT,
          ...files,
          verifyServer: noVerify !== '1',
        },
        remoteUri,
      };
    }
    case 'ssh':
    case 'libssh':
    case 'libssh2':
    case 'ext':
      throw new InvalidUriError(
        `'${uri}' uses the ${kind} transport, which libvirt-ts does not implement: use unix, tcp or tls ` +
          '(for a remote host, tunnel the unix socket or enable libvirtd’s TLS listener)',
      );
    default:
      throw new InvalidUriError(
        `'${uri}' uses unknown transport '${kind}'; libvirt knows unix, tcp, tls and ssh`,
      );
  }
}

function describe(transport: TransportOptions): string {
  return transport.kind === 'unix'
    ? `unix socket ${transport.path}`
    : `${transport.kind} ${transport.host}:${transport.port}`;
}

function hint(transport: TransportOptions, error: NodeJS.ErrnoException): string {
  if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') {
    return transport.kind === 'unix'
      ? 'is libvirtd running? (start it, or pass the socket path with ?socket=)'
      : 'is libvirtd listening there? (it needs --listen and listen_tcp/listen_tls in libvirtd.conf)';
  }
  if (error.code === 'EACCES')
    return 'this user may not open the socket; use the read-only socket or run as root';
  return 'check the address and the daemon log';
}

async function readPem(
  value: string | Buffer | undefined,
  file: string | undefined,
  what: string,
): Promise<Buffer | string | undefined> {
  if (value !== undefined) return value;
  if (file === undefined) return undefined;
  try {
    return await readFile(file);
  } catch (error) {
    throw new TransportError(
      `cannot read the TLS ${what} ${file}: ${(error as Error).message}; ` +
        "install libvirt's client PKI files there or point pkipath= at them",
      { cause: error },
    );
  }
}

/**
 * Opens the socket a {@link TransportOptions} describes. For TLS it also waits for libvirtd's one-byte
 * verdict on our certificate, which the daemon sends before any RPC traffic. The socket is returned
 * paused, with no listeners left attached.
 */
export async function connectTransport(
  transport: TransportOptions,
  signal?: AbortSignal,
): Promise<net.Socket | tls.TLSSocket> {
  signal?.throwIfAborted();
  let options: { socket: net.Socket; readyEvent: string };
  if (transport.kind === 'tls') {
    const [ca, cert, key] = await Promise.all([
      readPem(transport.ca, transport.caFile, 'CA certificate'),
      readPem(transport.cert, transport.certFile, 'client certificate'),
      readPem(transport.key, transport.keyFile, 'client key'),
    ]);
    signal?.throwIfAborted();
    const socket = tls.connect({
      host: transport.host,
      port: transport.port,
      ...(net.isIP(transport.host) === 0 ? { servername: transport.host } : {}),
      ...(ca !== undefined ? { ca } : {}),
      ...(cert !== undefined ? { cert } : {}),
      ...(key !== undefined ? { key } : {}),
      rejectUnauthorized: transport.verifyServer ?? true,
    });
    options = { socket, readyEvent: 'secureConnect' };
  } else if (transport.kind === 'tcp') {
    options = { socket: net.connect({ host: transport.host, port: transport.port }), readyEvent: 'connect' };
  } else {
    options = { socket: net.connect({ path: transport.path }), readyEvent: 'connect' };
  }
  const { socket, readyEvent } = options;

  try {
    await new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        socket.off(readyEvent, onReady);
        socket.off('error', onError);
        socket.off('close', onClose);
        socket.off('data', onVerdict);
        signal?.removeEventListener('abort', onAbort);
      };
      const fail = (error: Error): void => {
        cleanup();
        reject(error);
      };
      const onError = (error: NodeJS.ErrnoException): void =>
        fail(
          new TransportError(
            `cannot connect to libvirtd at ${describe(transport)}: ${error.message}; ${hint(transport, error)}`,
            { cause: error },
          ),
        );
      const onClose = (): void =>
        fail(
          new TransportError(
            transport.kind === 'tls'
              ? `libvirtd at ${describe(transport)} closed the connection after the TLS handshake: it rejected this ` +
                  "client's certificate or address (see tls_allowed_dn_list in libvirtd.conf and the daemon log)"
              : `libvirtd at ${describe(transport)} closed the connection while it was being opened`,
          ),
        );
      const onAbort = (): void =>
        fail(signal?.reason instanceof Error ? signal.reason : new Error(String(signal?.reason)));
      const onVerdict = (chunk: Buffer): void => {
        socket.pause();
        if (chunk[0] !== 1) {
          fail(
            new TransportError(
              `libvirtd at ${describe(transport)} refused this client after the TLS handshake`,
            ),
          );
          return;
        }
        if (chunk.length > 1) socket.unshift(chunk.subarray(1));
        cleanup();
        resolve();
      };
      const onReady = (): void => {
        if (transport.kind !== 'tls') {
          cleanup();
          resolve();
          return;
        }
        socket.on('data', onVerdict);
      };
      socket.once(readyEvent, onReady);
      socket.once('error', onError);
      socket.once('close', onClose);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  } catch (error) {
    socket.destroy();
    throw error;
  }
  if (transport.kind !== 'unix') socket.setNoDelay(true);
  return socket;
}
