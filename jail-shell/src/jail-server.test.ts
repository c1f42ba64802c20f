import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSync } from 'otplib';
import type { JailAuditEvent } from './audit.js';
import { loadOrCreateHostKey } from './host-key.js';
import { freeLoopbackPort } from './testing/loopback-port.js';
import { JailSshServer, type JailServerOptions } from './jail-server.js';
import { lookupSandboxUser } from './sandbox.js';
import { InterpreterLauncher } from './session-launcher.js';
import { SqliteJailUserStore } from './sqlite-user-store.js';
import {
  collectOpenSsh,
  OpenSshTerminal,
  runOpenSsh,
  startOpenSsh,
  type OpenSshLogin,
  type OpenSshResult,
} from './testing/openssh-client.js';
import type { JailRole } from './user-identity.js';

// Every test drives the real OpenSSH client (`ssh`, from Debian's openssh-client) against the jail
// on 127.0.0.1; each session's interpreter (testing/demo-shell.ts) runs in the bubblewrap sandbox as
// the multiverse-jail user, as in production. Each login consumes a TOTP time step, so each test
// logs in as its own user.

const DIST = dirname(fileURLToPath(import.meta.url));
const DEMO_SHELL = join(DIST, 'testing', 'demo-shell.js');
const SANDBOX_USER = 'multiverse-jail';

let workDir: string;
let clientKey: string;
let strangerKey: string;
let store: SqliteJailUserStore;
let server: JailSshServer;
let port: number;
const audit: JailAuditEvent[] = [];
const secrets = new Map<string, string>();

let clientKeyPublic: string;

function addUser(name: string, role: JailRole = 'operator'): void {
  store.addUser({ name, role, authorizedKeys: [clientKeyPublic] });
  secrets.set(name, store.enrollTotp(name));
}

function currentCode(user: string): string {
  const secret = secrets.get(user);
  assert.ok(secret, `test user ${user} was not added`);
  return generateSync({ secret });
}

interface SshInvocation {
  readonly options?: readonly string[];
  readonly command?: readonly string[];
  readonly key?: string;
  readonly env?: Record<string, string>;
  /** Another jail than the suite's shared one. */
  readonly port?: number;
}

function login(user: string, code: string, invocation: SshInvocation = {}): OpenSshLogin {
  return {
    port: invocation.port ?? port,
    user,
    keyPath: invocation.key ?? clientKey,
    code,
    workDir,
    ...(invocation.options ? { options: invocation.options } : {}),
    ...(invocation.command ? { command: invocation.command } : {}),
    ...(invocation.env ? { env: invocation.env } : {}),
  };
}

function ssh(user: string, code: string, invocation: SshInvocation): Promise<OpenSshResult> {
  return runOpenSsh(login(user, code, invocation));
}

function eventsFor(user: string, action?: string): JailAuditEvent[] {
  return audit.filter((event) => event.user === user && (action === undefined || event.action === action));
}

async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Connects once the ssh client has opened its listener (TCP port or unix socket path). */
async function connectWithRetry(target: number | string): Promise<Socket> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const onConnect = (): void => resolve(socket);
        const socket =
          typeof target === 'number' ? connect(target, '127.0.0.1', onConnect) : connect(target, onConnect);
        socket.once('error', reject);
      });
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

function readUntilClosed(socket: Socket, send: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.write(send);
  });
}

function generateClientKey(path: string): void {
  const result = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'jail-test', '-f', path]);
  assert.equal(result.status, 0, result.stderr.toString());
}

async function startJail(overrides: Partial<JailServerOptions>): Promise<JailSshServer> {
  const readOnlyPaths = [DIST];
  if (!process.execPath.startsWith('/usr/')) readOnlyPaths.push(dirname(process.execPath));
  return new JailSshServer({
    hostKey: await loadOrCreateHostKey(join(workDir, 'host_ed25519')),
    users: store,
    sessions: new InterpreterLauncher({
      program: process.execPath,
      programArguments: [DEMO_SHELL],
      sandbox: { user: lookupSandboxUser(SANDBOX_USER), readOnlyPaths },
    }),
    audit: (event) => audit.push(event),
    throttle: {
      baseDelayMs: 50,
      maxDelayMs: 400,
      userLockoutAfter: 3,
      sourceLockoutAfter: 1000,
      failureWindowMs: 60_000,
    },
    ...overrides,
  });
}

