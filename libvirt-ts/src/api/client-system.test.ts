// What the test driver does not implement, against qemu:///system on the shared libvirtd: domain
// capabilities, secrets, volume upload/download streams, DHCP leases, block jobs and the console of a real
// (TCG, paused) QEMU guest. Every object is uniquely named, transient where libvirt allows it, and removed
// again, also when a test fails. Needs root, qemu-system-x86_64, qemu-img and qemu-io.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import {
  DomainBlockCommitFlags,
  DomainBlockJobType,
  DomainConsoleFlags,
  DomainCreateFlags,
  SecretUsageType,
  StoragePoolCreateFlags,
} from '../generated/enums.js';
import { LibvirtClient } from './client.js';
import type { Domain } from './domains.js';
import type { EventStream } from './event-stream.js';
import type { DomainLifecycleEvent } from './events.js';
import { nextMatching, rejectsWithLibvirt } from './test-support/assertions.js';

const run = promisify(execFile);
const URI = 'qemu:///system';
const suffix = randomBytes(4).toString('hex');
const unique = (what: string): string => `lvts-${what}-${suffix}`;
const MiB = 1024 * 1024;

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Writes `data` in pieces and ends the stream; resolves when libvirtd confirmed it has all of it. */
async function writeAll(stream: Writable, data: Buffer): Promise<void> {
  const finished = once(stream, 'finish');
  for (let offset = 0; offset < data.length; offset += 100_000) {
    if (!stream.write(data.subarray(offset, offset + 100_000))) await once(stream, 'drain');
  }
  stream.end();
  await finished;
}

