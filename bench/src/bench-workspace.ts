import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LibvirtClient } from '@multiverse/libvirt-ts';
import { removeDomainsUnder, removeStoragePoolsUnder } from './libvirt-leftovers.js';
import type { Teardown } from './teardown.js';

/** Where a benchmark that runs real guests keeps its files, and its connection to the system libvirtd. */
export interface BenchWorkspace {
  /** A fresh directory, 0711: QEMU's user must traverse it to reach the disks, nobody may list it. */
  readonly root: string;
  readonly client: LibvirtClient;
  /** Random hex for names of libvirt objects, which are global: parallel runs never share one. */
  readonly tag: string;
}

/**
 * Makes the workspace and registers its undoing with `teardown`: every domain and storage pool that refers to
 * a path under the root is removed (whoever made it — the bench, its hostd or virt-clone), then the root.
 */
export async function openWorkspace(teardown: Teardown, bench: string): Promise<BenchWorkspace> {
  const root = await mkdtemp(join(tmpdir(), `mv-bench-${bench}-`));
  teardown.defer(`remove ${root}`, () => rm(root, { recursive: true, force: true }));
  await chmod(root, 0o711);
  const client = await LibvirtClient.connect('qemu:///system');
  teardown.defer('close the libvirt connection', () => client.close());
  teardown.defer(`remove the domains and storage pools under ${root}`, async () => {
    const domains = await removeDomainsUnder(client, root);
    const pools = await removeStoragePoolsUnder(client, root);
    if (domains.length + pools.length > 0) {
      console.error(
        `cleaned up: domains ${domains.join(', ') || 'none'}; storage pools ${pools.join(', ') || 'none'}`,
      );
    }
  });
  return { root, client, tag: randomBytes(3).toString('hex') };
}