describe('JailSshServer with the OpenSSH client', () => {
  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'jail-shell-test-'));
    clientKey = join(workDir, 'client_ed25519');
    strangerKey = join(workDir, 'stranger_ed25519');
    generateClientKey(clientKey);
    generateClientKey(strangerKey);
    clientKeyPublic = (await readFile(`${clientKey}.pub`, 'utf8')).trim();
    store = SqliteJailUserStore.open(join(workDir, 'jail-users.sqlite'));
    server = await startJail({});
    port = (await server.listen('127.0.0.1', 0)).port;
  });

  after(async () => {
    await server.close();
    store.close();
    await rm(workDir, { recursive: true, force: true });
  });

  it('logs in with the listed key and the current code, and runs an allowed verb', async () => {
    addUser('alice', 'owner');
    const result = await ssh('alice', currentCode('alice'), { command: ['whoami'] });
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout, 'alice (owner)\n');
    assert.ok(eventsFor('alice', 'auth.publickey').some((event) => event.outcome === 'accepted'));
    assert.ok(eventsFor('alice', 'auth.totp').some((event) => event.outcome === 'accepted'));
  });

  it('gives a pty session the limited shell: banner, whoami, unknown command, exit', async () => {
    addUser('pat', 'viewer');
    const child = await startOpenSsh(login('pat', currentCode('pat'), { options: ['-tt'] }));
    const result = await collectOpenSsh(child, 'whoami\rls -la; id\rexit\r');
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /signed in as pat \(role viewer\)/);
    assert.match(result.stdout, /pat \(viewer\)\r\n/);
    assert.match(result.stdout, /unknown command: "ls"/);
    assert.ok(eventsFor('pat', 'request.shell').some((event) => event.outcome === 'accepted'));
    await waitFor('the session exit', () =>
      eventsFor('pat', 'session.exit').find((event) => event.detail === 'shell exited with code 0'),
    );
  });

  it('refuses a wrong code', async () => {
    addUser('bob');
    const right = currentCode('bob');
    const wrong = String((Number(right) + 500_000) % 1_000_000).padStart(6, '0');
    const result = await ssh('bob', wrong, { command: ['whoami'] });
    assert.equal(result.status, 255);
    assert.match(result.stderr, /Permission denied/);
    assert.ok(
      eventsFor('bob', 'auth.totp').some(
        (event) => event.outcome === 'refused' && event.detail === 'wrong code',
      ),
    );
  });

  it('refuses a code that was already used', async () => {
    addUser('carol');
    const code = currentCode('carol');
    assert.equal((await ssh('carol', code, { command: ['whoami'] })).status, 0);
    const replay = await ssh('carol', code, { command: ['whoami'] });
    assert.equal(replay.status, 255);
    assert.ok(
      eventsFor('carol', 'auth.totp').some(
        (event) => event.outcome === 'refused' && event.detail === 'code already used',
      ),
    );
  });

  it('refuses a key that is not listed for the user', async () => {
    addUser('dave');
    const result = await ssh('dave', currentCode('dave'), { command: ['whoami'], key: strangerKey });
    assert.equal(result.status, 255);
    const keyEvents = eventsFor('dave', 'auth.publickey');
    assert.ok(keyEvents.length > 0);
    assert.ok(
      keyEvents.every((event) => event.outcome === 'refused' && event.detail === 'key not listed for user'),
    );
    assert.equal(eventsFor('dave', 'auth.totp').length, 0);
  });

  it('refuses a locked user', async () => {
    addUser('erin');
    store.setLocked('erin', true);
    const result = await ssh('erin', currentCode('erin'), { command: ['whoami'] });
    assert.equal(result.status, 255);
    assert.ok(eventsFor('erin', 'auth.publickey').some((event) => event.detail === 'user is locked'));
  });

  it('refuses `sh -c id` with a message saying this is not a system shell, and audits it', async () => {
    addUser('frank');
    const result = await ssh('frank', currentCode('frank'), { command: ['sh -c id'] });
    assert.equal(result.status, 127);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /unknown command: "sh" — this is not a system shell/);
    assert.ok(eventsFor('frank', 'request.exec').some((event) => event.detail === 'sh -c id'));
    await waitFor('the refused exec', () =>
      eventsFor('frank', 'session.exit').find(
        (event) => event.outcome === 'refused' && event.detail === 'exec exited with code 127',
      ),
    );
  });

  it('refuses local forwarding (-L) without opening a channel', async () => {
    addUser('gina');
    const localPort = await freeLoopbackPort();
    const child = await startOpenSsh(
      login('gina', currentCode('gina'), { options: ['-N', '-L', `${localPort}:127.0.0.1:9`] }),
    );
    try {
      const socket = await connectWithRetry(localPort);
      const received = await readUntilClosed(socket, Buffer.from('hello'));
      assert.equal(received.length, 0);
      const refusal = await waitFor('the direct-tcpip refusal', () =>
        eventsFor('gina', 'channel.direct-tcpip').find((event) => event.outcome === 'refused'),
      );
      assert.equal(refusal.detail, 'to 127.0.0.1:9');
    } finally {
      child.kill();
    }
  });

  it('refuses dynamic forwarding (-D)', async () => {
    addUser('hank');
    const localPort = await freeLoopbackPort();
    const child = await startOpenSsh(
      login('hank', currentCode('hank'), { options: ['-N', '-D', `127.0.0.1:${localPort}`] }),
    );
    try {
      const socket = await connectWithRetry(localPort);
      const greeting = await new Promise<Buffer>((resolve) => {
        socket.once('data', resolve);
        socket.write(Buffer.from([5, 1, 0]));
      });
      assert.deepEqual([...greeting], [5, 0]);
      const reply = await readUntilClosed(socket, Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, 0, 9]));
      assert.notEqual(reply[1], 0, 'the SOCKS request must not succeed');
      await waitFor('the dynamic forwarding refusal', () =>
        eventsFor('hank', 'channel.direct-tcpip').find((event) => event.outcome === 'refused'),
      );
    } finally {
      child.kill();
    }
  });

  it('refuses remote forwarding (-R)', async () => {
    addUser('ivan');
    const result = await ssh('ivan', currentCode('ivan'), {
      options: ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', '0:127.0.0.1:9'],
    });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /forwarding failed/);
    assert.ok(eventsFor('ivan', 'request.global').some((event) => event.detail === 'tcpip-forward'));
  });

  it('refuses agent forwarding (-A)', async () => {
    addUser('judy');
    const agentSocket = join(workDir, 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', agentSocket], { stdio: 'ignore' });
    try {
      (await connectWithRetry(agentSocket)).end();
      const result = await ssh('judy', currentCode('judy'), {
        options: ['-A'],
        command: ['whoami'],
        env: { SSH_AUTH_SOCK: agentSocket },
      });
      assert.equal(result.status, 0, result.stderr);
      assert.ok(eventsFor('judy', 'request.auth-agent').some((event) => event.outcome === 'refused'));
    } finally {
      agent.kill();
    }
  });

  it('refuses X11 forwarding (-X)', async () => {
    addUser('kate');
    const result = await ssh('kate', currentCode('kate'), {
      options: ['-X', '-o', 'ForwardX11Trusted=yes', '-o', 'XAuthLocation=/nonexistent/xauth'],
      command: ['whoami'],
      env: { DISPLAY: '127.0.0.1:99' },
    });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stderr, /X11 forwarding request failed/);
    assert.ok(eventsFor('kate', 'request.x11').some((event) => event.outcome === 'refused'));
  });

  it('refuses the sftp subsystem (-s sftp)', async () => {
    addUser('liam');
    const result = await ssh('liam', currentCode('liam'), { options: ['-s'], command: ['sftp'] });
    assert.notEqual(result.status, 0);
    assert.ok(eventsFor('liam', 'request.subsystem').some((event) => event.detail === 'sftp'));
  });

  it('refuses a shell without a pty', async () => {
    addUser('nora');
    const result = await ssh('nora', currentCode('nora'), { options: ['-T'] });
    assert.notEqual(result.status, 0);
    assert.ok(eventsFor('nora', 'request.shell').some((event) => event.detail === 'no pty requested'));
  });

  it('passes TERM and LANG but refuses any other environment variable', async () => {
    addUser('olga');
    const result = await ssh('olga', currentCode('olga'), {
      options: ['-o', 'SetEnv=LANG=C.UTF-8 LD_PRELOAD=/tmp/evil.so'],
      command: ['whoami'],
    });
    assert.equal(result.status, 0, result.stderr);
    const refused = eventsFor('olga', 'request.env').map((event) => event.detail);
    assert.deepEqual(refused, ['LD_PRELOAD']);
  });

  it('refuses escape sequences in an exec command line', async () => {
    addUser('quinn');
    const result = await ssh('quinn', currentCode('quinn'), { command: ['whoami\x1b]0;pwned\x07'] });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /control characters are not allowed/);
    await waitFor('the refused exec', () =>
      eventsFor('quinn', 'session.exit').find((event) => event.outcome === 'refused'),
    );
  });

  it('locks a user out after repeated wrong codes, with growing delays, until the owner unlocks', async () => {
    addUser('mallory');
    const wrong = String((Number(currentCode('mallory')) + 500_000) % 1_000_000).padStart(6, '0');
    const elapsed: number[] = [];
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const started = performance.now();
      assert.equal((await ssh('mallory', wrong, { command: ['whoami'] })).status, 255);
      elapsed.push(performance.now() - started);
    }
    // The throttle doubles from 50 ms: the third refusal is held back at least 200 ms.
    assert.ok((elapsed[2] ?? 0) >= 200, `third wrong code answered after ${elapsed[2]} ms`);
    assert.deepEqual(server.lockedOut().users, ['mallory']);
    const whileLocked = await ssh('mallory', currentCode('mallory'), { command: ['whoami'] });
    assert.equal(whileLocked.status, 255);
    assert.ok(
      eventsFor('mallory', 'auth.publickey').some(
        (event) => event.detail === 'user is locked out after failed codes',
      ),
    );
    assert.equal(server.unlockUser('mallory'), true);
    const afterUnlock = await ssh('mallory', currentCode('mallory'), { command: ['whoami'] });
    assert.equal(afterUnlock.status, 0, afterUnlock.stderr);
    assert.equal(afterUnlock.stdout, 'mallory (operator)\n');
  });
  it('keeps shell metacharacters literal: each word reaches the command as typed', async () => {
    addUser('uma');
    const words = ['a;b', '$(id)', '|', '&&', '`id`', '>x', '*', '$HOME', "it's"];
    const line = `echo-argv 'a;b' '$(id)' '|' '&&' '\`id\`' '>x' '*' '$HOME' "it's"`;
    const result = await ssh('uma', currentCode('uma'), { command: [line] });
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), words);
  });

  it('completes commands with Tab and recalls the history with the arrow keys over a real pty', async () => {
    addUser('vera', 'viewer');
    const terminal = await OpenSshTerminal.start(login('vera', currentCode('vera')));
    try {
      await terminal.waitForCurrentLine('vera@jail> ');
      terminal.type('ec\t');
      await terminal.waitForCurrentLine('vera@jail> echo-argv');
      let mark = terminal.received.length;
      terminal.type('one "two three"\r');
      await terminal.waitFor(/\["one","two three"\]\r\n/, 20_000, mark);
      await terminal.waitForCurrentLine('vera@jail> ');
      terminal.type('\x1b[A');
      await terminal.waitForCurrentLine('vera@jail> echo-argv one "two three"');
      // Ctrl-A, then Ctrl-K kills the whole line; a command completed from one letter runs.
      mark = terminal.received.length;
      terminal.type('\x01\x0bw\t\r');
      await terminal.waitFor(/vera \(viewer\)\r\n/, 20_000, mark);
      terminal.type('exit\r');
      assert.equal(await terminal.exited(), 0);
    } finally {
      terminal.kill();
    }
  });

  it('lends the terminal to a command: raw keys reach it, and the shell takes over again after', async () => {
    addUser('kyle');
    const terminal = await OpenSshTerminal.start(login('kyle', currentCode('kyle')));
    try {
      await terminal.waitForCurrentLine('kyle@jail> ');
      terminal.type('key-codes\r');
      await terminal.waitFor(/reading keys/);
      const mark = terminal.received.length;
      terminal.type('\x03');
      await terminal.waitFor(/keys 03\r+\n/, 20_000, mark);
      terminal.type('\x1b[A');
      await terminal.waitFor(/keys 1b5b41\r+\n/, 20_000, mark);
      terminal.type('\x1d');
      await terminal.waitForCurrentLine('kyle@jail> ');
      terminal.type('whoami\r');
      await terminal.waitFor(/kyle \(operator\)\r\n/, 20_000, mark);
      terminal.type('exit\r');
      assert.equal(await terminal.exited(), 0);
    } finally {
      terminal.kill();
    }
  });

  it('lets a command ask for lines: a paste answers several questions, a secret is not shown, leftovers are dropped', async () => {
    addUser('asha');
    const terminal = await OpenSshTerminal.start(login('asha', currentCode('asha')));
    try {
      await terminal.waitForCurrentLine('asha@jail> ');
      // The command and both answers arrive in one paste, with a line no question takes.
      let mark = terminal.received.length;
      terminal.type('ask-pair\ralice\rs3cr3t!\recho-argv leftover\r');
      await terminal.waitFor(/\{"name":"alice","secretLength":7\}\r\n/, 20_000, mark);
      await terminal.waitForCurrentLine('asha@jail> ');
      const shown = terminal.received.slice(mark);
      assert.match(shown, /name: alice/);
      assert.doesNotMatch(shown, /s3cr3t|leftover/, 'the secret is not echoed and the extra line never ran');
      // Ctrl-C gives up a question; the shell then reads commands again.
      mark = terminal.received.length;
      terminal.type('ask-pair\r');
      await terminal.waitForCurrentLine('name:');
      terminal.type('bo\x03');
      await terminal.waitFor(/given up\r\n/, 20_000, mark);
      await terminal.waitForCurrentLine('asha@jail> ');
      terminal.type('whoami\r');
      await terminal.waitFor(/asha \(operator\)\r\n/, 20_000, mark);
      terminal.type('exit\r');
      assert.equal(await terminal.exited(), 0);
    } finally {
      terminal.kill();
    }
  });

  it('follows window changes: a long line is redrawn for the new width', async () => {
    addUser('walt');
    const terminal = await OpenSshTerminal.start(login('walt', currentCode('walt')), {
      columns: 200,
      rows: 30,
    });
    try {
      await terminal.waitForCurrentLine('walt@jail> ');
      const long = `echo-argv ${'x'.repeat(100)}`;
      terminal.type(long);
      await waitFor('the long line', () =>
        terminal.screen.currentLine().endsWith('x'.repeat(100)) ? true : undefined,
      );
      terminal.resize(40, 30);
      // The next key is drawn at the new width once the window change has reached the interpreter.
      await waitFor('a redraw within 40 columns', async () => {
        terminal.type('y\x7f');
        await new Promise((resolve) => setTimeout(resolve, 200));
        const row = terminal.screen.currentLine();
        return row.length <= 39 && row.endsWith('x') ? true : undefined;
      });
      terminal.type('\x03exit\r');
      assert.equal(await terminal.exited(), 0);
    } finally {
      terminal.kill();
    }
  });

  it('refuses a user who has no verification code enrolled yet', async () => {
    store.addUser({ name: 'xena', role: 'viewer', authorizedKeys: [clientKeyPublic] });
    const result = await ssh('xena', '000000', { command: ['whoami'] });
    assert.equal(result.status, 255);
    assert.ok(
      eventsFor('xena', 'auth.publickey').some((event) => event.detail?.startsWith('no verification code')),
    );
  });

  it('ends the sessions of a user the owner locks', async () => {
    addUser('yuri');
    const terminal = await OpenSshTerminal.start(login('yuri', currentCode('yuri')));
    try {
      await terminal.waitForCurrentLine('yuri@jail> ');
      assert.equal(server.endSessionsOf('yuri', 'locked by the owner'), 1);
      assert.equal(await terminal.exited(), 124);
      assert.match(terminal.received, /jail-shell: locked by the owner; closing\./);
    } finally {
      terminal.kill();
    }
  });

  it('refuses sessions beyond the jail-wide limit', async () => {
    addUser('zack');
    addUser('zoe');
    const limitedJail = await startJail({ maxSessions: 1 });
    try {
      const limitedPort = (await limitedJail.listen('127.0.0.1', 0)).port;
      const held = await OpenSshTerminal.start(login('zack', currentCode('zack'), { port: limitedPort }));
      try {
        await held.waitForCurrentLine('zack@jail> ');
        assert.equal(limitedJail.sessionCount, 1);
        const refused = await ssh('zoe', currentCode('zoe'), { command: ['whoami'], port: limitedPort });
        assert.notEqual(refused.status, 0);
        assert.ok(
          eventsFor('zoe', 'channel.session').some((event) => event.detail?.includes('limit of 1 sessions')),
        );
      } finally {
        held.kill();
      }
    } finally {
      await limitedJail.close();
    }
  });

  for (const { name, limit, reason } of [
    { name: 'an idle session', limit: { idleTimeoutMs: 1000 }, reason: 'idle timeout' },
    {
      name: 'a session at its time limit',
      limit: { sessionTimeoutMs: 1000 },
      reason: 'session time limit reached',
    },
  ]) {
    it(`closes ${name}, saying why`, async () => {
      const user = reason === 'idle timeout' ? 'rita' : 'sam';
      addUser(user);
      const limitedJail = await startJail(limit);
      try {
        const limitedPort = (await limitedJail.listen('127.0.0.1', 0)).port;
        const started = performance.now();
        const child = await startOpenSsh(
          login(user, currentCode(user), { options: ['-tt'], port: limitedPort }),
        );
        const result = await collectOpenSsh(child, '');
        const seconds = (performance.now() - started) / 1000;
        assert.equal(result.status, 124, JSON.stringify(result));
        assert.ok(result.stderr.includes(`jail-shell: ${reason}; closing.`), JSON.stringify(result));
        assert.ok(seconds >= 1 && seconds < 10, `closed after ${seconds} s`);
        assert.ok(eventsFor(user, 'session.close').some((event) => event.detail === reason));
      } finally {
        await limitedJail.close();
      }
    });
  }
});
