import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort, runOpenSsh } from '@multiverse/jail-shell';
import {
  OnionDevice,
  SOCKS_REPLY,
  createTestNamespace,
  dialOnionService,
  readFirstLine,
  startLoopbackHttpServer,
  startTestTorNetwork,
} from '@multiverse/onion';
import type {
  LoopbackHttpServer,
  OnionDialOutcome,
  SocksProxyEndpoint,
  TestNetworkNamespace,
  TestTorNetwork,
  TorControlClient,
} from '@multiverse/onion';
import type { AuditEntry } from '../audit/index.js';
import type { VerbOutput } from '../service/index.js';
import { JailTestUsers } from '../jail/testing/jail-test-users.js';
import { HostdProcess, eventually } from '../testing/hostd-process.js';

// Call-home and onion0 as hostd runs them, on a private Tor network: a real hostd (libvirt's test:///default
// driver) whose own tor joins the network through MULTIVERSE_TORRC_EXTRA, the SSH jail on a loopback port
// published as the onion service, and the network's client tor playing the owner's laptop. OpenSSH's `ssh`
// reaches the jail through that tor with netcat's SOCKS5 ProxyCommand, as a user would.

/** What a namespace behind onion0 dials for the test's web server: hostd's tor maps it to 127.0.0.1. */
const STAND_IN = `198.18.${randomInt(1, 255)}.${randomInt(1, 255)}`;

type CallHomeStatus = VerbOutput<'callhome.status'>;
/** Dials the jail's onion address through a client tor, retrying while the service is still appearing. */
function dialOnion(proxy: SocksProxyEndpoint, address: string): Promise<OnionDialOutcome> {
  return dialOnionService(
    proxy,
    { host: address, port: 22 },
    { timeoutMs: 120_000, connectTimeoutMs: 60_000 },
  );
}

/** The first line the server behind the address sends: an SSH server's identification. */
async function bannerThrough(outcome: OnionDialOutcome): Promise<string> {
  assert.ok('socket' in outcome, `connected (SOCKS reply ${'reply' in outcome ? outcome.reply : ''})`);
  return readFirstLine(outcome.socket);
}

