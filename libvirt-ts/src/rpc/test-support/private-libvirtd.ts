import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, chown, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const NOBODY = 65534;

export interface PrivateLibvirtdOptions {
  /** Also listen on 127.0.0.1 over plain TCP without authentication. */
  tcp?: boolean;
  /** Also listen on 127.0.0.1 over TLS, with a fresh CA, server and client certificate. */
  tls?: boolean;
  /** libvirtd.conf keepalive_interval / keepalive_count: how the daemon pings us. */
  keepaliveIntervalS?: number;
  keepaliveCount?: number;
}

export interface PrivateLibvirtd {
  readonly pid: number;
  readonly socketPath: string;
  /** Set when started with `tcp`. */
  readonly tcpPort: number | undefined;
  /** Set when started with `tls`. */
  readonly tlsPort: number | undefined;
  /** With `tls`: a directory laid out like libvirt's `pkipath` (cacert.pem, clientcert.pem, clientkey.pem). */
  readonly clientPkiDir: string | undefined;
  signal(signal: NodeJS.Signals): void;
  /** Resolves when the daemon process has exited. */
  readonly exited: Promise<void>;
  /** Stops the daemon (SIGTERM, then SIGKILL) and deletes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

async function freeLoopbackPort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

const openssl = (args: string[], cwd: string): Promise<unknown> =>
  promisify(execFile)('openssl', args, { cwd });

function certificateConfig(commonName: string, extensions: string[]): string {
  return [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    '[dn]',
    `CN = ${commonName}`,
    '[ext]',
    ...extensions,
  ].join('\n');
}

/**
 * A CA, a server certificate for localhost/127.0.0.1 and a client certificate, with the key usages libvirt's
 * GnuTLS checks insist on. Returns the directory of server files and the client's pkipath directory.
 */
async function makeTestPki(dir: string): Promise<{ serverDir: string; clientDir: string }> {
  const serverDir = join(dir, 'pki-server');
  const clientDir = join(dir, 'pki-client');
  await mkdir(serverDir);
  await mkdir(clientDir);
  const leaf = [
    'basicConstraints = critical,CA:FALSE',
    'keyUsage = critical,digitalSignature,keyEncipherment',
  ];
  const configs = {
    ca: certificateConfig('libvirt-ts test CA', [
      'basicConstraints = critical,CA:TRUE',
      'keyUsage = critical,keyCertSign',
    ]),
    server: certificateConfig('localhost', [
      ...leaf,
      'extendedKeyUsage = serverAuth',
      'subjectAltName = DNS:localhost,IP:127.0.0.1',
    ]),
    client: certificateConfig('libvirt-ts test client', [...leaf, 'extendedKeyUsage = clientAuth']),
  };
  for (const [name, text] of Object.entries(configs))
    await writeFile(join(serverDir, `${name}.cnf`), text + '\n');
  const common = ['-days', '2', '-extensions', 'ext'];
  await openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-config',
      'ca.cnf',
      ...common,
    ],
    serverDir,
  );
  for (const name of ['server', 'client']) {
    await openssl(
      [
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.csr`,
        '-config',
        `${name}.cnf`,
      ],
      serverDir,
    );
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${name}.pem`,
        '-extfile',
        `${name}.cnf`,
        ...common,
      ],
      serverDir,
    );
  }
  await copyFile(join(serverDir, 'ca.pem'), join(clientDir, 'cacert.pem'));
  await copyFile(join(serverDir, 'client.pem'), join(clientDir, 'clientcert.pem'));
  await copyFile(join(serverDir, 'client.key'), join(clientDir, 'clientkey.pem'));
  // The daemon runs as nobody and must read its key; these throw-away keys guard nothing.
  for (const file of ['server.key', 'server.pem', 'ca.pem']) await chmod(join(serverDir, file), 0o644);
  await chmod(serverDir, 0o755);
  return { serverDir, clientDir };
}

async function accepts(options: net.NetConnectOpts): Promise<boolean> {
  const socket = net.connect(options);
  try {
    await once(socket, 'connect');
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

/**
 * A libvirtd of our own, in session mode as user nobody with its own runtime directory, so tests may stop,
 * freeze or kill it without touching the shared system daemon. It serves test:///default. Needs root.
 */
export async function startPrivateLibvirtd(options: PrivateLibvirtdOptions = {}): Promise<PrivateLibvirtd> {
  if (process.getuid?.() !== 0) throw new Error('starting a private libvirtd as user nobody needs root');
  const dir = await mkdtemp(join(tmpdir(), 'libvirt-ts-daemon-'));
  await chmod(dir, 0o755);
  const home = join(dir, 'home');
  const runtime = join(dir, 'run');
  for (const path of [home, runtime]) {
    await mkdir(path, { mode: 0o700 });
    await chown(path, NOBODY, NOBODY);
  }
  const tcpPort = options.tcp ? await freeLoopbackPort() : undefined;
  const tlsPort = options.tls ? await freeLoopbackPort() : undefined;
  const pki = options.tls ? await makeTestPki(dir) : undefined;
  const config = [
    `listen_tls = ${tlsPort ? 1 : 0}`,
    `listen_tcp = ${tcpPort ? 1 : 0}`,
    'listen_addr = "127.0.0.1"',
    `tcp_port = "${tcpPort ?? 16509}"`,
    `tls_port = "${tlsPort ?? 16514}"`,
    'auth_tcp = "none"',
    'auth_tls = "none"',
    ...(pki
      ? [
          `key_file = "${join(pki.serverDir, 'server.key')}"`,
          `cert_file = "${join(pki.serverDir, 'server.pem')}"`,
          `ca_file = "${join(pki.serverDir, 'ca.pem')}"`,
        ]
      : []),
    'auth_unix_rw = "none"',
    `keepalive_interval = ${options.keepaliveIntervalS ?? 5}`,
    `keepalive_count = ${options.keepaliveCount ?? 5}`,
  ];
  const configPath = join(dir, 'libvirtd.conf');
  await writeFile(configPath, config.join('\n') + '\n', { mode: 0o644 });

  const child = spawn('libvirtd', [...(tcpPort || tlsPort ? ['--listen'] : []), '-f', configPath], {
    uid: NOBODY,
    gid: NOBODY,
    env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin', HOME: home, XDG_RUNTIME_DIR: runtime },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (log += text));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not spawn libvirtd: is it installed?');

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (!stopped) {
      stopped = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGTERM');
        const exitedInTime = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
        if (!exitedInTime) child.kill('SIGKILL');
        await exited;
      }
    }
    await rm(dir, { recursive: true, force: true });
  };

  const socketPath = join(runtime, 'libvirt', 'libvirt-sock');
  const deadline = Date.now() + 15000;
  for (;;) {
    const ready =
      (await accepts({ path: socketPath })) &&
      (tcpPort === undefined || (await accepts({ host: '127.0.0.1', port: tcpPort }))) &&
      (tlsPort === undefined || (await accepts({ host: '127.0.0.1', port: tlsPort })));
    if (ready) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`private libvirtd did not come up (exit code ${child.exitCode}); its log:\n${log}`);
    }
    await sleep(50);
  }

  return {
    pid,
    socketPath,
    tcpPort,
    tlsPort,
    clientPkiDir: pki?.clientDir,
    signal: (signal) => child.kill(signal),
    exited,
    stop,
  };
}
