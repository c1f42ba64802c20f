import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Domain, LibvirtClient } from '@multiverse/libvirt-ts';
import { attributeOf, elementsOf, parseXml } from '@multiverse/vm-templates';
import type { ParsedElement } from '@multiverse/vm-templates';
import { LiveMergeNotStartedError, type LiveMerge } from '../disks/index.js';
import { libvirtFailure } from '../service/libvirt-access.js';

const BLOCK_JOB_POLL_INTERVAL_MS = 100;

/**
 * Runs a live merge the disk store asked for (see disks/live-merge.ts) as a libvirt block job on the running
 * domain — a pull into the active layer, or a commit of a checkpoint into the one below it — and resolves when
 * libvirt no longer lists it. A job already running on the disk (one a killed hostd started) is waited for, not
 * started twice. `onStarted` runs once the job is started (hostd's crash-test step).
 */
export async function runLiveMergeJob(
  client: LibvirtClient,
  domain: Domain,
  merge: LiveMerge,
  onStarted: () => Promise<void>,
): Promise<void> {
  const name = domain.name;
  const xml = await client.domainGetXmlDesc(domain).catch((error: unknown) => {
    throw libvirtFailure(`reading running VM ${name}`, error);
  });
  const disk = diskChainOf(xml, merge.top);
  if (disk === undefined) {
    throw new LiveMergeNotStartedError(
      `running VM ${name} does not write to ${merge.top}, the private top layer hostd knows. Stop it and delete the checkpoint then.`,
    );
  }
  const jobInfo = () =>
    client.domainGetBlockJobInfo(domain, disk.target).catch((error: unknown) => {
      throw libvirtFailure(`reading the block job of VM ${name}`, error);
    });
  if ((await jobInfo()) === null) {
    try {
      if (merge.kind === 'pull-into-top') {
        const base = merge.parent === null ? null : await disk.nameOf(merge.parent);
        await client.domainBlockRebase(domain, disk.target, base);
      } else {
        await client.domainBlockCommit(domain, disk.target, {
          base: await disk.nameOf(merge.layer),
          top: await disk.nameOf(merge.child),
        });
      }
    } catch (error) {
      throw new LiveMergeNotStartedError(
        `libvirt did not start merging a checkpoint of VM ${name}: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    await onStarted();
  }
  while ((await jobInfo()) !== null) await sleep(BLOCK_JOB_POLL_INTERVAL_MS);
}

interface DiskChain {
  target: string;
  /**
   * The name libvirt knows a layer file by. A layer a live delete re-linked is the same file as an older name
   * QEMU's headers still use, so layers are matched by inode, not by path.
   */
  nameOf(path: string): Promise<string>;
}

/** The disk whose active layer is `top`, with its backing chain as libvirt lists it. */
function diskChainOf(xml: string, top: string): DiskChain | undefined {
  const devices = childOf(parseXml(xml), 'devices');
  if (devices === undefined) return undefined;
  for (const disk of elementsOf(devices).filter((element) => element.name === 'disk')) {
    const files: string[] = [];
    for (
      let node: ParsedElement | undefined = disk;
      node !== undefined;
      node = childOf(node, 'backingStore')
    ) {
      const source = childOf(node, 'source');
      const file = source === undefined ? undefined : attributeOf(source, 'file');
      if (file !== undefined) files.push(file);
    }
    const target = childOf(disk, 'target');
    const dev = target === undefined ? undefined : attributeOf(target, 'dev');
    if (dev === undefined || files[0] !== top) continue;
    return {
      target: dev,
      nameOf: async (path) => {
        const inode = (await stat(path)).ino;
        for (const file of files) {
          if ((await stat(file).catch(() => null))?.ino === inode) return file;
        }
        return path;
      },
    };
  }
  return undefined;
}

function childOf(parent: ParsedElement, name: string): ParsedElement | undefined {
  return elementsOf(parent).find((element) => element.name === name);
}
