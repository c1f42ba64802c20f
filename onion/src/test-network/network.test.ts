import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectThroughSocks5 } from '../bridge/socks5-client.js';
import { TorControlClient } from '../control/client.js';
import { httpGetOverSocket, startLoopbackHttpServer, type LoopbackHttpServer } from './loopback-http.js';
import { startTestTorNetwork, type TestTorNetwork } from './network.js';
import { TestTorNetworkError } from './errors.js';
import { NODE_FILES } from './torrc.js';

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('startTestTorNetwork', { timeout: 600_000 }, () => {
  let network: TestTorNetwork;
  let web: LoopbackHttpServer;
  let lines: string[];

  before(async () => {
    lines = [];
    network = await startTestTorNetwork({ log: (line) => lines.push(line) });
    web = await startLoopbackHttpServer('network-test');
  });

  after(async () => {
    await web?.close();
    await network?.stop();
  });

  it('starts three authorities, three relays, a client and an onion host, and says how long it took', (t) => {
    t.diagnostic(lines.join('\n'));
    const roles = network.nodes().map((node) => node.role);
    assert.deepEqual(roles.filter((role) => role === 'authority').length, 3);
    assert.deepEqual(roles.filter((role) => role === 'exit').length, 2);
    assert.deepEqual(roles.filter((role) => role === 'relay').length, 1);
    assert.deepEqual(roles.filter((role) => role === 'client').length, 2);
    assert.ok(network.nodes().every((node) => isRunning(node.pid)));
    assert.ok(network.bootstrapSeconds > 0);
    assert.match(lines.join('\n'), /bootstrapped in [0-9.]+ s/);
    assert.equal(new Set(network.authorities.map((authority) => authority.v3Identity)).size, 3);
  });

  it('carries a fetch to a loopback server through an exit', async () => {
    const socket = await connectThroughSocks5(
      { host: network.client.socksHost, port: network.client.socksPort },
      { host: '127.0.0.1', port: web.port },
    );
    assert.equal((await httpGetOverSocket(socket, '127.0.0.1')).body, web.body);
  });

  it('publishes an onion service, and the same address again from its key', async () => {
    const service = await network.addOnionService({
      target: { host: '127.0.0.1', port: web.port },
      virtualPort: 8080,
    });
    await network.waitUntilReachable(service.onionAddress, 8080);
    const socket = await connectThroughSocks5(
      { path: network.client.socksSocketPath },
      { host: service.onionAddress, port: 8080 },
    );
    assert.equal((await httpGetOverSocket(socket, service.onionAddress)).body, web.body);
    await service.remove();

    const again = await network.addOnionService({
      target: { host: '127.0.0.1', port: web.port },
      privateKey: service.privateKey,
    });
    assert.equal(again.onionAddress, service.onionAddress);
    await again.remove();
  });

  // tor schedules a descriptor's next upload 1-2 hours after the one it skipped or that failed, so a service
  // whose first upload did not happen is only published by adding it again.
  it('publishes a service again when tor skipped its first upload', async () => {
    const host = network.nodes().find((node) => node.nickname === 'onionhost');
    assert.ok(host);
    const serviceLog = join(host.dataDirectory, NODE_FILES.onionServiceLog);
    const skippedUploads = async (): Promise<number> =>
      ((await readFile(serviceLog, 'utf8')).match(/not publishing descriptor/g) ?? []).length;
    const control = await TorControlClient.open({ path: join(host.dataDirectory, NODE_FILES.controlSocket) });
    try {
      await control.setConf({ PublishHidServDescriptors: '0' });
      const skippedBefore = await skippedUploads();
      const publishing = network.addOnionService({ target: { host: '127.0.0.1', port: web.port } });
      while ((await skippedUploads()) === skippedBefore) await sleep(250);
      await control.setConf({ PublishHidServDescriptors: '1' });
      const service = await publishing;
      assert.match(
        lines.join('\n'),
        /was not uploaded \(attempt 1: HS_DESC CREATED, CREATED\); publishing again/,
      );
      await network.waitUntilReachable(service.onionAddress, service.virtualPort);
      await service.remove();
    } finally {
      await control.setConf({ PublishHidServDescriptors: '1' });
      control.close();
    }
  });

  it('starts an extra client through a command prefix (as a network namespace would)', async () => {
    const extra = await network.startClient({
      nickname: 'prefixed',
      commandPrefix: ['/usr/bin/env', 'TZ=UTC'],
    });
    const node = network.nodes().find((candidate) => candidate.nickname === 'prefixed');
    assert.equal(node?.pid, extra.pid, "env execs tor, so the PID the harness tracks is tor's");
    const socket = await connectThroughSocks5(
      { path: extra.socksSocketPath },
      { host: '127.0.0.1', port: web.port },
    );
    assert.equal((await httpGetOverSocket(socket, '127.0.0.1')).body, web.body);
    await assert.rejects(
      network.startClient({ nickname: 'prefixed' }),
      (error: unknown) =>
        error instanceof TestTorNetworkError && error.code === 'TOR_NETWORK_INVALID_OPTIONS',
    );
  });

  it('stops every tor by PID and deletes its directory; a second stop is harmless', async () => {
    const pids = network.nodes().map((node) => node.pid);
    await network.stop();
    assert.deepEqual(pids.filter(isRunning), []);
    await assert.rejects(stat(network.directory), { code: 'ENOENT' });
    await network.stop();
    await assert.rejects(
      network.addOnionService({ target: { host: '127.0.0.1', port: web.port } }),
      (error: unknown) => error instanceof TestTorNetworkError && error.code === 'TOR_NETWORK_STOPPED',
    );
  });
});
