import { DomainUndefineFlagsValues } from '@multiverse/libvirt-ts';
import type { LibvirtClient } from '@multiverse/libvirt-ts';
import { Virsh } from './virsh.js';

/**
 * Storage pools whose target directory lies under `root`, destroyed and undefined: virt-clone makes a
 * persistent, autostarted pool for every directory it reads or writes a disk in and leaves them behind.
 * Returns their names.
 */
export async function removeStoragePoolsUnder(client: LibvirtClient, root: string): Promise<string[]> {
  const virsh = new Virsh('qemu:///system');
  const removed: string[] = [];
  for (const pool of await client.listAllStoragePools()) {
    // libvirt-ts has no call for a pool's XML; virsh reads it.
    const xml = await virsh.run(['pool-dumpxml', pool.name]).catch(() => '');
    const path = /<path>([^<]*)<\/path>/.exec(xml)?.[1];
    if (path === undefined || !(path === root || path.startsWith(`${root}/`))) continue;
    await client.storagePoolDestroy(pool).catch(() => {});
    await client.storagePoolUndefine(pool).catch(() => {});
    removed.push(pool.name);
  }
  return removed;
}

/**
 * Destroys and undefines every domain whose definition mentions `root` — whatever a bench's hostd or the bench
 * itself made there, also what a run cut short left behind. Returns their names.
 */
export async function removeDomainsUnder(client: LibvirtClient, root: string): Promise<string[]> {
  const removed: string[] = [];
  for (const domain of await client.listAllDomains()) {
    const xml = await client.domainGetXmlDesc(domain).catch(() => '');
    if (!xml.includes(`${root}/`)) continue;
    if (await client.domainIsActive(domain).catch(() => false))
      await client.domainDestroy(domain).catch(() => {});
    // A domain with internal snapshots cannot be undefined without dropping their metadata too.
    await client.domainUndefine(domain, DomainUndefineFlagsValues.SNAPSHOTS_METADATA).catch(() => {});
    removed.push(domain.name);
  }
  return removed;
}
