import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpenSshTerminal, freeLoopbackPort, runOpenSsh } from '@multiverse/jail-shell';
import type { OpenSshLogin, OpenSshResult } from '@multiverse/jail-shell';
import type { AuditEntry } from '../audit/index.js';
import type { VerbOutput } from '../service/index.js';
import { HostdProcess } from '../testing/hostd-process.js';
import { JailTestUsers } from './testing/jail-test-users.js';

// The SSH jail as hostd runs it: a real hostd (libvirt's test:///default driver) with the jail on a
// loopback port, users made with mvctl, and OpenSSH's client logging in with key + TOTP. Each session's
// interpreter runs in the sandbox as multiverse-jail and reaches hostd only through its session socket.
// A login consumes the user's current TOTP time step, so tests log in as different users (or enroll a
// user again, which starts a new secret).

let root: string;
let hostd: HostdProcess;
let port: number;
let users: JailTestUsers;

function login(name: string, extra: Partial<OpenSshLogin> = {}): OpenSshLogin {
  return users.login(name, extra);
}

function exec(name: string, command: string): Promise<OpenSshResult> {
  return runOpenSsh(login(name, { command: [command] }));
}

async function auditRows(): Promise<AuditEntry[]> {
  return (await hostd.mvctlJson<{ entries: AuditEntry[] }>(['audit', 'list', '--limit', '1000'])).entries;
}

