import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TorControlClient } from '../control/client.js';
import type { StreamEvent } from '../control/events.js';
import { allocateFreePorts } from '../test-network/free-ports.js';
import {
  httpGetOverSocket,
  startLoopbackHttpServer,
  type LoopbackHttpServer,
} from '../test-network/loopback-http.js';
import { startTestTorNetwork, type TestOnionService, type TestTorNetwork } from '../test-network/network.js';
import { SocketBridge, type BridgeClient, type BridgeConnectionRecord } from './bridge.js';
import { httpConnectOverUnixSocket } from './http-connect-client.js';
import { connectThroughSocks5 } from './socks5-client.js';
import { Socks5Error } from './socks5-error.js';
import { SOCKS_REPLY } from './socks5-protocol.js';

/** A real v3 address (the Tor Project's) that no service of the private network publishes. */
const UNPUBLISHED_ONION = '2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion';

describe('SocketBridge through a private Tor network', { timeout: 600_000 }, () => {
  let network: TestTorNetwork;
  let control: TorControlClient;
  let web: LoopbackHttpServer;
  let onion: TestOnionService;
  let directory: string;
  let bridge: SocketBridge;
  let alice: BridgeClient;
  let bob: BridgeClient;
  const streams: StreamEvent[] = [];
  const records: BridgeConnectionRecord[] = [];

  before(async () => {
    network = await startTestTorNetwork();
    control = await network.client.openControl();
    control.onEvent('stream', (event) => streams.push(event));
    await control.setEvents(['STREAM']);
    web = await startLoopbackHttpServer('bridge-test');
    onion = await network.addOnionService({ target: { host: '127.0.0.1', port: web.port } });
    directory = await mkdtemp(join(tmpdir(), 'bridge-tor-'));
    bridge = await SocketBridge.start({
      tor: { host: network.client.socksHost, port: network.client.socksPort },
      directory,
      onConnection: (record) => records.push(record),
    });
    alice = await bridge.addClient({ name: 'alice' });
    bob = await bridge.addClient({ name: 'bob' });
  });

  after(async () => {
    await bridge?.close();
    control?.close();
    await web?.close();
    await network?.stop();
    if (directory) await rm(directory, { recursive: true, force: true });
  });

  const socksFetch = async (
    client: BridgeClient,
    host: string,
    port: number,
    credentials: { username?: string; password?: string } = {},
  ): Promise<string> => {
    const socket = await connectThroughSocks5({ path: client.socketPath }, { host, port }, credentials);
    const response = await httpGetOverSocket(socket, host);
    assert.equal(response.status, 200);
    return response.body;
  };

  const connectFetch = async (client: BridgeClient, host: string, port: number): Promise<string> => {
    const response = await httpConnectOverUnixSocket(client.socketPath, `${host}:${port}`);
    assert.equal(response.status, 200, response.head);
    const fetched = await httpGetOverSocket(response.socket, host);
    assert.equal(fetched.status, 200);
    return fetched.body;
  };

  it('fetches a loopback HTTP server through tor with SOCKS5', async () => {
    assert.equal(await socksFetch(alice, '127.0.0.1', web.port), web.body);
    assert.equal(records.at(-1)?.outcome, 'connected');
    assert.equal(records.at(-1)?.protocol, 'socks5');
  });

  it('fetches it with HTTP CONNECT', async () => {
    assert.equal(await connectFetch(alice, '127.0.0.1', web.port), web.body);
    assert.equal(records.at(-1)?.protocol, 'http-connect');
  });

  it('works with curl as the SOCKS5 client (socks5h: names resolved by tor)', async () => {
    const { stdout } = await promisify(execFile)('curl', [
      '--silent',
      '--show-error',
      '--max-time',
      '60',
      '--proxy',
      `socks5h://localhost${alice.socketPath}`,
      `http://127.0.0.1:${web.port}/`,
    ]);
    assert.equal(stdout, web.body);
  });

  it('resolves and connects to a .onion name with SOCKS5 and with CONNECT', async () => {
    // A freshly published service can answer "host unreachable" for a few seconds: wait at tor first.
    await network.waitUntilReachable(onion.onionAddress, onion.virtualPort);
    assert.equal(await socksFetch(bob, onion.onionAddress, onion.virtualPort), web.body);
    assert.equal(await connectFetch(bob, onion.onionAddress, onion.virtualPort), web.body);
    assert.ok(
      streams.some(
        (event) =>
          event.status === 'SUCCEEDED' &&
          event.targetHost === onion.onionAddress &&
          event.socksUsername === 'multiverse-bridge:bob',
      ),
    );
  });

  it("gives each client, and each set of a client's own credentials, separate circuits", async () => {
    const before = streams.length;
    assert.equal(await socksFetch(alice, '127.0.0.1', web.port), web.body);
    assert.equal(await socksFetch(bob, '127.0.0.1', web.port), web.body);
    assert.equal(
      await socksFetch(alice, '127.0.0.1', web.port, { username: 'tab', password: '1' }),
      web.body,
    );
    assert.equal(
      await socksFetch(alice, '127.0.0.1', web.port, { username: 'tab', password: '2' }),
      web.body,
    );

    const succeeded = streams
      .slice(before)
      .filter((event) => event.status === 'SUCCEEDED' && event.targetPort === web.port);
    assert.equal(succeeded.length, 4);
    const circuitsByKey = new Map(
      succeeded.map((event) => [`${event.socksUsername} ${event.socksPassword}`, event.circuitId]),
    );
    assert.equal(circuitsByKey.size, 4, 'four isolation keys');
    assert.equal(
      new Set(circuitsByKey.values()).size,
      4,
      `circuits ${[...circuitsByKey.values()].join(', ')} must differ`,
    );
    assert.deepEqual([...new Set(succeeded.map((event) => event.socksUsername))].sort(), [
      'multiverse-bridge:alice',
      'multiverse-bridge:bob',
    ]);

    // The circuits themselves carry the credentials that isolate them.
    const circuits = await control.circuits();
    for (const event of succeeded) {
      const circuit = circuits.find((candidate) => candidate.circuitId === event.circuitId);
      assert.equal(circuit?.socksUsername, event.socksUsername);
      assert.equal(circuit?.socksPassword, event.socksPassword);
    }
  });

  it("passes tor's reply code on: general failure for a refused port, host unreachable for a bad name", async () => {
    // Exits answer a refused connection with END MISC, which tor reports as general failure (0x01); a
    // name the exit cannot resolve (this machine has no DNS) is "host unreachable" (0x04).
    const [closedPort] = await allocateFreePorts(1, '127.0.0.1');
    const cases = [
      {
        host: '127.0.0.1',
        port: closedPort as number,
        reply: SOCKS_REPLY.generalFailure,
        status: 'destination_unavailable',
      },
      {
        host: 'no-such-host.invalid',
        port: 80,
        reply: SOCKS_REPLY.hostUnreachable,
        status: 'destination_unavailable',
      },
    ];
    for (const expected of cases) {
      await assert.rejects(
        connectThroughSocks5({ path: alice.socketPath }, { host: expected.host, port: expected.port }),
        (error: unknown) => error instanceof Socks5Error && error.reply === expected.reply,
      );
      assert.deepEqual(
        [records.at(-1)?.outcome, records.at(-1)?.socksReply],
        ['tor-refused', expected.reply],
      );
      const response = await httpConnectOverUnixSocket(alice.socketPath, `${expected.host}:${expected.port}`);
      assert.equal(response.status, 502);
      assert.match(
        response.head,
        new RegExp(`error=${expected.status}; details="tor could not connect to ${expected.host}`),
      );
      response.socket.destroy();
    }
  });

  it('reports an onion service that is not published as not found (0xF0, HTTP 502)', async () => {
    await assert.rejects(
      connectThroughSocks5({ path: alice.socketPath }, { host: UNPUBLISHED_ONION, port: 80 }),
      (error: unknown) => error instanceof Socks5Error && error.reply === SOCKS_REPLY.onionDescriptorNotFound,
    );
    const response = await httpConnectOverUnixSocket(alice.socketPath, `${UNPUBLISHED_ONION}:80`);
    assert.equal(response.status, 502);
    assert.match(response.head, /error=destination_not_found; details=".*descriptor not found/);
    response.socket.destroy();
  });

  it('closes open tunnels when a client is removed', async () => {
    const carol = await bridge.addClient({ name: 'carol' });
    const response = await httpConnectOverUnixSocket(carol.socketPath, `127.0.0.1:${web.port}`);
    assert.equal(response.status, 200);
    const closed = new Promise<void>((resolve) => response.socket.once('close', () => resolve()));
    await bridge.removeClient('carol');
    await closed;
    assert.equal(
      bridge.clients.some((client) => client.name === 'carol'),
      false,
    );
  });
});
