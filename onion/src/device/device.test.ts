import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createTestNamespace, type TestNetworkNamespace } from '../test-network/network-namespace.js';
import { deviceAddresses, networkContains, networksOverlap, parseCidr } from './device-config.js';
import type { TorControlClient } from '../control/client.js';
import { OnionDevice } from './device.js';
import { OnionDeviceError } from './errors.js';
import { buildOnionRuleset, buildOnionRulesetRemoval, readRulesetListing } from './nft-ruleset.js';

const invalidOptions = (error: unknown): boolean =>
  error instanceof OnionDeviceError && error.code === 'ONION_DEVICE_INVALID_OPTIONS';

describe('onion device configuration', () => {
  it('parses IPv4 networks and refuses host bits, bad prefixes and bad addresses', () => {
    assert.deepEqual(parseCidr('10.153.0.4/30'), { network: '10.153.0.4', prefixLength: 30 });
    for (const text of [
      '10.153.0.5/30',
      '10.153.0.0/33',
      '10.153.0/30',
      '256.1.1.0/30',
      '10.0.0.0',
      '10.0.0.0/3/0',
    ]) {
      assert.equal(parseCidr(text), undefined, text);
    }
  });

  it('gives the host side the first address of the /30 and the peer the second', () => {
    assert.deepEqual(deviceAddresses('10.153.7.8/30'), {
      hostAddress: '10.153.7.9',
      peerAddress: '10.153.7.10',
    });
    assert.throws(() => deviceAddresses('10.153.7.0/29'), invalidOptions);
  });

  it('knows which addresses and networks overlap', () => {
    assert.equal(networkContains('10.192.0.0/10', '10.255.255.255'), true);
    assert.equal(networkContains('10.192.0.0/10', '10.153.0.1'), false);
    assert.equal(networksOverlap('10.192.0.0/10', '10.200.0.0/30'), true);
    assert.equal(networksOverlap('10.153.0.0/30', '10.192.0.0/10'), false);
  });

  it('defaults to onion0 on 10.153.0.0/30 and refuses bad names and subnets', () => {
    const device = new OnionDevice();
    assert.deepEqual(
      [
        device.interfaceName,
        device.tableName,
        device.hostAddress,
        device.peerAddress,
        device.peerName(undefined),
      ],
      ['onion0', 'multiverse_onion_onion0', '10.153.0.1', '10.153.0.2', 'onion0p'],
    );
    assert.equal(device.peerName('ns1'), 'onion0');
    for (const options of [
      { name: 'Onion0' },
      { name: 'onion0-with-a-long-name' },
      { name: 'on;rm' },
      { subnet: '10.153.0.0/29' },
      { subnet: 'nonsense' },
      { extra: true },
    ]) {
      assert.throws(() => new OnionDevice(options), invalidOptions, JSON.stringify(options));
    }
  });

  it('refuses a tap link with a namespace, or an unknown link kind, before touching anything', async () => {
    const device = new OnionDevice({ name: `mvt${randomBytes(3).toString('hex')}` });
    // The options are checked before tor is ever asked: a client that would fail any call proves it.
    const tor = new Proxy({}, { get: () => assert.fail('tor was used') }) as TorControlClient;
    await assert.rejects(device.up({ tor, link: 'tap', namespace: 'ns1' }), (error: unknown) => {
      assert.ok(invalidOptions(error));
      assert.match((error as Error).message, /namespace: a tap link has no peer end/);
      return true;
    });
    await assert.rejects(
      device.up({ tor, link: 'macvtap' as 'tap' }),
      (error: unknown) => invalidOptions(error) && /link/.test((error as Error).message),
    );
    assert.equal((await device.status()).state, 'down');
  });
});

describe('onion device nftables rules', () => {
  let namespace: TestNetworkNamespace;
  const interfaceName = `mvo${randomBytes(3).toString('hex')}`;
  const tableName = `multiverse_onion_${interfaceName}`;

  before(async () => {
    namespace = await createTestNamespace('mvonion-nft');
    const added = await namespace.exec('ip', [
      'link',
      'add',
      interfaceName,
      'type',
      'veth',
      'peer',
      'name',
      `${interfaceName}p`,
    ]);
    assert.equal(added.code, 0, added.stderr);
  });

  after(async () => {
    await namespace?.delete();
  });

  const nft = async (args: readonly string[], input?: string) => {
    const result =
      input === undefined
        ? await namespace.exec('nft', args)
        : await namespace.exec('bash', ['-c', 'nft -f - <<"RULES"\n' + input + 'RULES\n']);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout;
  };

  it("are accepted by the kernel (in a test namespace) and read back: tor's ports and zero counters", async () => {
    const ruleset = buildOnionRuleset({
      tableName,
      interfaceName,
      hostAddress: '10.153.0.1',
      peerAddress: '10.153.0.2',
      transPort: 9040,
      dnsPort: 5353,
    });
    await nft([], ruleset);
    // Applying twice replaces the tables in one step instead of failing or adding a second copy.
    await nft([], ruleset);
    const listings = [
      await nft(['-j', 'list', 'table', 'netdev', tableName]),
      await nft(['-j', 'list', 'table', 'ip', tableName]),
    ];
    const reading = readRulesetListing(tableName, listings);
    assert.equal(reading.transPort, 9040);
    assert.equal(reading.dnsPort, 5353);
    assert.deepEqual(Object.keys(reading.dropped).sort(), [
      'icmp',
      'ipv6',
      'nonIp',
      'otherIp',
      'spoofed',
      'udp',
    ]);
    assert.ok(Object.values(reading.dropped).every((count) => count.packets === 0));
    assert.equal((listings[1]?.match(/"redirect"/g) ?? []).length, 2);

    await nft([], buildOnionRulesetRemoval(tableName));
    await nft([], buildOnionRulesetRemoval(tableName));
    assert.doesNotMatch(await nft(['list', 'tables']), new RegExp(tableName));
  });

  it('ignores counters and rules of other tables', () => {
    const listing = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        {
          counter: {
            family: 'ip',
            name: 'dropped_udp',
            table: 'someone_else',
            handle: 1,
            packets: 9,
            bytes: 9,
          },
        },
        {
          counter: { family: 'ip', name: 'dropped_udp', table: tableName, handle: 2, packets: 3, bytes: 90 },
        },
        {
          rule: {
            family: 'ip',
            table: 'someone_else',
            chain: 'to_tor',
            comment: 'tor-trans',
            expr: [{ redirect: { port: 1 } }],
          },
        },
      ],
    });
    assert.deepEqual(readRulesetListing(tableName, [listing]), {
      dropped: { udp: { packets: 3, bytes: 90 } },
    });
  });
});
