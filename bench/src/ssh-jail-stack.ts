import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { callHostd } from '@multiverse/hostd';

// The two servers the bench compares, each started by the bench on a loopback port of its own: a real
// hostd (libvirt's test driver) with its SSH jail, and OpenSSH's sshd with its own config and host key.

const HOSTD_MAIN = fileURLToPath(new URL('../../hostd/dist/main.js', import.meta.url));

async function waitUntil(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what} did not come up within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function tcpAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface RunningHostd {
  readonly process: ChildProcess;
  readonly socket: string;
  readonly stateDir: string;
  /** What it logged, for error messages. */
  log(): string;
}

export async function startHostd(root: string, jailPort: number): Promise<RunningHostd> {
  const stateDir = join(root, 'state');
  const runDir = join(root, 'run');
  let log = '';
  const child = spawn(process.execPath, [HOSTD_MAIN], {
    env: {
      PATH: process.env.PATH,
      MULTIVERSE_STATE_DIR: stateDir,
      MULTIVERSE_RUN_DIR: runDir,
      MULTIVERSE_LIBVIRT_URI: 'test:///default',
      MULTIVERSE_ACCELERATOR: 'tcg',
      MULTIVERSE_DISPOSABLE_POOL: 'none',
      MULTIVERSE_JAIL_LISTEN: `127.0.0.1:${jailPort}`,
      MULTIVERSE_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const socket = join(runDir, 'hostd.sock');
  await waitUntil(
    'hostd',
    async () => {
      if (child.exitCode !== null) throw new Error(`hostd exited: ${log}`);
      return (
        (await callHostd(socket, 'host.info', {}).then(
          () => true,
          () => false,
        )) && tcpAnswers(jailPort)
      );
    },
    60_000,
  );
  return { process: child, socket, stateDir, log: () => log };
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Adds a jail user with the bench's key and returns their TOTP secret. */
export async function addJailUser(socket: string, name: string, publicKey: string): Promise<string> {
  await callHostd(socket, 'user.add', { name, role: 'viewer', keys: [publicKey] });
  const { uri } = (await callHostd(socket, 'user.otp-enroll', { name })) as { uri: string };
  const secret = new URL(uri).searchParams.get('secret');
  if (secret === null) throw new Error(`no secret in ${uri}`);
  return secret;
}

/**
 * OpenSSH's sshd on a loopback port with a config of its own (public-key login as root, the bench's key
 * only, nothing else), in the foreground so the bench owns its process.
 */
export async function startSshd(directory: string, port: number, publicKey: string): Promise<ChildProcess> {
  await mkdir(directory, { recursive: true, mode: 0o700 });
  const hostKey = join(directory, 'ssh_host_ed25519_key');
  const keygen = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  if (keygen.status !== 0) throw new Error(`ssh-keygen: ${keygen.stderr.toString()}`);
  const authorizedKeys = join(directory, 'authorized_keys');
  await writeFile(authorizedKeys, `${publicKey}\n`, { mode: 0o600 });
  const config = join(directory, 'sshd_config');
  await writeFile(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${join(directory, 'sshd.pid')}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      'AuthenticationMethods publickey',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'AllowUsers root',
      'UsePAM no',
      // The key file lives under /tmp, which is world-writable: strict mode would refuse every key in it.
      'StrictModes no',
      'PrintMotd no',
      'PrintLastLog no',
      'X11Forwarding no',
      'AllowTcpForwarding no',
      'MaxStartups 300',
      '',
    ].join('\n'),
  );
  // The privilege-separation directory sshd insists on; Debian's service would make it.
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const check = spawnSync('/usr/sbin/sshd', ['-t', '-f', config]);
  if (check.status !== 0) throw new Error(`sshd refuses its config: ${check.stderr.toString()}`);
  const sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  sshd.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
  await waitUntil(
    'sshd',
    async () => {
      if (sshd.exitCode !== null) throw new Error(`sshd exited: ${log}`);
      return tcpAnswers(port);
    },
    20_000,
  );
  return sshd;
}
