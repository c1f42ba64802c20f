import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { access, readFile } from 'node:fs/promises';
import type { TorControlClient } from '../control/client.js';
import type { StreamEvent } from '../control/events.js';
import { startLoopbackHttpServer, type LoopbackHttpServer } from '../test-network/loopback-http.js';
import { createTestNamespace, type TestNetworkNamespace } from '../test-network/network-namespace.js';
import { startTestTorNetwork, type TestTorNetwork } from '../test-network/network.js';
import { startPacketCapture } from '../test-network/packet-capture.js';
import { networkContains } from './device-config.js';
import { OnionDevice } from './device.js';
import { OnionDeviceError } from './errors.js';

/**
 * A process in the namespace cannot address the host's 127.0.0.1 (its own loopback would answer), so it dials
 * this stand-in (RFC 2544's benchmarking range) and the test's tor client maps it to 127.0.0.1 (MapAddress):
 * the exit, on this machine's loopback, then connects to the test server.
 */
const STAND_IN = `198.18.${randomInt(1, 255)}.${randomInt(1, 255)}`;

describe('OnionDevice through a private Tor network', { timeout: 600_000 }, () => {
  let network: TestTorNetwork;
  let control: TorControlClient;
  let web: LoopbackHttpServer;
  let namespace: TestNetworkNamespace;
  let device: OnionDevice;
  const streams: StreamEvent[] = [];

  const curl = (url: string, extra: readonly string[] = []) =>
    namespace.exec('curl', ['--silent', '--show-error', '--max-time', '60', ...extra, url], {
      timeoutMs: 90_000,
    });

  before(async () => {
    network = await startTestTorNetwork();
    web = await startLoopbackHttpServer('onion-device-test');
    control = await network.client.openControl();
    control.onEvent('stream', (event) => streams.push(event));
    await control.setEvents(['STREAM']);
    await control.setConf({ MapAddress: `${STAND_IN} 127.0.0.1` });
    namespace = await createTestNamespace('mvonion-dev');
    device = new OnionDevice({
      name: `mvo${randomBytes(3).toString('hex')}`,
      subnet: `10.153.${randomInt(0, 256)}.${randomInt(0, 64) * 4}/30`,
    });
  });

  after(async () => {
    await device?.down({ tor: control }).catch(() => undefined);
    await namespace?.delete();
    control?.close();
    await web?.close();
    await network?.stop();
  });

  it('comes up with the peer in the namespace, tor listening on the host address and IPv6 off', async () => {
    const status = await device.up({ namespace: namespace.name, tor: control });
    assert.equal(status.state, 'up');
    const listeners = await control.getInfo(['net/listeners/trans', 'net/listeners/dns']);
    assert.equal(listeners.get('net/listeners/trans'), `"${device.hostAddress}:${status.transPort}"`);
    assert.equal(listeners.get('net/listeners/dns'), `"${device.hostAddress}:${status.dnsPort}"`);
    assert.deepEqual(
      Object.values(status.dropped).map((count) => count.packets),
      [0, 0, 0, 0, 0, 0],
    );

    const peer = await namespace.exec('ip', ['-j', 'address', 'show', 'dev', device.interfaceName]);
    assert.match(
      peer.stdout,
      new RegExp(`"local":"${device.peerAddress.replace(/\./g, '\\.')}","prefixlen":30`),
    );
    const route = await namespace.exec('ip', ['route', 'show', 'default']);
    assert.match(route.stdout, new RegExp(`default via ${device.hostAddress.replace(/\./g, '\\.')}`));
    const hostIpv6 = await readFile(`/proc/sys/net/ipv6/conf/${device.interfaceName}/disable_ipv6`, 'utf8');
    const peerIpv6 = await namespace.exec('cat', [
      `/proc/sys/net/ipv6/conf/${device.interfaceName}/disable_ipv6`,
    ]);
    assert.deepEqual([hostIpv6.trim(), peerIpv6.stdout.trim()], ['1', '1']);

    await assert.rejects(
      device.up({ namespace: namespace.name, tor: control }),
      (error: unknown) => error instanceof OnionDeviceError && error.code === 'ONION_DEVICE_EXISTS',
    );
  });

  it("carries a namespace process's TCP to a loopback server through tor's TransPort", async () => {
    const served = web.requests();
    const fetched = await curl(`http://${STAND_IN}:${web.port}/`);
    assert.equal(fetched.stdout, web.body, fetched.stderr);
    assert.equal(web.requests(), served + 1);
    // tor reports no SUCCEEDED for TransPort streams: NEW (with the namespace process as source), the remap
    // of the stand-in to 127.0.0.1, the connect through a circuit, and an orderly close.
    const opened = streams.find(
      (event) => event.status === 'NEW' && event.clientProtocol === 'TRANS' && event.targetPort === web.port,
    );
    assert.ok(opened, `tor reports a TransPort stream to the server: ${JSON.stringify(streams)}`);
    assert.equal(opened.sourceAddress?.split(':')[0], device.peerAddress);
    const sameStream = streams.filter((event) => event.streamId === opened.streamId);
    assert.ok(sameStream.some((event) => event.status === 'SENTCONNECT' && event.targetHost === '127.0.0.1'));
    assert.ok(sameStream.some((event) => event.status === 'CLOSED' && event.reason === 'DONE'));
  });

  it('resolves a .onion name through the DNSPort (also when a process asks another server) and connects', async () => {
    const onion = await network.addOnionService({ target: { host: '127.0.0.1', port: web.port } });
    await network.waitUntilReachable(onion.onionAddress, onion.virtualPort);
    // Any server: UDP 53 to an address that does not exist is answered by tor all the same.
    for (const nameserver of [device.hostAddress, '192.0.2.53']) {
      await namespace.useNameserver(nameserver);
      const fetched = await curl(`http://${onion.onionAddress}/`, ['--write-out', '\n%{remote_ip}']);
      const [body, remoteIp] = [
        fetched.stdout.slice(0, web.body.length),
        fetched.stdout.slice(web.body.length + 1),
      ];
      assert.equal(body, web.body, fetched.stderr);
      assert.ok(networkContains('10.192.0.0/10', remoteIp), `${remoteIp} is one of tor's virtual addresses`);
    }
    await onion.remove();
  });

  it('drops and counts UDP, ICMP, IPv6 and spoofed packets; none of them appears anywhere else on the host', async () => {
    const listener: UdpSocket = createSocket('udp4');
    const received: Buffer[] = [];
    listener.on('message', (message) => received.push(message));
    await new Promise<void>((resolve) => listener.bind(0, '0.0.0.0', resolve));
    const udpPort = listener.address().port;
    const icmpPayload = 1111 + randomInt(0, 200);
    // tcpdump's -i any sees every interface of the host's namespace (the peer end is in another one).
    const capture = await startPacketCapture(
      `(udp and port ${udpPort}) or (icmp and ip[2:2] == ${icmpPayload + 28}) or ` +
        `(ip6 and ip6[4:2] == ${icmpPayload + 8}) or (tcp and src host 192.0.2.9)`,
    );
    const before = (await device.status()).dropped;
    try {
      for (const target of [device.hostAddress, STAND_IN]) {
        await namespace.exec('bash', ['-c', `echo probe > /dev/udp/${target}/${udpPort}`]);
        const ping = await namespace.exec('busybox', [
          'ping',
          '-c',
          '1',
          '-W',
          '2',
          '-s',
          String(icmpPayload),
          target,
        ]);
        assert.notEqual(ping.code, 0, `no echo reply from ${target}`);
      }
      // Root in the namespace turns IPv6 back on: the frames still stop at the device.
      await namespace.exec('sysctl', ['-qw', `net.ipv6.conf.${device.interfaceName}.disable_ipv6=0`]);
      await waitForLinkLocalAddress(namespace, device.interfaceName);
      await namespace.exec('busybox', [
        'ping6',
        '-c',
        '1',
        '-W',
        '2',
        '-s',
        String(icmpPayload),
        '-I',
        device.interfaceName,
        'ff02::1',
      ]);
      await namespace.exec('sysctl', ['-qw', `net.ipv6.conf.${device.interfaceName}.disable_ipv6=1`]);
      // A spoofed source (an address the peer is not) is dropped before tor would answer it elsewhere.
      await namespace.exec('ip', ['address', 'add', '192.0.2.9/32', 'dev', device.interfaceName]);
      const spoofed = await curl(`http://${STAND_IN}:${web.port}/`, [
        '--interface',
        '192.0.2.9',
        '--max-time',
        '3',
      ]);
      assert.notEqual(spoofed.code, 0);
      await namespace.exec('ip', ['address', 'delete', '192.0.2.9/32', 'dev', device.interfaceName]);
    } finally {
      await new Promise((resolve) => setTimeout(resolve, 500));
      listener.close();
    }
    const packets = await capture.stop();
    const after = (await device.status()).dropped;

    assert.deepEqual(received, [], 'no UDP probe reached a socket on the host');
    assert.ok(after.udp.packets - before.udp.packets >= 2, `UDP drops ${JSON.stringify(after.udp)}`);
    assert.ok(after.icmp.packets - before.icmp.packets >= 2, `ICMP drops ${JSON.stringify(after.icmp)}`);
    assert.ok(after.ipv6.packets - before.ipv6.packets >= 1, `IPv6 drops ${JSON.stringify(after.ipv6)}`);
    assert.ok(
      after.spoofed.packets - before.spoofed.packets >= 1,
      `spoofed drops ${JSON.stringify(after.spoofed)}`,
    );
    const onDevice = packets.filter((packet) => packet.interfaceName === device.interfaceName);
    const elsewhere = packets.filter((packet) => packet.interfaceName !== device.interfaceName);
    assert.ok(
      onDevice.some((packet) => packet.summary.includes('ICMP echo request')) &&
        onDevice.some((packet) => packet.summary.startsWith('IP6')) &&
        onDevice.some((packet) => packet.summary.includes(`.${udpPort}: UDP`)),
      `the capture saw the probes arrive on the device:\n${onDevice.map((packet) => packet.summary).join('\n')}`,
    );
    assert.ok(
      onDevice.every((packet) => packet.direction !== 'Out'),
      `nothing answered the probes:\n${onDevice.map((packet) => `${packet.direction} ${packet.summary}`).join('\n')}`,
    );
    assert.deepEqual(elsewhere, [], 'no probe appeared on any other interface');
  });

  it("carries nothing when tor's listeners close (no fallback to a direct route)", async () => {
    const served = web.requests();
    await control.resetConf({ TransPort: null, DNSPort: null });
    const fetched = await curl(`http://${STAND_IN}:${web.port}/`, ['--max-time', '10']);
    assert.equal(fetched.code, 7, `curl could not connect: ${fetched.stderr}`);
    assert.equal(web.requests(), served);
  });

  it('goes down completely, also a second time, and says so', async () => {
    await device.down({ tor: control });
    await device.down({ tor: control });
    const status = await device.status();
    assert.equal(status.state, 'down');
    await assert.rejects(access(`/sys/class/net/${device.interfaceName}`));
    const peer = await namespace.exec('ip', ['link', 'show', device.interfaceName]);
    assert.notEqual(peer.code, 0, 'the peer end is gone from the namespace');
    const conf = await control.getConf(['TransPort', 'DNSPort']);
    assert.ok(conf.every((entry) => !(entry.value ?? '').startsWith(device.hostAddress)));
  });

  it('refuses a namespace that does not exist and leaves nothing behind', async () => {
    await assert.rejects(
      device.up({ namespace: `${namespace.name}-missing`, tor: control }),
      (error: unknown) =>
        error instanceof OnionDeviceError && error.code === 'ONION_DEVICE_NAMESPACE_MISSING',
    );
    assert.equal((await device.status()).state, 'down');
  });
});

/** After IPv6 is turned on, the link-local address is "tentative" until duplicate detection ends (~1 s). */
async function waitForLinkLocalAddress(
  namespace: TestNetworkNamespace,
  interfaceName: string,
): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const addresses = await namespace.exec('ip', [
      '-6',
      'address',
      'show',
      'dev',
      interfaceName,
      'scope',
      'link',
    ]);
    if (addresses.stdout.includes('inet6') && !addresses.stdout.includes('tentative')) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${interfaceName} in ${namespace.name} got no usable link-local address`);
}
