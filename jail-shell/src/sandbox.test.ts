import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, chown, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { JailShellError } from './errors.js';
import { lookupSandboxUser, sandboxedCommand, type SandboxUser } from './sandbox.js';
import { InterpreterLauncher } from './session-launcher.js';

// The sandbox every jail session runs in, probed from inside: testing/sandbox-probe.ts is started
// the way a session interpreter is (InterpreterLauncher, bubblewrap, the multiverse-jail user) and
// reports what it could reach.

const DIST = dirname(fileURLToPath(import.meta.url));
const PROBE = join(DIST, 'testing', 'sandbox-probe.js');
const SOCKET_INSIDE = '/run/jail/probe.sock';

interface ProbeReport {
  uid: number;
  gid: number;
  groups: number[];
  pid: number;
  hostname: string;
  environment: string[];
  rootEntries: string[];
  tcpToHostLoopback: string;
  tcpToOutside: string;
  unixSocket: string;
  secretDirectory: string;
  shadow: string;
  hostProcesses: string;
  setuidRoot: string;
  setuidBinaryUid: string;
  writes: Record<string, string>;
}

describe('the session sandbox (bubblewrap as an unprivileged user)', () => {
  let workDir: string;
  let sandboxUser: SandboxUser;
  let tcpServer: Server;
  let unixServer: Server;
  let tcpConnections = 0;
  let report: ProbeReport;
  let exitCode: number;
  let secretDirectory: string;
  let setuidId: string;

  before(async () => {
    sandboxUser = lookupSandboxUser('multiverse-jail');
    workDir = await mkdtemp(join(tmpdir(), 'jail-shell-sandbox-'));
    // The sandbox user must be able to reach what is bound in (bwrap runs as that user).
    await chmod(workDir, 0o755);
    secretDirectory = join(workDir, 'state');
    await mkdir(secretDirectory, { mode: 0o700 });
    await writeFile(join(secretDirectory, 'hostd.sqlite'), 'secret', { mode: 0o600 });
    const setuidDirectory = join(workDir, 'setuid');
    await mkdir(setuidDirectory, { mode: 0o755 });
    setuidId = join(setuidDirectory, 'id');
    await copyFile('/usr/bin/id', setuidId);
    await chmod(setuidId, 0o4755);

    tcpServer = createServer((socket) => {
      tcpConnections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => tcpServer.listen(0, '127.0.0.1', resolve));
    const tcpPort = (tcpServer.address() as { port: number }).port;

    const socketPath = join(workDir, 'probe.sock');
    unixServer = createServer((socket) =>
      socket.on('data', (chunk: Buffer) => {
        if (chunk.toString().startsWith('ping')) socket.end('pong\n');
      }),
    );
    await new Promise<void>((resolve) => unixServer.listen(socketPath, resolve));
    await chown(socketPath, sandboxUser.uid, sandboxUser.gid);
    await chmod(socketPath, 0o600);

    const readOnlyPaths = [DIST, setuidDirectory];
    if (!process.execPath.startsWith('/usr/')) readOnlyPaths.push(dirname(process.execPath));
    const launcher = new InterpreterLauncher({
      program: process.execPath,
      programArguments: [
        PROBE,
        `--host-port=${tcpPort}`,
        `--socket=${SOCKET_INSIDE}`,
        `--secret-dir=${secretDirectory}`,
        `--setuid-id=${setuidId}`,
        `--writable-probe=${['/probe', '/usr/probe', '/dev/probe', '/dev/shm/probe', '/run/jail/probe', join(DIST, 'probe')].join(',')}`,
      ],
      sandbox: {
        user: sandboxUser,
        readOnlyPaths,
        sockets: [{ source: socketPath, target: SOCKET_INSIDE }],
      },
    });
    const probe = await launcher.launch({
      user: { name: 'probe', role: 'viewer' },
      source: 'test',
    });
    let stdout = '';
    let stderr = '';
    probe.onOutput((data, stream) => {
      if (stream === 'stdout') stdout += data.toString();
      else stderr += data.toString();
    });
    probe.endInput();
    exitCode = await new Promise<number>((resolve) => probe.onExit(resolve));
    assert.equal(exitCode, 0, `the probe failed: ${stderr}`);
    report = JSON.parse(stdout) as ProbeReport;
  });

  after(async () => {
    tcpServer?.close();
    unixServer?.close();
    await rm(workDir, { recursive: true, force: true });
  });

  it('runs as the unprivileged user, without root’s groups', () => {
    assert.equal(report.uid, sandboxUser.uid);
    assert.equal(report.gid, sandboxUser.gid);
    assert.deepEqual(report.groups, [sandboxUser.gid]);
  });

  it('cannot become root: setuid fails and a setuid-root program runs as the user', () => {
    // EINVAL: uid 0 does not even exist in the sandbox's user namespace (EPERM where it would).
    assert.ok(['EINVAL', 'EPERM'].includes(report.setuidRoot), report.setuidRoot);
    assert.equal(report.setuidBinaryUid, String(sandboxUser.uid));
  });

  it('has no network: the host’s 127.0.0.1 listener is unreachable, and so is anything outside', () => {
    assert.equal(report.tcpToHostLoopback, 'ECONNREFUSED');
    assert.equal(tcpConnections, 0);
    assert.equal(report.tcpToOutside, 'ENETUNREACH');
  });

  it('reaches the one socket bound in', () => {
    assert.equal(report.unixSocket, 'pong');
  });

  it('can write nowhere: root, /usr, /dev, the socket’s directory and the code are read-only', () => {
    for (const [path, result] of Object.entries(report.writes)) {
      assert.ok(['EROFS', 'ENOENT', 'EACCES'].includes(result), `${path}: ${result}`);
    }
    assert.equal(report.writes['/probe'], 'EROFS');
    assert.equal(report.writes[join(DIST, 'probe')], 'EROFS');
  });

  it('sees no host state: not hostd’s state directory, not /etc, not the host’s processes', () => {
    assert.equal(report.secretDirectory, 'ENOENT');
    assert.equal(report.shadow, 'ENOENT');
    assert.equal(report.hostProcesses, 'ENOENT');
    assert.ok(!report.rootEntries.includes('etc') && !report.rootEntries.includes('proc'));
    assert.ok(!report.rootEntries.includes('var') && !report.rootEntries.includes('root'));
  });

  it('lives in its own pid and uts namespaces with only the environment it was given', () => {
    assert.ok(report.pid < 10, `pid ${report.pid} is small in a fresh pid namespace`);
    assert.equal(report.hostname, 'jail');
    // PWD comes from bubblewrap's --chdir.
    assert.deepEqual(report.environment, ['HOME', 'LANG', 'PATH', 'PWD', 'TERM']);
  });

  it('refuses relative or climbing paths in its configuration', () => {
    assert.throws(
      () =>
        sandboxedCommand(
          { file: process.execPath, args: [] },
          { user: sandboxUser, readOnlyPaths: ['/usr/../etc'], environment: {} },
        ),
      (error: unknown) => error instanceof JailShellError && error.code === 'SANDBOX_INVALID',
    );
  });

  it('refuses root and unknown users', async () => {
    const passwd = join(workDir, 'passwd');
    await writeFile(passwd, 'root:x:0:0:root:/root:/bin/bash\nweird:x:1000:0::/:/bin/sh\n');
    for (const name of ['root', 'weird', 'absent']) {
      assert.throws(
        () => lookupSandboxUser(name, passwd),
        (error: unknown) =>
          error instanceof JailShellError && ['SANDBOX_INVALID', 'SANDBOX_USER_UNKNOWN'].includes(error.code),
      );
    }
  });
});
