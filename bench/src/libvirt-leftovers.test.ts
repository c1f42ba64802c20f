import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LibvirtClient } from '@multiverse/libvirt-ts';
import { removeDomainsUnder, removeStoragePoolsUnder } from './libvirt-leftovers.js';

describe('removing what a bench left on qemu:///system', () => {
  let client: LibvirtClient;
  let root: string;
  const tag = randomBytes(3).toString('hex');
  before(async () => {
    client = await LibvirtClient.connect('qemu:///system');
    root = await mkdtemp(join(tmpdir(), 'mv-bench-leftovers-'));
  });
  after(async () => {
    await removeDomainsUnder(client, root).catch(() => []);
    await removeStoragePoolsUnder(client, root).catch(() => []);
    await client.close();
    await rm(root, { recursive: true, force: true });
  });

  const domainXml = (name: string, disk: string) =>
    `<domain type='qemu'><name>${name}</name><memory unit='KiB'>65536</memory>` +
    `<os><type arch='x86_64'>hvm</type></os><devices><disk type='file' device='disk'>` +
    `<driver name='qemu' type='qcow2'/><source file='${disk}'/><target dev='vda' bus='virtio'/></disk></devices></domain>`;

  it('undefines the domains whose disks lie under the root, and only those', async () => {
    const inside = `mvbench-${tag}-inside`;
    const outside = `mvbench-${tag}-outside`;
    await client.domainDefineXml(domainXml(inside, join(root, 'disk.qcow2')));
    // A sibling whose path merely starts with the root's name is not under it.
    await client.domainDefineXml(domainXml(outside, `${root}-other/disk.qcow2`));
    try {
      assert.deepEqual(await removeDomainsUnder(client, root), [inside]);
      const names = (await client.listAllDomains()).map((domain) => domain.name);
      assert.ok(!names.includes(inside));
      assert.ok(names.includes(outside));
    } finally {
      await client.domainUndefine(await client.domainLookupByName(outside)).catch(() => {});
    }
  });

  it('destroys and undefines the storage pools whose directory lies under the root', async () => {
    const directory = join(root, 'pool');
    await mkdir(directory);
    const name = `mvbench-${tag}-pool`;
    const pool = await client.storagePoolDefineXml(
      `<pool type='dir'><name>${name}</name><target><path>${directory}</path></target></pool>`,
    );
    await client.storagePoolCreate(pool);
    assert.deepEqual(await removeStoragePoolsUnder(client, root), [name]);
    const names = (await client.listAllStoragePools()).map((entry) => entry.name);
    assert.ok(!names.includes(name));
  });
});
