// The jail's two interactive commands on a real hostd (qemu:///system, TCG): `vm console` attached to a
// running tiny guest from an SSH session on a real pty, and `vault unseal` with the share pasted at the
// prompt by two custodians. OpenSSH's `ssh -tt` on node-pty plays the user's terminal.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LibvirtClient } from '@multiverse/libvirt-ts';
import { OpenSshTerminal, collectOpenSsh, freeLoopbackPort, startOpenSsh } from '@multiverse/jail-shell';
import type { AuditEntry } from '../audit/index.js';
import type { VaultStatusReport } from '../vault/index.js';
import { HostdProcess, eventually } from '../testing/hostd-process.js';
import { JailTestUsers } from './testing/jail-test-users.js';

const VM = 'mvtest-jail-console';
const DETACH = '\x1d';

describe('the SSH jail with a real guest and the vault', { timeout: 300_000 }, () => {
  let root: string;
  let hostd: HostdProcess;
  let users: JailTestUsers;
  let port = 0;

  async function auditRows(): Promise<AuditEntry[]> {
    return (await hostd.mvctlJson<{ entries: AuditEntry[] }>(['audit', 'list', '--limit', '1000'])).entries;
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'hostd-jail-guest-'));
    // QEMU's user and the sandbox user must reach the disks and the session sockets below it.
    await chmod(root, 0o711);
    port = await freeLoopbackPort();
    hostd = new HostdProcess({
      root,
      env: { MULTIVERSE_JAIL_LISTEN: `127.0.0.1:${port}`, MULTIVERSE_DISPOSABLE_POOL: 'none' },
    });
    await hostd.start();
    users = new JailTestUsers(hostd, root, () => port);
    users.makeClientKey();
    await users.add('ollie', 'operator');
    await users.add('otis', 'operator');
    await users.add('vic', 'viewer');
    await users.add('alice', 'operator');
    await users.add('bob', 'operator');
    await users.add('carol', 'operator');
  });

  after(async () => {
    await hostd?.stop();
    const client = await LibvirtClient.connect('qemu:///system');
    try {
      const domain = await client.domainLookupByName(VM).catch(() => undefined);
      if (domain !== undefined) {
        if (await client.domainIsActive(domain)) await client.domainDestroy(domain).catch(() => undefined);
        await client.domainUndefine(domain).catch(() => undefined);
      }
    } finally {
      await client.close();
    }
    await rm(root, { recursive: true, force: true });
  });

  it('attaches a guest’s console from the jail: bytes both ways, Ctrl-C to the guest, Ctrl-] back to the prompt, and the end of the VM ends it', async () => {
    await hostd.mvctlJson(['vm', 'create', VM, '--template', 'fallback']);
    const start = await hostd.mvctl(['vm', 'start', VM]);
    assert.equal(start.code, 0, `${start.stderr}\n${hostd.log}`);
    const terminal = await OpenSshTerminal.start(users.login('ollie'));
    try {
      await terminal.waitForCurrentLine('ollie@jail> ');
      let mark = terminal.received.length;
      terminal.type(`vm console ${VM}\r`);
      await terminal.waitFor(new RegExp(`attached to ${VM}; Ctrl-\\] detaches`), 20_000, mark);
      // The guest's shell reads a line only after its prompt: an Enter first, then the command.
      terminal.type('\r');
      terminal.type('echo $((6*7))x\r');
      await terminal.waitFor(/42x/, 30_000, mark);
      // Ctrl-C reaches the guest's shell (the jail's terminal is raw): it stops a sleep there.
      mark = terminal.received.length;
      terminal.type('sleep 600\r');
      await terminal.waitFor(/sleep 600\r*\n/, 20_000, mark);
      // A Ctrl-C that overtakes the guest shell's switch back from its line editor's raw mode is only
      // data there: it is sent again until the guest's tty takes it as an interrupt.
      const interrupted = terminal.waitFor(/\^C\r*\n[^\n]*# /, 60_000, mark);
      for (let tries = 0; tries < 20; tries += 1) {
        terminal.type('\x03');
        const done = await Promise.race([interrupted.then(() => true), sleep(2_000).then(() => false)]);
        if (done) break;
      }
      await interrupted;
      terminal.type('echo $((6*8))y\r');
      await terminal.waitFor(/48y/, 30_000, mark);
      // A window change while attached is followed by the shell after it.
      terminal.resize(50, 30);
      mark = terminal.received.length;
      terminal.type(DETACH);
      await terminal.waitFor(/detached/, 20_000, mark);
      await terminal.waitForCurrentLine('ollie@jail> ');
      terminal.type('x'.repeat(80));
      await terminal.waitFor(/x{30}/, 20_000, mark);
      const row = terminal.screen.currentLine();
      assert.ok(row.length <= 49 && row.endsWith('x'), `the line is drawn for 50 columns: ${row}`);
      mark = terminal.received.length;
      terminal.type('\x15whoami\r');
      await terminal.waitFor(/ollie \(operator\)\r\n/, 20_000, mark);
      // A session whose connection drops while attached lets the console go: attaching again needs no --force.
      const dropped = await OpenSshTerminal.start(users.login('otis'));
      try {
        await dropped.waitForCurrentLine('otis@jail> ');
        dropped.type(`vm console ${VM}\r`);
        await dropped.waitFor(/Ctrl-\] detaches/);
      } finally {
        dropped.kill();
      }
      await eventually('the dropped session’s end', async () =>
        (await readdir(join(hostd.runDir, 'jail-sessions'))).length === 1 ? true : undefined,
      );
      // Attached again, the VM stops under the user: the console ends and the prompt comes back.
      mark = terminal.received.length;
      terminal.type(`vm console ${VM}\r`);
      await terminal.waitFor(/Ctrl-\] detaches/, 20_000, mark);
      await hostd.mvctlJson(['vm', 'kill', VM]);
      await terminal.waitFor(/the stream ended/, 30_000, mark);
      await terminal.waitForCurrentLine('ollie@jail> ');
      terminal.type('vm console ' + VM + '\r');
      await terminal.waitFor(/VM_NOT_RUNNING/, 20_000, mark);
      terminal.type('exit\r');
      assert.equal(await terminal.exited(), 0);
    } finally {
      terminal.kill();
    }
    const consoles = (await auditRows()).filter(
      (row) => row.action === 'vm.console' && row.actor.user === 'ollie' && row.actor.via === 'ssh',
    );
    assert.ok(consoles.filter((row) => row.result === 'ok').length >= 2, 'each attach is audited');
  });

  it('refuses a viewer the console (POLICY_DENIED, audited) and keeps their shell', async () => {
    const terminal = await OpenSshTerminal.start(users.login('vic'));
    try {
      await terminal.waitForCurrentLine('vic@jail> ');
      const mark = terminal.received.length;
      terminal.type(`vm console ${VM}\r`);
      await terminal.waitFor(/POLICY_DENIED: vic \(viewer\) may not vm\.console/, 20_000, mark);
      await terminal.waitForCurrentLine('vic@jail> ');
      terminal.type('whoami\r');
      await terminal.waitFor(/vic \(viewer\)\r\n/, 20_000, mark);
      terminal.type('exit\r');
      assert.equal(await terminal.exited(), 0);
    } finally {
      terminal.kill();
    }
    const denied = (await auditRows()).find((row) => row.action === 'vm.console' && row.actor.user === 'vic');
    assert.equal(denied?.result, 'denied');
    assert.equal(denied?.actor.via, 'ssh');
  });

  it('unseals the vault from the jail: custodians paste their shares at the prompt, a sealed share asks for its key, a typo is named', async () => {
    const keys = join(root, 'keys');
    const shares = join(root, 'shares');
    const keygen = await hostd.mvctl(['vault', 'keygen', 'carol', '--out', keys]);
    assert.equal(keygen.code, 0, keygen.stderr);
    const init = await hostd.mvctl([
      'vault',
      'init',
      'alice',
      'bob',
      `carol=${join(keys, 'carol.pub')}`,
      '--threshold',
      '2',
      '--out',
      shares,
    ]);
    assert.equal(init.code, 0, init.stderr);
    await hostd.mvctlJson(['vault', 'seal']);
    const aliceShare = await readFile(join(shares, 'share-1-1-alice.txt'), 'utf8');
    const bobShare = await readFile(join(shares, 'share-1-2-bob.txt'), 'utf8');
    const carolShare = await readFile(join(shares, 'share-1-3-carol.txt'), 'utf8');
    const carolKey = (await readFile(join(keys, 'carol.key'), 'utf8'))
      .split('\n')
      .find((line) => line.startsWith('MVSECRET-'));
    assert.ok(carolKey !== undefined);
    // A terminal sends CR for each line of a paste.
    const paste = (text: string): string => `${text.trimEnd().replaceAll('\n', '\r')}\r`;
    const mistyped = (text: string): string =>
      text.replace(/^3: (\S)/m, (_line, first: string) => `3: ${first === 'A' ? 'B' : 'A'}`);

    const alice = await OpenSshTerminal.start(users.login('alice'));
    try {
      await alice.waitForCurrentLine('alice@jail> ');
      let mark = alice.received.length;
      alice.type(`vault unseal ${join(shares, 'share-1-1-alice.txt')}\r`);
      await alice.waitFor(
        /there are no files here, so no SHARE-FILE: run `vault unseal` alone/,
        20_000,
        mark,
      );
      await alice.waitForCurrentLine('alice@jail> ');
      // A typo in share line 3: the codec names it, and nothing is given.
      mark = alice.received.length;
      alice.type('vault unseal\r');
      await alice.waitForCurrentLine('share line 1:');
      alice.type(paste(mistyped(aliceShare)));
      await alice.waitFor(
        /SHARE_CHECKSUM: Share typo: share line 3 \(line \d+ of the text\) has a typo/,
        20_000,
        mark,
      );
      await alice.waitForCurrentLine('alice@jail> ');
      mark = alice.received.length;
      alice.type('vault unseal\r');
      await alice.waitForCurrentLine('share line 1:');
      alice.type(paste(aliceShare));
      await alice.waitFor(/1 of 2 shares given \(1\); the vault stays sealed until 1 more/, 20_000, mark);
      const shown = alice.received.slice(mark);
      assert.match(shown, /share line 2 of 6: 2: /, 'the prompt counts the lines the share needs');
      await alice.waitForCurrentLine('alice@jail> ');
      alice.type('exit\r');
      assert.equal(await alice.exited(), 0);
    } finally {
      alice.kill();
    }

    // An exec line has no prompt: its stdin carries the share (here mistyped, so it is refused).
    const bob = await startOpenSsh(users.login('bob', { command: ['vault unseal'] }));
    bob.stdin?.write(mistyped(bobShare));
    const bobRun = await collectOpenSsh(bob);
    assert.equal(bobRun.status, 2, bobRun.stderr);
    assert.match(bobRun.stderr, /SHARE_CHECKSUM: Share typo: share line 3/);

    const carol = await OpenSshTerminal.start(users.login('carol'));
    try {
      await carol.waitForCurrentLine('carol@jail> ');
      const mark = carol.received.length;
      carol.type('vault unseal\r');
      await carol.waitForCurrentLine('share line 1:');
      carol.type(paste(carolShare));
      await carol.waitForCurrentLine(
        'this share is sealed to its holder’s key: private key (MVSECRET-…, not shown):',
      );
      carol.type(`${carolKey}\r`);
      await carol.waitFor(/vault unsealed \(shares 1, 3\)/, 20_000, mark);
      assert.ok(!carol.received.includes(carolKey), 'the private key never reached the screen');
      assert.match(carol.received.slice(mark), /share line 2 of 11: /, 'a sealed share has 11 lines');
      carol.type('exit\r');
      assert.equal(await carol.exited(), 0);
    } finally {
      carol.kill();
    }

    const status = await hostd.mvctlJson<VaultStatusReport>(['vault', 'status']);
    assert.equal(status.state, 'unsealed');
    const unseals = (await auditRows()).filter((row) => row.action === 'vault.unseal');
    for (const [user, result] of [
      ['alice', 'ok'],
      ['carol', 'ok'],
      ['bob', 'failed'],
    ] as const) {
      assert.ok(
        unseals.some((row) => row.actor.user === user && row.actor.via === 'ssh' && row.result === result),
        `${user}'s unseal is audited as ${result}: ${JSON.stringify(unseals.map((row) => [row.actor.user, row.result]))}`,
      );
    }
    const logged = JSON.stringify(await auditRows());
    for (const line of [aliceShare, carolShare].flatMap((text) =>
      text.split('\n').filter((l) => /^\d+: /.test(l)),
    )) {
      assert.ok(!logged.includes(line.slice(3)), 'no share line is in the audit log');
    }
    assert.ok(!logged.includes(carolKey), 'the private key is not in the audit log');
  });
});
