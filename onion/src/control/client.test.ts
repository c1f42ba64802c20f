import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { connectThroughSocks5 } from '../bridge/socks5-client.js';
import { Socks5Error } from '../bridge/socks5-error.js';
import { SOCKS_REPLY } from '../bridge/socks5-protocol.js';
import {
  httpGetOverSocket,
  startLoopbackHttpServer,
  type LoopbackHttpServer,
} from '../test-network/loopback-http.js';
import { startTestTorNetwork, type TestTorNetwork } from '../test-network/network.js';
import { TorControlClient } from './client.js';
import { TorControlError } from './errors.js';
import type { BootstrapEvent, CircuitEvent, HsDescriptorEvent, StreamEvent } from './events.js';
import { generateOnionClientAuthKeyPair, isOnionServiceId } from './onion-service.js';

const isReplyError =
  (status: number) =>
  (error: unknown): boolean =>
    error instanceof TorControlError && error.code === 'TOR_CONTROL_REPLY' && error.status === status;

describe('TorControlClient against a private Tor network', { timeout: 600_000 }, () => {
  let network: TestTorNetwork;
  let control: TorControlClient;
  let web: LoopbackHttpServer;

  before(async () => {
    network = await startTestTorNetwork();
    control = await network.client.openControl();
    web = await startLoopbackHttpServer('control-test');
  });

  after(async () => {
    control?.close();
    await web?.close();
    await network?.stop();
  });

  describe('authentication', () => {
    it('uses SAFECOOKIE by default and COOKIE when asked, over TCP and the unix socket', async () => {
      const fresh = await TorControlClient.connect({ port: network.client.controlPort });
      try {
        const offered = await fresh.protocolInfo();
        assert.deepEqual([...offered.authMethods].sort(), ['COOKIE', 'SAFECOOKIE']);
        assert.equal(offered.cookieFile, network.client.cookieFile);
        assert.match(offered.torVersion, /^0\.4\./);
      } finally {
        fresh.close();
      }
      for (const method of ['SAFECOOKIE', 'COOKIE'] as const) {
        const client = await TorControlClient.open(
          { host: '127.0.0.1', port: network.client.controlPort },
          { method },
        );
        assert.match(await client.getInfoValue('version'), /^0\.4\./);
        client.close();
      }
    });

    it('refuses a control port that cannot prove it knows the cookie', async () => {
      const wrongCookie = join(network.directory, 'wrong-cookie');
      await writeFile(wrongCookie, Buffer.alloc(32, 1));
      await assert.rejects(
        TorControlClient.open({ path: network.client.controlSocketPath }, { cookieFile: wrongCookie }),
        (error: unknown) =>
          error instanceof TorControlError && error.code === 'TOR_CONTROL_AUTH_SERVER_MISMATCH',
      );
    });

    it('authenticates with a hashed password and reports a wrong one as 515', async () => {
      const { stdout } = await promisify(execFile)('tor', [
        '--quiet',
        '--hash-password',
        'correct horse "battery"',
      ]);
      const hashed = stdout.trim().split('\n').pop() as string;
      assert.match(hashed, /^16:[0-9A-F]+$/);
      await control.setConf({ HashedControlPassword: hashed });
      try {
        const good = await TorControlClient.open(
          { port: network.client.controlPort },
          { password: 'correct horse "battery"' },
        );
        assert.match(await good.getInfoValue('version'), /^0\.4\./);
        good.close();
        await assert.rejects(
          TorControlClient.open(
            { port: network.client.controlPort },
            { password: 'wrong', method: 'HASHEDPASSWORD' },
          ),
          isReplyError(515),
        );
      } finally {
        await control.resetConf({ HashedControlPassword: null });
      }
    });

    it('says what to do when no offered method can be used', async () => {
      await assert.rejects(
        TorControlClient.open({ port: network.client.controlPort }, { method: 'HASHEDPASSWORD' }),
        (error: unknown) =>
          error instanceof TorControlError &&
          error.code === 'TOR_CONTROL_AUTH_UNAVAILABLE' &&
          /COOKIE/.test(error.message),
      );
    });
  });

  describe('commands', () => {
    it('reads single values, several keys at once and multi-line data values', async () => {
      const values = await control.getInfo(['version', 'config-text', 'ns/all', 'net/listeners/socks']);
      assert.match(values.get('version') ?? '', /^0\.4\.9/);
      assert.match(values.get('config-text') ?? '', /^TestingTorNetwork 1$/m);
      const relays = (values.get('ns/all') ?? '').split('\n').filter((line) => line.startsWith('r '));
      assert.equal(relays.length, 6);
      assert.match(
        values.get('net/listeners/socks') ?? '',
        new RegExp(`"127\\.0\\.0\\.1:${network.client.socksPort}"`),
      );
    });

    it('answers pipelined commands in order', async () => {
      const keys = ['version', 'process/pid', 'traffic/read', 'config-file', 'status/circuit-established'];
      const results = await Promise.all([...keys, ...keys].map((key) => control.getInfoValue(key)));
      assert.equal(results[1], String(network.client.pid));
      assert.deepEqual(results.slice(0, 2), results.slice(5, 7));
      assert.equal(results[4], '1');
    });

    it('turns 5xx replies into TorControlError with status and text', async () => {
      await assert.rejects(control.getInfo(['no-such-key']), (error: unknown) => {
        assert.ok(error instanceof TorControlError);
        assert.equal(error.code, 'TOR_CONTROL_REPLY');
        assert.equal(error.status, 552);
        assert.match(error.replyText ?? '', /no-such-key/);
        return true;
      });
      await assert.rejects(control.setConf({ NoSuchOption: '1' }), isReplyError(552));
      await assert.rejects(control.setConf({ SocksTimeout: 'not a number' }), isReplyError(513));
      // The connection is still usable after errors.
      assert.match(await control.getInfoValue('version'), /^0\.4\./);
    });

    it('sets values with quotes, backslashes and line breaks verbatim, never as extra commands', async () => {
      const hostile = 'said "hi" \\ and\r\nSIGNAL HALT\r\nSETCONF SocksPort=0\ttab ünïcode';
      await control.setConf({ ContactInfo: hostile });
      assert.deepEqual(await control.getConf(['ContactInfo']), [{ key: 'ContactInfo', value: hostile }]);
      // tor is alive and its SOCKS port untouched: neither injected command ran.
      assert.equal(await control.getInfoValue('process/pid'), String(network.client.pid));
      assert.match(
        await control.getInfoValue('net/listeners/socks'),
        new RegExp(`:${network.client.socksPort}"`),
      );

      await control.resetConf({ ContactInfo: null });
      assert.deepEqual(await control.getConf(['ContactInfo']), [{ key: 'ContactInfo', value: null }]);
    });

    it('sets several values of one option and resets them to a given value', async () => {
      await control.setConf({
        LongLivedPorts: '21,22',
        ReachableAddresses: ['accept 127.0.0.1:*', 'reject *:*'],
      });
      assert.deepEqual(await control.getConf(['ReachableAddresses']), [
        { key: 'ReachableAddresses', value: 'accept 127.0.0.1:*' },
        { key: 'ReachableAddresses', value: 'reject *:*' },
      ]);
      await control.resetConf({ ReachableAddresses: null, LongLivedPorts: null });
      assert.deepEqual(await control.getConf(['ReachableAddresses']), [
        { key: 'ReachableAddresses', value: null },
      ]);
    });

    it('refuses values it cannot send safely before anything reaches tor', async () => {
      await assert.rejects(control.setConf({ ContactInfo: 'a\0b' }), /NUL/);
      await assert.rejects(control.setConf({ 'Contact Info': 'x' }), /configuration option name/);
      await assert.rejects(control.getInfo(['version\r\nSIGNAL HALT']), /printable ASCII/);
      await assert.rejects(control.sendCommand('GETINFO version\r\nSIGNAL HALT'), /one line/);
      assert.equal(await control.getInfoValue('process/pid'), String(network.client.pid));
    });

    it('sends NEWNYM', async () => {
      await control.signal('NEWNYM');
    });
  });

  describe('events', () => {
    // A fresh client that starts with DisableNetwork 1: subscribed before it does anything, the test sees
    // its whole bootstrap and every circuit it builds.
    it('reports bootstrap progress, then CIRC and STREAM events while commands are in flight', async (t) => {
      const watcher = await network.startClient({ nickname: 'watcher', networkDisabled: true });
      const events = await watcher.openControl();
      try {
        const progress: BootstrapEvent[] = [];
        const streams: StreamEvent[] = [];
        const circuits: CircuitEvent[] = [];
        events.onEvent('bootstrap', (event) => progress.push(event));
        events.onEvent('stream', (event) => streams.push(event));
        events.onEvent('circuit', (event) => circuits.push(event));
        await events.setEvents(['STATUS_CLIENT', 'CIRC', 'STREAM']);

        const done = events.waitForEvent('bootstrap', (event) => event.progress === 100, 120_000);
        const enabledAt = Date.now();
        await events.setConf({ DisableNetwork: '0' });
        const last = await done;
        t.diagnostic(`a new client bootstrapped in ${((Date.now() - enabledAt) / 1000).toFixed(1)} s`);
        assert.equal(last.tag, 'done');
        assert.ok(progress.length >= 3, `only ${progress.length} bootstrap events`);
        const values = progress.map((event) => event.progress);
        assert.deepEqual(
          values,
          [...values].sort((a, b) => a - b),
          'progress never goes backwards',
        );

        const fetch = connectThroughSocks5(
          { host: watcher.socksHost, port: watcher.socksPort },
          { host: '127.0.0.1', port: web.port },
          { username: 'events-test', password: 'x' },
        ).then((socket) => httpGetOverSocket(socket, '127.0.0.1'));
        // Keep the connection busy with commands for as long as the fetch takes.
        let fetched: { status: number; body: string } | undefined;
        let commands = 0;
        void fetch.then((result) => (fetched = result));
        while (fetched === undefined) {
          const [version, pid] = await Promise.all([
            events.getInfoValue('version'),
            events.getInfoValue('process/pid'),
          ]);
          assert.match(version, /^0\.4\./);
          assert.equal(pid, String(watcher.pid));
          commands += 2;
          await sleep(5);
        }
        assert.equal((await fetch).body, web.body);
        t.diagnostic(`${commands} commands answered while the fetch ran`);

        const succeeded = streams.find(
          (event) =>
            event.status === 'SUCCEEDED' &&
            event.targetPort === web.port &&
            event.socksUsername === 'events-test',
        );
        assert.ok(succeeded, `no SUCCEEDED stream event for port ${web.port}`);
        const built = circuits.find(
          (event) => event.circuitId === succeeded.circuitId && event.status === 'BUILT',
        );
        assert.ok(built, `no BUILT event for circuit ${succeeded.circuitId}`);
        assert.equal(built.path.length, 3);
        assert.ok(built.path.every((hop) => /^[0-9A-F]{40}$/.test(hop.fingerprint ?? '')));
      } finally {
        events.close();
      }
    });
  });

  describe('onion services', () => {
    it('adds a v3 service, re-adds it from its key, and deletes it', async () => {
      const first = await control.addOnion({
        key: { type: 'new' },
        ports: [{ virtualPort: 80, target: { host: '127.0.0.1', port: web.port } }],
      });
      assert.ok(isOnionServiceId(first.serviceId));
      assert.equal(first.onionAddress, `${first.serviceId}.onion`);
      assert.ok(first.privateKey);
      assert.equal(
        (await control.getInfoValue('onions/current')).split('\n').includes(first.serviceId),
        true,
      );
      await control.delOnion(first.onionAddress);
      await assert.rejects(control.delOnion(first.serviceId), isReplyError(552));

      const again = await control.addOnion({
        key: { type: 'ed25519-v3', privateKey: first.privateKey },
        ports: [{ virtualPort: 8080 }],
        flags: ['DiscardPK'],
      });
      assert.equal(again.serviceId, first.serviceId);
      assert.equal(again.privateKey, undefined);
      await control.delOnion(again.serviceId);
    });

    it('hides a service with client authorization until the client has the key', async (t) => {
      const keys = generateOnionClientAuthKeyPair();
      const began = Date.now();
      const service = await network.addOnionService({
        target: { host: '127.0.0.1', port: web.port },
        clientAuthV3: [keys.publicKeyBase32],
      });
      t.diagnostic(`published in ${((Date.now() - began) / 1000).toFixed(1)} s`);
      const descriptors: HsDescriptorEvent[] = [];
      const events = await network.client.openControl();
      events.onEvent('hsDescriptor', (event) => descriptors.push(event));
      await events.setEvents(['HS_DESC']);
      try {
        // Without the key the descriptor cannot be decrypted: tor says "missing client authorization"
        // (0xF4), possibly after "not found" (0xF0) while the descriptor is still spreading.
        let reply: number | undefined;
        const deadline = Date.now() + 60_000;
        while (reply !== SOCKS_REPLY.onionMissingClientAuth && Date.now() < deadline) {
          const error = await connectThroughSocks5(
            { host: network.client.socksHost, port: network.client.socksPort },
            { host: service.onionAddress, port: service.virtualPort },
          ).then(
            (socket) => {
              socket.destroy();
              return null;
            },
            (failure: unknown) => failure,
          );
          assert.ok(error instanceof Socks5Error, 'the service was reachable without client authorization');
          reply = error.reply;
          if (reply !== SOCKS_REPLY.onionMissingClientAuth) await sleep(1_000);
        }
        assert.equal(reply, SOCKS_REPLY.onionMissingClientAuth);
        t.diagnostic(
          `HS_DESC events: ${descriptors.map((event) => `${event.action} ${event.reason ?? ''}`).join(', ')}`,
        );
        assert.ok(
          descriptors.some((event) => event.action === 'REQUESTED' && event.address === service.serviceId),
        );

        t.diagnostic(`refused for lack of client auth after ${((Date.now() - began) / 1000).toFixed(1)} s`);
        await events.onionClientAuthAdd(service.onionAddress, keys.privateKeyBase64, 'test-client');
        const attempts = await network.waitUntilReachable(service.onionAddress, service.virtualPort);
        t.diagnostic(
          `reachable with the key after ${attempts} attempt(s), ${((Date.now() - began) / 1000).toFixed(1)} s`,
        );
        const socket = await connectThroughSocks5(
          { host: network.client.socksHost, port: network.client.socksPort },
          { host: service.onionAddress, port: service.virtualPort },
        );
        assert.equal((await httpGetOverSocket(socket, service.onionAddress)).body, web.body);
      } finally {
        await events.onionClientAuthRemove(service.onionAddress);
        events.close();
        await service.remove();
      }
    });
  });

  describe('connection lifetime', () => {
    it('rejects commands in flight and after close with TOR_CONTROL_CLOSED', async () => {
      const client = await network.client.openControl();
      let closedWith: Error | null | undefined;
      client.onClose((error) => (closedWith = error));
      const inFlight = client.getInfoValue('ns/all');
      client.close();
      await assert.rejects(
        inFlight,
        (error: unknown) => error instanceof TorControlError && error.code === 'TOR_CONTROL_CLOSED',
      );
      await assert.rejects(
        client.getInfoValue('version'),
        (error: unknown) => error instanceof TorControlError && error.code === 'TOR_CONTROL_CLOSED',
      );
      assert.equal(closedWith, null);
      assert.equal(client.closed, true);
    });

    it('reports a control port that is not there', async () => {
      await assert.rejects(
        TorControlClient.connect({ path: join(network.directory, 'no-such.sock') }),
        (error: unknown) =>
          error instanceof TorControlError &&
          error.code === 'TOR_CONTROL_CLOSED' &&
          /ControlPort/.test(error.message),
      );
    });
  });
});
