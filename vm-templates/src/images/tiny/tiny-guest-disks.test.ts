// The tiny image booted under TCG on the shared qemu:///system libvirtd with the domain XML hostd
// generates, two qcow2 volumes and a NIC: the packed virtio drivers must make them visible.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { LibvirtClient } from '@multiverse/libvirt-ts';
import type { Network } from '@multiverse/libvirt-ts';
import type { InstalledImage } from '../image-store.js';
import { TcgGuest, createIsolatedNetwork, createQcow2, removeNetwork } from '../test-support/tcg-guest.js';
import { guestScratchDirectory, testImagesDirectory } from '../test-support/test-directories.js';
import { buildTinyImage } from './tiny-recipe.js';

const execFileAsync = promisify(execFile);

/** Resume to READY took 2-4 s here under TCG; the machine is shared, so the bound is far above that. */
const READY_TIMEOUT_MS = 90_000;
const COMMAND_TIMEOUT_MS = 30_000;
const WRITE_OFFSET = 1024 * 1024;

describe('tiny guest with virtio disks and a NIC (qemu:///system, TCG)', { timeout: 300_000 }, () => {
  const suffix = randomBytes(4).toString('hex');
  const name = `mvtpl-tiny-${suffix}`;
  let client: LibvirtClient | undefined;
  let network: Network | undefined;
  let guest: TcgGuest | undefined;
  let scratch: string | undefined;
  let image: InstalledImage;

  before(async () => {
    image = await buildTinyImage({ imagesDirectory: await testImagesDirectory() });
    scratch = await guestScratchDirectory('mvtpl-tiny');
    client = await LibvirtClient.connect('qemu:///system');
    network = await createIsolatedNetwork(client, `mvtpl-net-${suffix}`);
  });

  after(async () => {
    const failures: unknown[] = [];
    const attempt = async (step: () => Promise<unknown>): Promise<void> => {
      try {
        await step();
      } catch (error) {
        failures.push(error);
      }
    };
    await attempt(async () => guest?.destroy());
    if (client !== undefined && network !== undefined) {
      const connection = client;
      const leftover = network;
      await attempt(() => removeNetwork(connection, leftover));
    }
    await attempt(async () => client?.close());
    if (scratch !== undefined) await attempt(() => rm(scratch as string, { recursive: true, force: true }));
    if (failures.length > 0) throw new AggregateError(failures, `cleaning up after ${name} failed`);
  });

  it('lists both disks and the NIC in its READY line, and writes reach the second qcow2', async (t) => {
    const directory = scratch as string;
    const privateDisk = join(directory, 'private.qcow2');
    const volatileDisk = join(directory, 'volatile.qcow2');
    await createQcow2(privateDisk, '64M');
    await createQcow2(volatileDisk, '64M');

    guest = await TcgGuest.boot(client as LibvirtClient, {
      name,
      image,
      disks: { private: privateDisk, volatile: volatileDisk },
      network: `mvtpl-net-${suffix}`,
      memory: '256MiB',
    });
    const ready = await guest.waitForReady(READY_TIMEOUT_MS);
    const readyAfterMs = performance.now() - guest.resumedAt;
    assert.equal(ready.protocolVersion, 2);
    assert.equal(ready.hostname, name);
    // The guest names virtio disks in PCI order: the private volume first, then the volatile one.
    assert.deepEqual(ready.protocolVersion === 2 ? ready.disks : [], ['vda', 'vdb']);
    assert.deepEqual(ready.protocolVersion === 2 ? ready.nics : [], ['eth0']);
    t.diagnostic(`resume to READY ${readyAfterMs.toFixed(0)} ms (guest uptime ${ready.uptimeSeconds} s)`);

    await guest.console.waitForPrompt('shell prompt', COMMAND_TIMEOUT_MS, /# /);
    const payload = `multiverse-${suffix}`;
    const sizes = await guest.console.run('cat /sys/block/vda/size /sys/block/vdb/size', COMMAND_TIMEOUT_MS);
    assert.deepEqual(sizes.split('\n'), [String(64 * 2048), String(64 * 2048)], '64 MiB each, in sectors');
    await guest.console.run(
      `printf '%s' ${payload} | dd of=/dev/vdb bs=512 seek=${WRITE_OFFSET / 512} conv=fsync 2>/dev/null`,
      COMMAND_TIMEOUT_MS,
    );
    await guest.destroy();
    guest = undefined;

    const written = await readGuestBytes(volatileDisk, WRITE_OFFSET, payload.length);
    assert.equal(
      written.toString('latin1'),
      payload,
      'the bytes the guest wrote to vdb are in volatile.qcow2',
    );
    const untouched = await readGuestBytes(privateDisk, WRITE_OFFSET, payload.length);
    assert.ok(untouched.equals(Buffer.alloc(payload.length)), 'private.qcow2 (vda) was not written');
  });
});

/** Reads guest-visible bytes of a qcow2 image by converting it to raw (qemu-img, not our code). */
async function readGuestBytes(qcow2: string, offset: number, length: number): Promise<Buffer> {
  const raw = `${qcow2}.raw`;
  await execFileAsync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', qcow2, raw]);
  try {
    return (await readFile(raw)).subarray(offset, offset + length);
  } finally {
    await rm(raw, { force: true });
  }
}
