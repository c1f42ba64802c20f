import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SocksProxyEndpoint } from '../bridge/socks5-client.js';
import { SOCKS_REPLY } from '../bridge/socks5-protocol.js';
import type { TorControlClient } from '../control/client.js';
import {
  createTestNamespace,
  type NamespaceLink,
  type TestNetworkNamespace,
} from '../test-network/network-namespace.js';
import { startTestTorNetwork, type TestTorClient, type TestTorNetwork } from '../test-network/network.js';
import { dialOnionService, type OnionDialOutcome } from '../test-network/onion-dial.js';
import { CallHome, type CallHomeNewClient, type CallHomeState } from './callhome.js';
import type { CallHomeClient } from './client-credentials.js';
import { MemoryOnionServiceKeyStore } from './memory-key-store.js';

const VIRTUAL_PORT = 7;
/** Sends a line through the echo server behind the onion and resolves with what came back. */
async function echoThrough(outcome: OnionDialOutcome, line: string): Promise<string> {
  assert.ok('socket' in outcome, `connected (SOCKS reply ${'reply' in outcome ? outcome.reply : ''})`);
  const socket = outcome.socket;
  return new Promise((resolve, reject) => {
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (received.length >= line.length) {
        socket.destroy();
        resolve(received);
      }
    });
    socket.once('error', reject);
    socket.write(line);
  });
}