describe('the SSH jail in hostd', () => {
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'hostd-jail-'));
    // The sandbox user must reach its session socket under run/.
    await chmod(root, 0o711);
    port = await freeLoopbackPort();
    hostd = new HostdProcess({
      root,
      env: {
        MULTIVERSE_LIBVIRT_URI: 'test:///default',
        MULTIVERSE_JAIL_LISTEN: `127.0.0.1:${port}`,
        MULTIVERSE_DISPOSABLE_POOL: 'none',
      },
    });
    await hostd.start();
    users = new JailTestUsers(hostd, root, () => port);
    users.makeClientKey();
    await users.add('viv', 'viewer');
    await users.add('olga', 'owner');
    await users.add('otto', 'operator');
    for (const name of ['exa', 'exb', 'exc']) await users.add(name, 'owner');
    for (const name of ['exd', 'exe']) await users.add(name, 'viewer');
  });

  after(async () => {
    await hostd?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('manages users with mvctl: added, enrolled, listed; refusals with their codes', async () => {
    const listed = await hostd.mvctlJson<VerbOutput<'user.list'>>(['user', 'list']);
    const viv = listed.users.find((user) => user.name === 'viv');
    assert.equal(viv?.role, 'viewer');
    assert.equal(viv?.totpEnrolled, true);
    assert.match(viv?.keys[0]?.fingerprint ?? '', /^SHA256:/);
    assert.equal(viv?.keys[0]?.comment, 'jail-test');
    const table = await hostd.mvctl(['user', 'list']);
    assert.match(table.stdout, /^viv +viewer +SHA256:\S+ +enrolled +active/m);
    const again = await hostd.mvctlError([
      'user',
      'add',
      'viv',
      '--key',
      `${users.keyPath}.pub`,
      '--role',
      'viewer',
    ]);
    assert.deepEqual(again, { code: 1, error: 'USER_EXISTS' });
    const badName = await hostd.mvctlError([
      'user',
      'add',
      'Bad;Name',
      '--key',
      `${users.keyPath}.pub`,
      '--role',
      'viewer',
    ]);
    assert.deepEqual(badName, { code: 2, error: 'USER_INVALID' });
    const badRole = await hostd.mvctlError([
      'user',
      'add',
      'newbie',
      '--key',
      `${users.keyPath}.pub`,
      '--role',
      'root',
    ]);
    assert.deepEqual(badRole, { code: 2, error: 'INPUT_INVALID' });
    const privateKey = await hostd.mvctlError([
      'user',
      'add',
      'newbie',
      '--key',
      users.keyPath,
      '--role',
      'viewer',
    ]);
    assert.deepEqual(privateKey, { code: 2, error: 'USER_INVALID' });
    const noFile = await hostd.mvctl([
      'user',
      'add',
      'newbie',
      '--key',
      join(root, 'absent.pub'),
      '--role',
      'viewer',
    ]);
    assert.equal(noFile.code, 2);
    assert.match(noFile.stderr, /cannot read --key .*absent\.pub: ENOENT/);
    const unknown = await hostd.mvctlError(['user', 'lock', 'nobody']);
    assert.deepEqual(unknown, { code: 1, error: 'USER_UNKNOWN' });
  });

  it('prints the enrollment as a QR code and URI, and keeps the secret out of the audit log', async () => {
    const shown = await hostd.mvctl(['user', 'otp-enroll', 'otto']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.ok(shown.stdout.includes('\x1b[47m'), 'the QR code is drawn black on white');
    const uri = /otpauth:\/\/totp\/\S+/.exec(shown.stdout)?.[0] ?? '';
    const secret = new URL(uri).searchParams.get('secret') ?? '';
    users.remember('otto', secret);
    const rows = await auditRows();
    const enrollment = rows.filter((row) => row.action === 'user.otp-enroll');
    assert.ok(enrollment.length >= 1);
    assert.ok(
      rows.every((row) => !JSON.stringify(row.details).includes(secret)),
      'no row holds the secret',
    );
  });

  it('lands a viewer in the limited shell after key + TOTP, offering only what a viewer may do', async () => {
    const terminal = await OpenSshTerminal.start(login('viv'));
    try {
      await terminal.waitForCurrentLine('viv@jail> ');
      assert.match(terminal.received, /signed in as viv \(role viewer\)/);
      let mark = terminal.received.length;
      terminal.type('help\r');
      await terminal.waitFor(/Tab completes/, 20_000, mark);
      const help = terminal.received.slice(mark);
      assert.match(help, /vm list/);
      assert.match(help, /host info/);
      assert.doesNotMatch(help, /vm start|vm create|user add|audit list/);
      mark = terminal.received.length;
      terminal.type('vm list\r');
      await terminal.waitFor(/NAME +STATE[^\n]*\r?\n[^\n]*test +running/, 20_000, mark);
      mark = terminal.received.length;
      terminal.type('vm start test\r');
      await terminal.waitFor(/POLICY_DENIED: viv \(viewer\) may not vm\.start/, 20_000, mark);
      await terminal.waitForCurrentLine('viv@jail> ');
      mark = terminal.received.length;
      terminal.type('vm create web --template fallback\r');
      await terminal.waitFor(/POLICY_DENIED: viv \(viewer\) may not vm\.create/, 20_000, mark);
      terminal.type('exit\r');
      assert.equal(await terminal.exited(), 0);
    } finally {
      terminal.kill();
    }
    const rows = await auditRows();
    const mine = rows.filter((row) => row.actor.user === 'viv' && row.actor.via === 'ssh');
    assert.ok(mine.some((row) => row.action === 'jail.auth.publickey' && row.result === 'ok'));
    assert.ok(mine.some((row) => row.action === 'jail.auth.totp' && row.result === 'ok'));
    assert.ok(
      mine.some((row) => row.action === 'vm.list' && row.result === 'ok' && row.actor.role === 'viewer'),
    );
    for (const verb of ['vm.start', 'vm.create']) {
      const denied = mine.find((row) => row.action === verb);
      assert.equal(denied?.result, 'denied', `${verb} is audited as denied`);
      assert.equal((denied?.details as { error?: { code?: string } }).error?.code, 'POLICY_DENIED');
    }
    assert.ok(mine.some((row) => row.action === 'jail.session.exit' && row.result === 'ok'));
    assert.deepEqual(await readdir(join(hostd.runDir, 'jail-sessions')), [], 'the session socket is gone');
  });

  it('completes with Tab and recalls history over a real pty', async () => {
    const terminal = await OpenSshTerminal.start(login('otto'));
    try {
      await terminal.waitForCurrentLine('otto@jail> ');
      terminal.type('ta\t');
      await terminal.waitForCurrentLine('otto@jail> task');
      terminal.type('l\t--st\t');
      await terminal.waitForCurrentLine('otto@jail> task list --state');
      terminal.type('su\t');
      await terminal.waitForCurrentLine('otto@jail> task list --state succeeded');
      let mark = terminal.received.length;
      terminal.type('\r');
      await terminal.waitFor(/no tasks/, 20_000, mark);
      terminal.type('\x1b[A');
      await terminal.waitForCurrentLine('otto@jail> task list --state succeeded');
      terminal.type('\x15vm st\t\t');
      await terminal.waitFor(/start +stop/, 20_000, mark);
      mark = terminal.received.length;
      terminal.type('\x15whoami\r');
      await terminal.waitFor(/otto \(operator\)/, 20_000, mark);
      terminal.type('\x04');
      assert.equal(await terminal.exited(), 0);
    } finally {
      terminal.kill();
    }
  });

  it('runs an exec line, keeps metacharacters literal all the way to hostd, and refuses escape sequences', async () => {
    const list = await exec('olga', 'vm list');
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /^test +running/m);
    // The message is free text: hostd records it (the VM is not Multiverse's, so the call then fails).
    const literal = `vm checkpoint test --message 'x;$(id)|\`id\` $HOME *'`;
    const refused = await exec('exa', literal);
    assert.equal(refused.status, 1, refused.stderr);
    const row = (await auditRows()).findLast((entry) => entry.action === 'vm.checkpoint');
    assert.equal(row?.actor.user, 'exa');
    assert.equal(
      (row?.details as { input?: { message?: string } }).input?.message,
      'x;$(id)|`id` $HOME *',
      'hostd got the message exactly as typed',
    );
    const escape = await exec('exb', 'vm list \x1b]0;owned\x07');
    assert.equal(escape.status, 2);
    assert.match(escape.stderr, /control characters are not allowed/);
  });

  it('refuses another socket, mvctl-only commands and shell words inside the jail', async () => {
    const socket = await exec('exd', 'vm list --socket=/run/multiverse/hostd.sock');
    assert.equal(socket.status, 2);
    assert.match(socket.stderr, /--socket is not available here/);
    const addUserInJail = await exec('exc', 'user add mallory --key /etc/ssh/key.pub --role owner');
    assert.equal(addUserInJail.status, 2);
    assert.match(addUserInJail.stderr, /not available in the jail/);
    const shell = await exec('exe', 'sh -c id');
    assert.equal(shell.status, 127);
    assert.match(shell.stderr, /this is not a system shell/);
  });

  it('ends a session when the owner locks the user, and unlock lifts a lockout after wrong codes', async () => {
    await users.enroll('otto'); // otto logged in above, maybe in this very time step
    const terminal = await OpenSshTerminal.start(login('otto'));
    try {
      await terminal.waitForCurrentLine('otto@jail> ');
      const locked = await hostd.mvctlJson<VerbOutput<'user.lock'>>(['user', 'lock', 'otto']);
      assert.equal(locked.sessionsEnded, 1);
      assert.equal(await terminal.exited(), 124);
      assert.match(terminal.received, /your account was locked/);
    } finally {
      terminal.kill();
    }
    const whileLocked = await exec('otto', 'whoami');
    assert.equal(whileLocked.status, 255);
    await hostd.mvctlJson(['user', 'unlock', 'otto']);
    // Five wrong codes lock the user out (the jail's default throttle: 0.5 s, doubling). They come from
    // 127.0.0.2, whose failures the throttle counts apart from the other tests' 127.0.0.1.
    const wrong = String((Number(users.code('otto')) + 500_000) % 1_000_000).padStart(6, '0');
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const attemptLogin = login('otto', { code: wrong, command: ['whoami'], options: ['-b', '127.0.0.2'] });
      assert.equal((await runOpenSsh(attemptLogin, undefined, 60_000)).status, 255);
    }
    const listed = await hostd.mvctlJson<VerbOutput<'user.list'>>(['user', 'list']);
    assert.equal(listed.users.find((user) => user.name === 'otto')?.lockedOut, true);
    const unlocked = await hostd.mvctlJson<VerbOutput<'user.unlock'>>(['user', 'unlock', 'otto']);
    assert.equal(unlocked.lockoutLifted, true);
    // A new secret starts a new history of used time steps: otto may log in again in this one.
    await users.enroll('otto');
    const back = await exec('otto', 'whoami');
    assert.equal(back.status, 0, back.stderr);
    assert.equal(back.stdout, 'otto (operator)\n');
  });

  it('keeps its host key across a restart, outside the vault, readable by root alone', async () => {
    const keyFile = join(hostd.stateDir, 'jail', 'ssh_host_ed25519_key');
    const before = spawnSync('ssh-keygen', ['-l', '-f', keyFile], { encoding: 'utf8' }).stdout;
    await hostd.stop();
    await hostd.start();
    const after = spawnSync('ssh-keygen', ['-l', '-f', keyFile], { encoding: 'utf8' }).stdout;
    assert.equal(after, before);
    const scan = spawnSync('ssh-keyscan', ['-p', String(port), '-t', 'ed25519', '127.0.0.1'], {
      encoding: 'utf8',
    });
    const served = join(root, 'served.pub');
    await writeFile(served, scan.stdout);
    const servedFingerprint = spawnSync('ssh-keygen', ['-l', '-f', served], { encoding: 'utf8' }).stdout;
    assert.equal(servedFingerprint.split(' ')[1], before.split(' ')[1]);
  });
});
