import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort } from '@multiverse/jail-shell';
import type { AuditEntry } from '../audit/index.js';
import { isAllowed } from '../service/index.js';
import type { Role, VerbName, VerbOutput } from '../service/index.js';
import { HostdProcess } from '../testing/hostd-process.js';

// mvctl callhome/onion against real hostds that have no tor to publish with: one with MULTIVERSE_TOR=off and
// the jail off, one whose own tor cannot start (its MULTIVERSE_TORRC_EXTRA sets an option hostd owns). Device
// keys are made and revoked without tor; publishing and onion0 say why they cannot. What works over tor is
// tested in onion/callhome-hostd.test.ts on a private Tor network.

type CallHomeStatus = VerbOutput<'callhome.status'>;

describe('mvctl callhome and onion without a usable tor', () => {
  let root: string;
  let withoutTor: HostdProcess;
  let brokenTor: HostdProcess;
  let jailPort: number;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'hostd-onion-cli-'));
    await chmod(root, 0o711);
    withoutTor = new HostdProcess({
      root: join(root, 'off'),
      env: {
        MULTIVERSE_LIBVIRT_URI: 'test:///default',
        MULTIVERSE_DISPOSABLE_POOL: 'none',
        MULTIVERSE_TOR: 'off',
      },
    });
    const extra = join(root, 'torrc-extra');
    await writeFile(extra, '# hostd decides where tor keeps its data\nDataDirectory /tmp/elsewhere\n');
    jailPort = await freeLoopbackPort();
    brokenTor = new HostdProcess({
      root: join(root, 'broken'),
      env: {
        MULTIVERSE_LIBVIRT_URI: 'test:///default',
        MULTIVERSE_DISPOSABLE_POOL: 'none',
        MULTIVERSE_JAIL_LISTEN: `127.0.0.1:${jailPort}`,
        MULTIVERSE_TORRC_EXTRA: extra,
      },
    });
    await Promise.all([withoutTor.start(), brokenTor.start()]);
  });

  after(async () => {
    await Promise.all([withoutTor?.stop(), brokenTor?.stop()]);
    await rm(root, { recursive: true, force: true });
  });

  it('gives call-home and onion0 to the owner; anyone may look at onion0', () => {
    const verbs: VerbName[] = [
      'callhome.enable',
      'callhome.disable',
      'callhome.status',
      'callhome.add-client',
      'callhome.remove-client',
      'onion.up',
      'onion.down',
    ];
    const roles: Role[] = ['operator', 'viewer'];
    for (const verb of verbs) {
      assert.ok(isAllowed('owner', verb), verb);
      for (const role of roles) assert.ok(!isAllowed(role, verb), `${role} ${verb}`);
    }
    for (const role of ['owner', 'operator', 'viewer'] as const) assert.ok(isAllowed(role, 'onion.status'));
  });

  it('says why nothing can be published with MULTIVERSE_TOR=off and the jail off', async () => {
    assert.deepEqual(await withoutTor.mvctlError(['callhome', 'enable']), { code: 1, error: 'TOR_OFF' });
    assert.deepEqual(await withoutTor.mvctlError(['callhome', 'add-client', 'phone']), {
      code: 1,
      error: 'CALLHOME_NO_JAIL',
    });
    assert.deepEqual(await withoutTor.mvctlError(['onion', 'up']), { code: 1, error: 'TOR_OFF' });
    const refused = await withoutTor.mvctl(['onion', 'up']);
    assert.match(
      refused.stderr,
      /TOR_OFF: hostd runs without tor \(MULTIVERSE_TOR=off\)\nhint: set MULTIVERSE_TOR=own/,
    );
    const shown = await withoutTor.mvctl(['callhome', 'status']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^call-home is disabled\n/);
    assert.match(shown.stdout, /^port +22 → nothing: the SSH jail is off$/m);
    assert.match(shown.stdout, /^tor +off, off$/m);
    const device = await withoutTor.mvctlJson<VerbOutput<'onion.status'>>(['onion', 'status']);
    assert.equal(device.device.interfaceName, 'onion0');
    assert.equal(device.tor.state, 'off');
  });

  it('authorizes and revokes devices without tor: the key is shown once, hostd keeps the public half', async () => {
    const svg = join(root, 'phone.svg');
    const shown = await brokenTor.mvctl(['callhome', 'add-client', 'phone', '--svg', svg]);
    assert.equal(shown.code, 0, shown.stderr);
    const authLine = /^ {2}([a-z2-7]{56}:descriptor:x25519:([A-Z2-7]{52}))$/m.exec(shown.stdout);
    assert.ok(authLine, shown.stdout);
    const [line = '', privateKey = ''] = [authLine[1], authLine[2]];
    assert.ok(shown.stdout.includes(`Tor Browser (asks when you open the address): ${privateKey}`));
    assert.ok(shown.stdout.includes(`(also written to ${svg})`));
    assert.match(await readFile(svg, 'utf8'), /^<svg /);
    assert.equal((await stat(svg)).mode & 0o777, 0o600);

    const again = await brokenTor.mvctl(['callhome', 'add-client', 'tablet', '--svg', svg]);
    assert.equal(again.code, 2, 'an existing --svg file is refused before hostd makes a key');
    assert.deepEqual(await brokenTor.mvctlError(['callhome', 'add-client', 'phone']), {
      code: 1,
      error: 'CALLHOME_CLIENT_EXISTS',
    });
    const laptop = await brokenTor.mvctlJson<VerbOutput<'callhome.add-client'>>([
      'callhome',
      'add-client',
      'laptop',
    ]);
    assert.equal(laptop.onionAddress, `${line.split(':')[0]}.onion`, 'one service, one address');
    assert.match(laptop.qr.svg, /^<svg /);
    assert.notEqual(laptop.privateKeyBase32, privateKey);

    const status = await brokenTor.mvctlJson<CallHomeStatus>(['callhome', 'status']);
    assert.deepEqual(
      status.clients.map((client) => client.name),
      ['phone', 'laptop'],
    );
    assert.equal(status.onionAddress, laptop.onionAddress);
    assert.equal(status.target, `127.0.0.1:${jailPort}`);
    assert.equal(status.tor.state, 'idle');

    assert.deepEqual(await brokenTor.mvctlError(['callhome', 'remove-client', 'tablet']), {
      code: 1,
      error: 'CALLHOME_CLIENT_UNKNOWN',
    });
    const removed = await brokenTor.mvctl(['callhome', 'remove-client', 'laptop']);
    assert.equal(removed.stdout, 'revoked; 1 device(s) remain\n');

    const stored = await readFile(join(brokenTor.stateDir, 'callhome', 'callhome.json'), 'utf8');
    const { entries } = await brokenTor.mvctlJson<{ entries: AuditEntry[] }>([
      'audit',
      'list',
      '--limit',
      '1000',
    ]);
    for (const secret of [privateKey, laptop.privateKeyBase32]) {
      assert.ok(!stored.includes(secret), 'the state holds no private key');
      assert.ok(
        entries.every((entry) => !JSON.stringify(entry).includes(secret)),
        'no audit row holds one',
      );
    }
    const added = entries.filter((entry) => entry.action === 'callhome.add-client' && entry.result === 'ok');
    assert.deepEqual(
      added.map((entry) => entry.details),
      [{ input: { name: 'phone' } }, { input: { name: 'laptop' } }],
    );
  });

  it('reports a tor that cannot start on its configuration at once, and stops it when disabled', async () => {
    const enabled = await brokenTor.mvctlJson<CallHomeStatus>(['callhome', 'enable']);
    assert.equal(enabled.enabled, true);
    assert.equal(enabled.state, 'starting');
    assert.match(enabled.lastError ?? '', /MULTIVERSE_TORRC_EXTRA .*torrc-extra: line 2 sets DataDirectory/);
    assert.equal(enabled.tor.state, 'restarting');
    assert.deepEqual(await brokenTor.mvctlError(['onion', 'up', '--name', 'mvcli0']), {
      code: 1,
      error: 'TORRC_EXTRA_INVALID',
    });
    const disabled = await brokenTor.mvctlJson<CallHomeStatus>(['callhome', 'disable']);
    assert.equal(disabled.state, 'disabled');
    assert.equal(disabled.tor.state, 'idle');
    assert.deepEqual(disabled.tor.usedBy, []);
  });
});