describe('CallHome through a private Tor network, from behind NAT', { timeout: 900_000 }, () => {
  let namespace: TestNetworkNamespace;
  let link: NamespaceLink;
  let network: TestTorNetwork;
  let serviceTor: TestTorClient;
  let clientControl: TorControlClient;
  let directory: string;
  let echo: Server;
  let echoSocket: string;
  let authDirectory: string;
  const keyStore = new MemoryOnionServiceKeyStore();
  let savedClients: readonly CallHomeClient[] = [];
  let home: CallHome | undefined;
  let phone: CallHomeNewClient;
  const states: CallHomeState[] = [];

  const newCallHome = (): CallHome =>
    new CallHome({
      connect: () => serviceTor.openControl(),
      keyStore,
      ports: [{ virtualPort: VIRTUAL_PORT, target: { unixPath: echoSocket } }],
      clients: savedClients,
      onClientsChanged: (clients) => {
        savedClients = clients;
      },
      onStateChange: (status) => states.push(status.state),
      reconnectDelayMs: { initial: 250, max: 2_000 },
      republishAfterMs: 20_000,
    });

  const clientProxy = (): SocksProxyEndpoint => ({
    host: network.client.socksHost,
    port: network.client.socksPort,
  });
  /** Dials the phone's service, retrying while it is still appearing. */
  const dialPhone = (): Promise<OnionDialOutcome> =>
    dialOnionService(clientProxy(), { host: phone.onionAddress, port: VIRTUAL_PORT });

  before(async () => {
    namespace = await createTestNamespace('mvonion-nat');
    link = await namespace.connectToHost({
      interfaceName: `mvn${randomBytes(3).toString('hex')}`,
      subnet: `10.154.${randomInt(0, 256)}.${randomInt(0, 64) * 4}/30`,
    });
    directory = await mkdtemp(join(tmpdir(), 'onion-callhome-'));
    // The namespace is a host behind NAT: it may connect out, nothing may connect in.
    const firewall = join(directory, 'no-way-in.nft');
    await writeFile(
      firewall,
      [
        'table inet multiverse_onion_nat {',
        '  counter refused_inbound { }',
        '  chain input {',
        '    type filter hook input priority filter; policy drop;',
        '    iif lo accept',
        '    ct state established,related accept',
        '    counter name "refused_inbound" drop',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    const installed = await namespace.exec('nft', ['-f', firewall]);
    assert.equal(installed.code, 0, installed.stderr);

    // The network's relays listen on the host side of the link, so the namespace reaches them only by
    // connecting out; the clients in this namespace reach them as local addresses.
    network = await startTestTorNetwork({ address: link.hostAddress });
    serviceTor = await network.startClient({
      nickname: 'behindnat',
      commandPrefix: ['ip', 'netns', 'exec', namespace.name],
    });
    clientControl = await network.client.openControl();

    echoSocket = join(directory, 'echo.sock');
    echo = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => echo.listen(echoSocket, resolve));
    authDirectory = join(directory, 'client-auth');
    await mkdir(authDirectory, { mode: 0o700 });
  });

  after(async () => {
    await home?.stop();
    clientControl?.close();
    echo?.close();
    await network?.stop();
    await namespace?.delete();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  it('runs the service tor in a namespace nothing can connect into', async () => {
    const refused = await new Promise<string>((resolve) => {
      const socket = createConnection({ host: link.namespaceAddress, port: 22, timeout: 3_000 });
      socket.once('timeout', () => {
        socket.destroy();
        resolve('timed out');
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
    });
    // Without the firewall the namespace would answer at once with a reset (ECONNREFUSED).
    assert.equal(refused, 'timed out');
    const counter = await namespace.exec('nft', [
      'list',
      'counter',
      'inet',
      'multiverse_onion_nat',
      'refused_inbound',
    ]);
    assert.match(counter.stdout, /packets [1-9]/);
    const control = await serviceTor.openControl();
    try {
      assert.equal(
        (await control.bootstrapStatus()).progress,
        100,
        'yet its tor bootstrapped by connecting out',
      );
    } finally {
      control.close();
    }
  });

  it('publishes with client authorization: the auth line gets a client in, a client without it cannot read the descriptor', async () => {
    home = newCallHome();
    phone = await home.addClient('phone');
    await home.start();
    const published = await home.waitUntilPublished(150_000);
    assert.equal(published.onionAddress, phone.onionAddress);
    assert.equal(published.clientAuth, true);
    assert.ok(published.uploads >= 1);

    const withoutKey = await dialPhone();
    assert.deepEqual(withoutKey, { reply: SOCKS_REPLY.onionMissingClientAuth });

    await writeFile(join(authDirectory, 'phone.auth_private'), `${phone.authLine}\n`, { mode: 0o600 });
    await clientControl.setConf({ ClientOnionAuthDir: authDirectory });
    assert.equal(await echoThrough(await dialPhone(), 'hello, home\n'), 'hello, home\n');
  });

  it('keeps its address when call-home itself restarts (the key comes from the store)', async () => {
    await home?.stop();
    assert.equal(home?.status().state, 'stopped');
    home = newCallHome();
    await home.start();
    const published = await home.waitUntilPublished(150_000);
    assert.equal(published.onionAddress, phone.onionAddress);
    assert.equal(keyStore.saved.length, 1, 'the key was made once');
    assert.deepEqual(
      published.clients.map((client) => client.name),
      ['phone'],
    );
    assert.equal(await echoThrough(await dialPhone(), 'again\n'), 'again\n');
  });

  it('reconnects by itself when tor restarts and publishes the same address again', async () => {
    const running = home as CallHome;
    states.length = 0;
    serviceTor = await network.restartClient('behindnat');
    const published = await running.waitUntilPublished(150_000);
    assert.ok(states.includes('reconnecting'), `states: ${states.join(' → ')}`);
    assert.equal(published.reconnects, 1);
    assert.equal(published.onionAddress, phone.onionAddress);
    assert.equal(await echoThrough(await dialPhone(), 'after restart\n'), 'after restart\n');
  });

  it('publishes again when clients change, and withdraws the service when the last one goes', async () => {
    const running = home as CallHome;
    const uploads = running.status().uploads;
    await running.addClient('laptop');
    const republished = await running.waitUntilPublished(150_000);
    assert.ok(republished.uploads > uploads);
    assert.deepEqual(
      savedClients.map((client) => client.name),
      ['phone', 'laptop'],
    );
    assert.equal(await echoThrough(await dialPhone(), 'still me\n'), 'still me\n');

    await running.removeClient('laptop');
    await running.removeClient('phone');
    const status = running.status();
    assert.equal(status.state, 'withdrawn');
    assert.equal(status.clientAuth, false);
    assert.deepEqual(savedClients, []);
  });
});