describe('LibvirtClient on qemu:///system', () => {
  let client: LibvirtClient;
  let workDir: string;
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanupLater = (step: () => Promise<unknown>): void => void cleanups.unshift(step);

  before(async () => {
    client = await LibvirtClient.connect(URI);
    workDir = await mkdtemp(join(tmpdir(), 'lvts-system-'));
    // QEMU runs as its own user and must reach the images in here.
    await chmod(workDir, 0o755);
  });
  after(async () => {
    for (const step of cleanups) await step().catch(() => undefined);
    await client.close();
    await rm(workDir, { recursive: true, force: true });
  });

  it('describes what a TCG domain may use', async () => {
    const capabilities = await client.getDomainCapabilities({ virtType: 'qemu', arch: 'x86_64' });
    assert.match(
      capabilities,
      /<domainCapabilities>[\s\S]*<domain>qemu<\/domain>[\s\S]*<arch>x86_64<\/arch>/,
    );
  });

  it('stores, reads and removes a secret', async () => {
    const usage = unique('secret');
    const secret = await client.secretDefineXml(
      `<secret ephemeral='yes' private='no'><usage type='ceph'><name>${usage}</name></usage></secret>`,
    );
    cleanupLater(() => client.secretUndefine(secret));
    assert.equal(secret.usageType, SecretUsageType.CEPH);
    assert.equal(secret.usageId, usage);
    assert.deepEqual(await client.secretLookupByUuid(secret.uuid), secret);
    assert.deepEqual(await client.secretLookupByUsage(SecretUsageType.CEPH, usage), secret);

    const value = randomBytes(48);
    await client.secretSetValue(secret, value);
    assert.deepEqual(await client.secretGetValue(secret), value);

    await client.secretUndefine(secret);
    await rejectsWithLibvirt(client.secretLookupByUuid(secret.uuid), 'VIR_ERR_NO_SECRET');
  });

  it('uploads and downloads a volume through streams, whole and by range', async () => {
    const poolDir = join(workDir, 'pool');
    const pool = await client.storagePoolCreateXml(
      `<pool type='dir'><name>${unique('pool')}</name><target><path>${poolDir}</path></target></pool>`,
      [StoragePoolCreateFlags.WITH_BUILD],
    );
    cleanupLater(() => client.storagePoolDestroy(pool));
    const capacity = 4 * MiB;
    const volume = await client.storageVolCreateXml(
      pool,
      `<volume><name>data.raw</name><capacity unit='bytes'>${capacity}</capacity>` +
        `<target><format type='raw'/></target></volume>`,
    );
    cleanupLater(() => client.storageVolDelete(volume));
    assert.equal(await client.storageVolGetPath(volume), join(poolDir, 'data.raw'));

    const payload = randomBytes(3 * MiB);
    await writeAll(await client.storageVolUpload(volume, { offset: 0, length: payload.length }), payload);
    const patch = randomBytes(64 * 1024);
    await writeAll(await client.storageVolUpload(volume, { offset: 3.5 * MiB, length: patch.length }), patch);

    const whole = await readAll(await client.storageVolDownload(volume));
    assert.equal(whole.length, capacity);
    assert.ok(whole.subarray(0, payload.length).equals(payload), 'uploaded bytes come back unchanged');
    assert.ok(
      whole.subarray(3.5 * MiB, 3.5 * MiB + patch.length).equals(patch),
      'the ranged upload landed at its offset',
    );
    assert.ok(whole.subarray(payload.length, 3.5 * MiB).every((byte) => byte === 0));

    const range = await readAll(await client.storageVolDownload(volume, { offset: MiB, length: 512 * 1024 }));
    assert.ok(range.equals(payload.subarray(MiB, MiB + 512 * 1024)));
    assert.equal((await client.storageVolGetInfo(volume)).capacity, BigInt(capacity));

    await client.storageVolDelete(volume);
    await client.storagePoolDestroy(pool);
    await rejectsWithLibvirt(client.storagePoolLookupByName(pool.name), 'VIR_ERR_NO_STORAGE_POOL');
  });

  it('lists the DHCP leases of a network (none, for one without a DHCP server)', async () => {
    const network = await client.networkDefineXml(
      `<network><name>${unique('net')}</name><bridge name='lvts${suffix}'/></network>`,
    );
    cleanupLater(() => client.networkUndefine(network));
    assert.deepEqual(await client.networkGetDhcpLeases(network), []);
    assert.deepEqual(await client.networkGetDhcpLeases(network, '52:54:00:00:00:01'), []);
    await client.networkUndefine(network);
  });

  describe('with a paused TCG guest on a two-layer qcow2 disk', () => {
    let guest: Domain;
    let events: EventStream<DomainLifecycleEvent>;

    before(async () => {
      const base = join(workDir, 'base.qcow2');
      const overlay = join(workDir, 'overlay.qcow2');
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', base, '64M']);
      // Data in the base layer gives pull and commit jobs something to copy, so they stay visible a while.
      await run('qemu-io', ['-f', 'qcow2', '-c', 'write -q -P 0x5a 0 16M', base]);
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', overlay]);
      events = client.domainLifecycleEvents();
      await events.ready;
      guest = await client.domainCreateXml(
        `<domain type='qemu'><name>${unique('guest')}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>` +
          `<os><type arch='x86_64'>hvm</type></os><devices>` +
          `<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${overlay}'/>` +
          `<target dev='vda' bus='virtio'/></disk><serial type='pty'/><console type='pty'/></devices></domain>`,
        [DomainCreateFlags.START_PAUSED],
      );
      cleanupLater(() => client.domainDestroy(guest));
    });
    after(async () => {
      await events.close();
    });

    it('reports the start of a real guest through the event iterator', async () => {
      const ofGuest = (event: DomainLifecycleEvent): boolean => event.domain.uuid === guest.uuid;
      const started = await nextMatching(events, ofGuest);
      assert.equal(`${started.event}/${started.detail}`, 'started/booted');
      const paused = await nextMatching(events, ofGuest);
      assert.equal(`${paused.event}/${paused.detail}`, 'suspended/paused');
      assert.equal((await client.domainGetState(guest)).stateName, 'paused');
    });

    /** Waits until the disk's block job is visible (QEMU starts it asynchronously). */
    async function waitForJob(type: number): Promise<void> {
      for (let attempt = 0; attempt < 50; attempt++) {
        const job = await client.domainGetBlockJobInfo(guest, 'vda');
        if (job) {
          assert.equal(job.type, type);
          assert.ok(job.end > 0n && job.current <= job.end);
          assert.equal(job.bandwidth, 1n, 'bandwidth is reported in MiB/s');
          return;
        }
        await sleep(100);
      }
      assert.fail(`no block job of type ${type} appeared on vda`);
    }

    it('starts, inspects and aborts pull, rebase and commit jobs', async () => {
      assert.equal(await client.domainGetBlockJobInfo(guest, 'vda'), null);

      await client.domainBlockPull(guest, 'vda', 1);
      await waitForJob(DomainBlockJobType.PULL);
      await client.domainBlockJobAbort(guest, 'vda');
      assert.equal(await client.domainGetBlockJobInfo(guest, 'vda'), null);

      await client.domainBlockRebase(guest, 'vda', null, 1);
      await waitForJob(DomainBlockJobType.PULL);
      await client.domainBlockJobAbort(guest, 'vda');

      await client.domainBlockCommit(guest, 'vda', { bandwidth: 1, flags: [DomainBlockCommitFlags.ACTIVE] });
      await waitForJob(DomainBlockJobType.ACTIVE_COMMIT);
      await client.domainBlockJobAbort(guest, 'vda');
      assert.equal(await client.domainGetBlockJobInfo(guest, 'vda'), null);
    });

    it('opens the console as a stream that holds the console until destroyed', async () => {
      const first = await client.domainOpenConsole(guest);
      const firstEnded = new Promise<unknown>((resolve) => {
        first.once('error', resolve);
        first.once('close', () => resolve(undefined));
      });
      await rejectsWithLibvirt(client.domainOpenConsole(guest), 'VIR_ERR_OPERATION_FAILED');
      const forced = await client.domainOpenConsole(guest, { flags: [DomainConsoleFlags.FORCE] });
      // Forcing takes the console over: libvirtd ends the first stream.
      await firstEnded;
      assert.equal(first.destroyed, true);
      forced.destroy();
      await once(forced, 'close');
    });

    it('stops the guest and sees it go', async () => {
      await client.domainDestroy(guest);
      const stopped = await nextMatching(
        events,
        (event) => event.domain.uuid === guest.uuid && event.event === 'stopped',
      );
      assert.equal(stopped.detail, 'destroyed');
      await rejectsWithLibvirt(client.domainLookupByUuid(guest.uuid), 'VIR_ERR_NO_DOMAIN');
    });
  });
});