describe('call-home and onion0 in hostd, over a private Tor network', { timeout: 600_000 }, () => {
  let network: TestTorNetwork;
  let clientControl: TorControlClient;
  let root: string;
  let hostd: HostdProcess;
  let users: JailTestUsers;
  let jailPort: number;
  let web: LoopbackHttpServer;
  let namespace: TestNetworkNamespace;
  let address = '';
  let authLine = '';
  const device = {
    name: `mvh${randomBytes(3).toString('hex')}`,
    subnet: `10.156.${randomInt(0, 256)}.${randomInt(0, 64) * 4}/30`,
  };

  const proxy = (): SocksProxyEndpoint => ({
    host: network.client.socksHost,
    port: network.client.socksPort,
  });
  const status = (): Promise<CallHomeStatus> => hostd.mvctlJson<CallHomeStatus>(['callhome', 'status']);
  const published = (what: string, accept: (report: CallHomeStatus) => boolean = () => true) =>
    eventually(
      what,
      async () => {
        const report = await status();
        return report.published && accept(report) ? report : undefined;
      },
      180_000,
    );

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'hostd-callhome-'));
    // tor runs as debian-tor and the jail's sandbox user must reach its session socket: both traverse root.
    await chmod(root, 0o711);
    jailPort = await freeLoopbackPort();
    web = await startLoopbackHttpServer('hostd-onion0');

    network = await startTestTorNetwork();
    clientControl = await network.client.openControl();
    const extra = join(root, 'torrc-extra');
    await writeFile(
      extra,
      [
        '# the private test network',
        ...network.clientTorrcLines,
        `MapAddress ${STAND_IN} 127.0.0.1`,
        '',
      ].join('\n'),
    );
    hostd = new HostdProcess({
      root,
      env: {
        MULTIVERSE_LIBVIRT_URI: 'test:///default',
        MULTIVERSE_JAIL_LISTEN: `127.0.0.1:${jailPort}`,
        MULTIVERSE_DISPOSABLE_POOL: 'none',
        MULTIVERSE_TOR: 'own',
        MULTIVERSE_TORRC_EXTRA: extra,
      },
    });
    await hostd.start();
    users = new JailTestUsers(hostd, root, () => jailPort);
    users.makeClientKey();
    await users.add('vera', 'viewer');
    namespace = await createTestNamespace('mvhostd-onion');
  });

  after(async () => {
    await hostd?.mvctl(['onion', 'down', '--name', device.name]);
    await new OnionDevice(device).down().catch(() => undefined);
    await hostd?.stop();
    await namespace?.delete();
    clientControl?.close();
    await web?.close();
    await network?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('refuses to publish without a device, and starts no tor until something needs one', async () => {
    const refused = await hostd.mvctlError(['callhome', 'enable']);
    assert.deepEqual(refused, { code: 1, error: 'CALLHOME_NO_CLIENTS' });
    const report = await status();
    assert.equal(report.state, 'disabled');
    assert.equal(report.tor.state, 'idle');
    assert.equal(report.target, `127.0.0.1:${jailPort}`);
    const invalid = await hostd.mvctlError(['callhome', 'add-client', 'no;pe']);
    assert.deepEqual(invalid, { code: 2, error: 'INPUT_INVALID' });
  });

  it('authorizes a device (auth line and QR shown once, kept nowhere) and publishes the jail with client auth', async () => {
    const shown = await hostd.mvctl(['callhome', 'add-client', 'laptop']);
    assert.equal(shown.code, 0, shown.stderr);
    authLine = /^ {2}([a-z2-7]{56}:descriptor:x25519:[A-Z2-7]{52})$/m.exec(shown.stdout)?.[1] ?? '';
    address = `${authLine.split(':')[0]}.onion`;
    assert.match(shown.stdout, new RegExp(`laptop may now reach ${address.replace('.', '\\.')}`));
    assert.ok(shown.stdout.includes('▀'), 'a QR code drawn in block characters');
    const privateKey = authLine.split(':')[3] ?? '';

    const enabled = await hostd.mvctlJson<CallHomeStatus>(['callhome', 'enable']);
    assert.equal(enabled.enabled, true);
    assert.equal(enabled.onionAddress, address);
    assert.equal(enabled.clientAuth, true);
    assert.deepEqual(
      enabled.clients.map((client) => client.name),
      ['laptop'],
    );
    assert.deepEqual(enabled.tor.usedBy, ['callhome']);
    const report = await published('the service published');
    assert.equal(report.tor.state, 'running');
    assert.equal(report.tor.bootstrap?.progress, 100);
    assert.ok(report.uploads >= 1);

    // What hostd keeps: the service key and the device's public key, in 0700/0600 files; never the private one.
    const directory = join(hostd.stateDir, 'callhome');
    assert.equal((await stat(directory)).mode & 0o777, 0o700);
    for (const file of ['service-key.json', 'callhome.json']) {
      assert.equal((await stat(join(directory, file))).mode & 0o777, 0o600);
      assert.ok(
        !(await readFile(join(directory, file), 'utf8')).includes(privateKey),
        `${file} holds no private key`,
      );
    }
    const { entries } = await hostd.mvctlJson<{ entries: AuditEntry[] }>([
      'audit',
      'list',
      '--limit',
      '1000',
    ]);
    const additions = entries.filter((entry) => entry.action === 'callhome.add-client');
    // The refused name of the first test, then this one.
    assert.deepEqual(
      additions.map((entry) => [entry.target, entry.result]),
      [
        ['-', 'failed'],
        ['callhome/laptop', 'ok'],
      ],
    );
    assert.ok(
      entries.every((entry) => !JSON.stringify(entry.details).includes(privateKey)),
      'no audit row holds it',
    );
  });

  it('logs in over SSH + TOTP through the onion address only with the client authorization', async () => {
    // Without the auth line the client tor cannot even read the descriptor.
    assert.deepEqual(await dialOnion(proxy(), address), { reply: SOCKS_REPLY.onionMissingClientAuth });
    const ssh = () =>
      runOpenSsh(
        users.login('vera', {
          port: 22,
          options: ['-o', `ProxyCommand=nc -X 5 -x 127.0.0.1:${network.client.socksPort} ${address} 22`],
          command: ['vm list'],
        }),
        undefined,
        90_000,
      );
    const refused = await ssh();
    assert.equal(refused.status, 255, `ssh failed: ${refused.stderr}`);
    assert.equal(refused.stdout, '');

    const authDirectory = join(root, 'client-auth');
    await mkdir(authDirectory, { mode: 0o700 });
    await writeFile(join(authDirectory, 'laptop.auth_private'), `${authLine}\n`, { mode: 0o600 });
    await clientControl.setConf({ ClientOnionAuthDir: authDirectory });
    assert.match(await bannerThrough(await dialOnion(proxy(), address)), /^SSH-2\.0-/);

    const session = await ssh();
    assert.equal(session.status, 0, `ssh: ${session.stderr}`);
    assert.match(session.stdout, /NAME +STATE[^\n]*\n[^\n]*test +running/);
    const { entries } = await hostd.mvctlJson<{ entries: AuditEntry[] }>([
      'audit',
      'list',
      '--limit',
      '1000',
    ]);
    const logins = entries.filter((entry) => entry.action === 'jail.auth.totp' && entry.result === 'ok');
    assert.equal(logins.length, 1, 'one login: the one through the onion service');
    assert.equal(logins[0]?.actor.user, 'vera');
  });

  it('brings onion0 up in a namespace through mvctl: TCP through hostd’s tor, UDP dropped and counted', async () => {
    const up = await hostd.mvctlJson<VerbOutput<'onion.up'>>([
      'onion',
      'up',
      '--name',
      device.name,
      '--subnet',
      device.subnet,
      '--namespace',
      namespace.name,
    ]);
    assert.equal(up.device.state, 'up');
    assert.equal(up.device.namespace, namespace.name);
    assert.deepEqual(up.tor.usedBy, ['callhome', `onion-device:${device.name}`]);
    const fetched = await namespace.exec(
      'curl',
      ['--silent', '--show-error', '--max-time', '60', `http://${STAND_IN}:${web.port}/`],
      { timeoutMs: 90_000 },
    );
    assert.equal(fetched.stdout, web.body, `curl: ${fetched.stderr}`);
    await namespace.exec('bash', ['-c', `echo probe > /dev/udp/${up.device.hostAddress}/9`]);
    const shown = await hostd.mvctl(['onion', 'status', '--name', device.name]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`peer +${device.name} in namespace ${namespace.name}`));
    assert.match(shown.stdout, /udp [1-9]\d* \(/);
    const invalid = await hostd.mvctlError(['onion', 'status', '--name', 'Bad Name']);
    assert.deepEqual(invalid, { code: 2, error: 'INPUT_INVALID' });
  });

  it('starts its tor again when it is killed: the service and onion0 come back on their own', async () => {
    const before = await status();
    const pid = before.tor.pid;
    assert.ok(pid !== null);
    process.kill(pid, 'SIGKILL');
    const after = await published(
      'the service published again by a new tor',
      (report) => report.tor.pid !== null && report.tor.pid !== pid && report.reconnects >= 1,
    );
    assert.equal(after.onionAddress, address);
    assert.ok(after.tor.restarts >= 1);
    assert.match(await bannerThrough(await dialOnion(proxy(), address)), /^SSH-2\.0-/);
    // The new tor listens where the device's rules redirect: the namespace still reaches the web server.
    const fetched = await namespace.exec(
      'curl',
      ['--silent', '--show-error', '--max-time', '60', `http://${STAND_IN}:${web.port}/`],
      { timeoutMs: 90_000 },
    );
    assert.equal(fetched.stdout, web.body, `curl after the restart: ${fetched.stderr}`);
  });

  it('publishes the same address again when hostd restarts, and disable withdraws it for good', async () => {
    await hostd.stop();
    await hostd.start();
    const report = await published('the service published after the restart');
    assert.equal(report.onionAddress, address);
    assert.equal(report.enabled, true);
    assert.match(await bannerThrough(await dialOnion(proxy(), address)), /^SSH-2\.0-/);
    // onion0 stayed up (the kernel keeps it); the restarted hostd still knows it and takes it down.
    const down = await hostd.mvctlJson<VerbOutput<'onion.down'>>(['onion', 'down', '--name', device.name]);
    assert.equal(down.device.state, 'down');

    const disabled = await hostd.mvctlJson<CallHomeStatus>(['callhome', 'disable']);
    assert.equal(disabled.state, 'disabled');
    assert.deepEqual(
      disabled.clients.map((client) => client.name),
      ['laptop'],
    );
    const idle = await eventually('tor stopped: nothing needs it', async () => {
      const now = await status();
      return now.tor.state === 'idle' ? now : undefined;
    });
    assert.equal(idle.tor.pid, null);
    await hostd.stop();
    await hostd.start();
    const later = await status();
    assert.equal(later.enabled, false);
    assert.equal(later.tor.state, 'idle');
    assert.equal(later.onionAddress, address, 'the address is kept for the next enable');
  });

  it('uses an existing tor instead with MULTIVERSE_TOR=control:PATH', async () => {
    const controlSocket = network.client.controlSocketPath;
    const other = new HostdProcess({
      root: join(root, 'existing-tor'),
      env: {
        MULTIVERSE_LIBVIRT_URI: 'test:///default',
        MULTIVERSE_DISPOSABLE_POOL: 'none',
        MULTIVERSE_TOR: `control:${controlSocket}`,
      },
    });
    try {
      await other.start();
      const shown = await other.mvctlJson<VerbOutput<'onion.status'>>(['onion', 'status']);
      assert.equal(shown.tor.mode, `control:${controlSocket}`);
      assert.equal(shown.tor.state, 'connected');
      assert.equal(shown.tor.bootstrap?.progress, 100);
      assert.deepEqual(shown.tor.socksListeners, [
        `127.0.0.1:${network.client.socksPort}`,
        `unix:${network.client.socksSocketPath}`,
      ]);
    } finally {
      await other.stop();
    }
  });
});
