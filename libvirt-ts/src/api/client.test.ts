// LibvirtClient against the real libvirtd at /run/libvirt/libvirt-sock on the test driver (test:///default),
// and against a private libvirtd this file starts so it may kill it.
// test:///default's state is shared with every other client of that daemon, so each object here has a unique name and
// is removed again, also when a test fails.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  ConnectListAllDomainsFlags,
  DomainEventType,
  DomainState,
  DomainStatsTypes,
  DomainUndefineFlagsValues,
  StoragePoolState,
} from '../generated/enums.js';
import { startPrivateLibvirtd } from '../rpc/test-support/private-libvirtd.js';
import { LibvirtClient } from './client.js';
import type { Domain } from './domains.js';
import { typedParamsToObject } from './typed-params.js';
import { nextMatching, rejectsWithLibvirt } from './test-support/assertions.js';
import { InvalidArgumentError } from './validate.js';

const URI = 'test:///default';
const suffix = randomBytes(4).toString('hex');
const unique = (what: string): string => `lvts-${what}-${suffix}`;

const domainXml = (name: string): string =>
  `<domain type='test'><name>${name}</name><memory unit='KiB'>65536</memory><vcpu>1</vcpu>` +
  `<os><type>hvm</type></os></domain>`;

describe('LibvirtClient on test:///default', () => {
  let client: LibvirtClient;
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanupLater = (step: () => Promise<unknown>): void => void cleanups.unshift(step);

  before(async () => {
    client = await LibvirtClient.connect(URI);
  });
  after(async () => {
    for (const step of cleanups) await step().catch(() => undefined);
    await client.close();
  });

  it('reports versions, host name, capabilities and node facts', async () => {
    const lib = await client.getLibVersion();
    assert.ok(lib.major >= 9, `libvirt ${lib.major}.${lib.minor}.${lib.release}`);
    const hypervisor = await client.getVersion();
    assert.ok(hypervisor.major + hypervisor.minor + hypervisor.release > 0);
    assert.equal(await client.getHostname(), hostname());
    assert.match(await client.getCapabilities(), /<capabilities>[\s\S]*<\/capabilities>/);

    const node = await client.nodeGetInfo();
    assert.ok(node.model.length > 0 && node.cpus > 0 && node.memoryKiB > 0n);
    assert.equal(node.cpus, node.nodes * node.sockets * node.cores * node.threads);
    const map = await client.nodeGetCpuMap();
    assert.equal(map.online.length, map.cpus);
    assert.equal(map.online.filter(Boolean).length, map.onlineCount);
  });

  it('drives a domain through its life and reports each lifecycle event through the iterator', async () => {
    const name = unique('dom');
    const defined = await client.domainDefineXml(domainXml(name));
    cleanupLater(() => client.domainUndefine(defined));
    cleanupLater(() => client.domainDestroy(defined));
    assert.equal(defined.name, name);
    assert.equal(defined.id, -1);

    const events = client.domainLifecycleEvents({ domain: defined });
    await events.ready;

    assert.deepEqual(await client.domainLookupByName(name), defined);
    assert.deepEqual(await client.domainLookupByUuid(defined.uuid.toUpperCase()), defined);
    const inactive = await client.listAllDomains([ConnectListAllDomainsFlags.INACTIVE]);
    assert.ok(inactive.some((item) => item.uuid === defined.uuid));
    assert.equal((await client.domainGetState(defined)).stateName, 'shutoff');
    assert.equal(await client.domainIsActive(defined), false);

    await client.domainSetAutostart(defined, true);
    assert.equal(await client.domainGetAutostart(defined), true);
    await client.domainSetAutostart(defined, false);
    assert.equal(await client.domainGetAutostart(defined), false);

    const running = await client.domainCreate(defined);
    assert.ok(running.id > 0);
    const started = await nextMatching(events, (event) => event.event === 'started');
    assert.equal(started.detail, 'booted');
    assert.equal(started.eventCode, DomainEventType.STARTED);
    assert.equal(started.domain.uuid, defined.uuid);
    assert.deepEqual(await client.domainLookupById(running.id), running);
    assert.ok(
      (await client.listAllDomains(ConnectListAllDomainsFlags.ACTIVE)).some((item) => item.name === name),
    );

    const info = await client.domainGetInfo(running);
    assert.equal(info.stateName, 'running');
    assert.equal(info.maxMemoryKiB, 65536n);
    assert.equal(info.virtualCpus, 1);
    assert.match(await client.domainGetXmlDesc(running), new RegExp(`<name>${name}</name>`));

    await client.domainSuspend(running);
    assert.equal((await nextMatching(events, (event) => event.event === 'suspended')).detail, 'paused');
    assert.deepEqual(await client.domainGetState(running), {
      state: DomainState.PAUSED,
      stateName: 'paused',
      reason: 1,
      reasonName: 'user',
    });
    await client.domainResume(running);
    assert.equal((await nextMatching(events, (event) => event.event === 'resumed')).detail, 'unpaused');

    await client.domainReboot(running);
    await client.domainShutdown(running);
    assert.equal((await nextMatching(events, (event) => event.event === 'stopped')).detail, 'shutdown');
    assert.equal((await client.domainGetState(defined)).stateName, 'shutoff');

    await client.domainCreate(defined);
    await client.domainDestroy(defined);
    assert.equal((await nextMatching(events, (event) => event.event === 'stopped')).detail, 'destroyed');

    await client.domainUndefine(defined);
    assert.equal((await nextMatching(events, (event) => event.event === 'undefined')).detail, 'removed');
    await events.close();
    await rejectsWithLibvirt(client.domainLookupByName(name), 'VIR_ERR_NO_DOMAIN');
  });

  it('creates transient domains from XML and collects their statistics', async () => {
    const name = unique('transient');
    const transient = await client.domainCreateXml(domainXml(name));
    cleanupLater(() => client.domainDestroy(transient));
    assert.ok(transient.id > 0);

    const records = await client.getAllDomainStats([transient], DomainStatsTypes.STATE);
    assert.equal(records.length, 1);
    assert.deepEqual(records[0]!.domain, transient);
    const stats = typedParamsToObject(records[0]!.params);
    assert.equal(stats['state.state'], DomainState.RUNNING);

    const all = await client.getAllDomainStats([], [DomainStatsTypes.STATE, DomainStatsTypes.VCPU]);
    assert.ok(all.some((record) => record.domain.uuid === transient.uuid));

    await client.domainDestroy(transient);
    await rejectsWithLibvirt(client.domainLookupByUuid(transient.uuid), 'VIR_ERR_NO_DOMAIN');
  });

  it('creates, lists, reverts to and deletes snapshots', async () => {
    const subject = await client.domainDefineXml(domainXml(unique('snap')));
    cleanupLater(() => client.domainUndefine(subject, DomainUndefineFlagsValues.SNAPSHOTS_METADATA));
    assert.equal(await client.domainHasCurrentSnapshot(subject), false);

    const first = await client.domainSnapshotCreateXml(
      subject,
      '<domainsnapshot><name>first</name></domainsnapshot>',
    );
    assert.deepEqual(first, { name: 'first', domain: subject });
    await client.domainCreate(subject);
    const second = await client.domainSnapshotCreateXml(
      subject,
      '<domainsnapshot><name>second</name></domainsnapshot>',
    );

    const names = (await client.domainListAllSnapshots(subject)).map((snapshot) => snapshot.name).sort();
    assert.deepEqual(names, ['first', 'second']);
    assert.deepEqual((await client.domainSnapshotCurrent(subject)).name, 'second');
    assert.equal(await client.domainHasCurrentSnapshot(subject), true);
    const found = await client.domainSnapshotLookupByName(subject, 'first');
    assert.match(
      await client.domainSnapshotGetXmlDesc(found),
      /<name>first<\/name>[\s\S]*<state>shutoff<\/state>/,
    );

    await client.domainRevertToSnapshot(found);
    assert.equal(
      (await client.domainGetState(subject)).stateName,
      'shutoff',
      'the first snapshot was taken shut off',
    );
    assert.equal((await client.domainSnapshotCurrent(subject)).name, 'first');

    await client.domainSnapshotDelete(second);
    await client.domainSnapshotDelete(found);
    assert.deepEqual(await client.domainListAllSnapshots(subject), []);
    await rejectsWithLibvirt(
      client.domainSnapshotLookupByName(subject, 'first'),
      'VIR_ERR_NO_DOMAIN_SNAPSHOT',
    );
  });

  it('defines, starts, stops and removes a network', async () => {
    const name = unique('net');
    const network = await client.networkDefineXml(
      `<network><name>${name}</name><bridge name='lvts${suffix}'/>` +
        `<ip address='192.168.251.1' netmask='255.255.255.0'/></network>`,
    );
    cleanupLater(() => client.networkUndefine(network));
    cleanupLater(() => client.networkDestroy(network));
    assert.deepEqual(await client.networkLookupByName(name), network);
    assert.equal(await client.networkIsActive(network), false);

    await client.networkCreate(network);
    assert.equal(await client.networkIsActive(network), true);
    assert.ok((await client.listAllNetworks()).some((item) => item.uuid === network.uuid));
    assert.match(await client.networkGetXmlDesc(network), /<ip address='192\.168\.251\.1'/);
    // The test driver keeps no leases; qemu:///system answers this call (client-system.test.ts).
    await rejectsWithLibvirt(client.networkGetDhcpLeases(network), 'VIR_ERR_NO_SUPPORT');

    await client.networkDestroy(network);
    assert.equal(await client.networkIsActive(network), false);
    await client.networkUndefine(network);
    await rejectsWithLibvirt(client.networkLookupByName(name), 'VIR_ERR_NO_NETWORK');
  });

  it('defines a storage pool and manages volumes in it', async () => {
    const name = unique('pool');
    const pool = await client.storagePoolDefineXml(
      `<pool type='dir'><name>${name}</name><target><path>/${name}</path></target></pool>`,
    );
    cleanupLater(() => client.storagePoolUndefine(pool));
    cleanupLater(() => client.storagePoolDestroy(pool));
    assert.equal((await client.storagePoolGetInfo(pool)).state, StoragePoolState.INACTIVE);

    await client.storagePoolCreate(pool);
    assert.deepEqual(await client.storagePoolLookupByName(name), pool);
    assert.ok((await client.listAllStoragePools()).some((item) => item.uuid === pool.uuid));
    await client.storagePoolRefresh(pool);
    const info = await client.storagePoolGetInfo(pool);
    assert.equal(info.state, StoragePoolState.RUNNING);
    assert.ok(info.capacity > 0n);

    const volume = await client.storageVolCreateXml(
      pool,
      `<volume><name>disk.img</name><capacity unit='bytes'>1048576</capacity></volume>`,
    );
    assert.deepEqual(volume, { pool: name, name: 'disk.img', key: `/${name}/disk.img` });
    assert.deepEqual(await client.storageVolLookupByName(pool, 'disk.img'), volume);
    assert.deepEqual(await client.storagePoolListAllVolumes(pool), [volume]);
    assert.equal((await client.storageVolGetInfo(volume)).capacity, 1048576n);
    assert.equal(await client.storageVolGetPath(volume), `/${name}/disk.img`);
    // Volume streams need a real storage backend: see client-system.test.ts.
    await rejectsWithLibvirt(client.storageVolDownload(volume), 'VIR_ERR_NO_SUPPORT');

    await client.storageVolDelete(volume);
    assert.deepEqual(await client.storagePoolListAllVolumes(pool), []);
    await client.storagePoolDestroy(pool);
    await client.storagePoolUndefine(pool);
    await rejectsWithLibvirt(client.storagePoolLookupByName(name), 'VIR_ERR_NO_STORAGE_POOL');
  });

  it('delivers events to a listener until its subscription is closed', async () => {
    const seen: string[] = [];
    const subscription = await client.onDomainLifecycle((event) =>
      seen.push(`${event.domain.name}:${event.event}`),
    );
    const name = unique('listener');
    const defined = await client.domainDefineXml(domainXml(name));
    cleanupLater(() => client.domainUndefine(defined));
    // A call made after the event was sent returns after it, as replies and events share one ordered socket.
    await client.domainGetState(defined);
    assert.ok(seen.includes(`${name}:defined`), seen.join(', '));

    await subscription.close();
    await subscription.close();
    const count = seen.length;
    await client.domainUndefine(defined);
    await client.getHostname();
    assert.equal(seen.length, count, 'no events after close');
  });

  it('turns daemon errors into LibvirtError with libvirt’s code', async () => {
    const error = await rejectsWithLibvirt(
      client.domainDefineXml('<domain type="test"><name>x'),
      'VIR_ERR_XML_DETAIL',
    );
    assert.match(error.libvirtMessage, /domain_definition/);
    await rejectsWithLibvirt(client.domainLookupByName(unique('missing')), 'VIR_ERR_NO_DOMAIN');
    await rejectsWithLibvirt(
      client.domainLookupByUuid('00000000-0000-0000-0000-00000000dead'),
      'VIR_ERR_NO_DOMAIN',
    );
    // The test driver has no secret store: a driver without an API answers VIR_ERR_NO_SUPPORT.
    await rejectsWithLibvirt(
      client.secretDefineXml("<secret ephemeral='yes'><usage type='ceph'><name>x</name></usage></secret>"),
      'VIR_ERR_NO_SUPPORT',
    );
  });

  it('refuses bad arguments before anything is sent', async () => {
    await assert.rejects(() => client.domainLookupByName(''), InvalidArgumentError);
    await assert.rejects(() => client.domainLookupByUuid('not-a-uuid'), InvalidArgumentError);
    await assert.rejects(() => client.listAllDomains(-1), InvalidArgumentError);
    const fake: Domain = { name: 'x', uuid: 'nope', id: 1 };
    await assert.rejects(() => client.domainDestroy(fake), /domain\.uuid must be a UUID/);
    await assert.rejects(
      () => client.domainBlockPull({ ...fake, uuid: '6695eb01-f6a4-8304-79aa-97f2502e193f' }, 'vda', -5),
      InvalidArgumentError,
    );
    assert.equal(client.closed, false);
  });

  it('opens read-only connections that libvirtd does not let write', async () => {
    const readOnly = await LibvirtClient.connect(URI, { readOnly: true });
    try {
      assert.ok((await readOnly.listAllDomains()).length > 0);
      await rejectsWithLibvirt(readOnly.domainDefineXml(domainXml(unique('ro'))), 'VIR_ERR_OPERATION_DENIED');
    } finally {
      await readOnly.close();
    }
  });

  it('ends event iteration when the client is closed, and says so after', async () => {
    const other = await LibvirtClient.connect(URI, { keepalive: false });
    const events = other.domainLifecycleEvents();
    await events.ready;
    const pending = events.next();
    const closed = new Promise((resolve) => other.once('close', resolve));
    await other.close();
    await other.close();
    assert.equal(await closed, undefined, "close() is not an error: 'close' comes without one");
    assert.deepEqual(await pending, { value: undefined, done: true });
    assert.equal(other.closed, true);
    await assert.rejects(other.getHostname(), { code: 'LIBVIRT_CONNECTION_CLOSED' });
  });

  it('fails event iteration with ConnectionClosedError when libvirtd goes away', async () => {
    const daemon = await startPrivateLibvirtd();
    try {
      const doomed = await LibvirtClient.connect(URI, { socketPath: daemon.socketPath });
      const closed = new Promise<unknown>((resolve) => doomed.once('close', resolve));
      const events = doomed.domainLifecycleEvents();
      await events.ready;
      const pending = events.next();
      daemon.signal('SIGKILL');
      await assert.rejects(pending, { name: 'ConnectionClosedError', code: 'LIBVIRT_CONNECTION_CLOSED' });
      assert.equal(((await closed) as { reason: string }).reason, 'peer-closed');
      await doomed.close();
    } finally {
      await daemon.stop();
    }
  });
});
