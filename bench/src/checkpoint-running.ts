import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { DomainUndefineFlagsValues, DomainXMLFlags } from '@multiverse/libvirt-ts';
import type { Domain } from '@multiverse/libvirt-ts';
import type { BenchHostd } from './bench-hostd.js';
import { BENCH_PRIVATE_TEMPLATE } from './bench-templates.js';
import type { BenchWorkspace } from './bench-workspace.js';
import { runCommand, timed } from './command.js';
import { copyDomainXml, diskSourcesOf } from './domain-xml-copy.js';
import { bootUntilReady } from './guest-boot.js';
import {
  fillFromGuest,
  guestDeviceOfVolume,
  verifyRevertedFromGuest,
  withGuestConsole,
  writeMoreFromGuest,
} from './guest-volume-data.js';
import type { GuestWrites } from './guest-volume-data.js';
import { LifecycleTimeline, revertPhases } from './lifecycle-timeline.js';
import type { Virsh } from './virsh.js';

/** One round on running VMs, in seconds. */
export interface RunningRound {
  readonly hostd: {
    /** `mvctl vm checkpoint` from spawning mvctl to its exit. */
    readonly mvctlCheckpoint: number;
    /** The checkpoint task, started → finished inside hostd (ms resolution). */
    readonly taskCheckpoint: number;
    readonly mvctlRevert: number;
    /** The revert task: cut off, revert, restart, READY. */
    readonly taskRevert: number;
    /** The revert task up to the domain stopped: hostd cuts the VM off (libvirt's destroy, QEMU's exit). */
    readonly cutOff: number | null;
    /** The revert task up to the reverted chain recorded in the domain, before the restart began. */
    readonly revertWithoutRestart: number | null;
    /** From there to the task's end: the VM started again and booted to READY. */
    readonly restartToReady: number | null;
  };
  readonly virsh: {
    readonly snapshotCreate: number;
    readonly snapshotRevert: number;
    /** The guest state (RAM, devices) the internal snapshot saved into the qcow2, in bytes. */
    readonly savedStateBytes: number;
  };
}

interface TaskJson {
  readonly state: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly result: unknown;
}

interface VmInfoJson {
  readonly state: string;
  readonly disks: { readonly private: string | null };
}

const SNAPSHOT = 'bench';

/**
 * Checkpoint and revert of a *running* VM with data written from inside the guest: hostd's live checkpoint
 * (`mvctl vm checkpoint`: a disk-only external snapshot of the private volume) and its revert (cut off,
 * reverted, started again to READY), against `virsh snapshot-create-as` / `snapshot-revert` of an equal domain
 * (internal qcow2 snapshots, which on a running domain save and restore its RAM too).
 */
export class RunningCheckpointBench {
  /** hostd's definition of the private-volume VM (inactive), taken from its first VM, for the virsh domains. */
  private hostdDomainXml: string | undefined;

  constructor(
    private readonly workspace: BenchWorkspace,
    private readonly hostd: BenchHostd,
    private readonly virsh: Virsh,
    private readonly writes: GuestWrites,
  ) {}

  async round(round: number): Promise<RunningRound> {
    const hostd = await this.measureHostd(`mvbench-${this.workspace.tag}-run${round}`);
    const virsh = await this.measureVirsh(`mvbench-${this.workspace.tag}-virsh${round}`);
    return { hostd, virsh };
  }

  private async measureHostd(vm: string): Promise<RunningRound['hostd']> {
    const { client } = this.workspace;
    await this.hostd.mvctlJson(['vm', 'create', vm, '--template', BENCH_PRIVATE_TEMPLATE]);
    await this.hostd.mvctlJson(['vm', 'start', vm]);
    const domain = await client.domainLookupByName(vm);
    this.hostdDomainXml ??= await client.domainGetXmlDesc(domain, DomainXMLFlags.INACTIVE);
    const topBefore = await this.privateTop(vm);
    const target = await liveTargetOf(this.workspace, domain, topBefore);
    const { device, firstMib } = await withGuestConsole(client, domain, (console) => this.fill(console));

    const checkpoint = await this.hostd.mvctlJson<{ task: TaskJson }>([
      'vm',
      'checkpoint',
      vm,
      '-m',
      'bench',
    ]);
    const { id } = checkpoint.value.task.result as { id?: unknown };
    if (typeof id !== 'string') {
      throw new Error(`hostd's checkpoint of ${vm} returned no id: ${JSON.stringify(checkpoint.value.task)}`);
    }
    // Live means QEMU now writes into a new top layer, which hostd's record and the running domain both name.
    const topAfter = await this.privateTop(vm);
    if (topAfter === topBefore || (await liveTargetOf(this.workspace, domain, topAfter)) !== target) {
      throw new Error(`the running VM ${vm} was not switched to a new top layer by its checkpoint`);
    }
    await withGuestConsole(client, domain, (console) => writeMoreFromGuest(console, device, this.writes));

    const timeline = await LifecycleTimeline.follow(client, domain);
    let revert: { value: { task: TaskJson }; seconds: number };
    try {
      revert = await this.hostd.mvctlJson<{ task: TaskJson }>(['vm', 'revert', vm, id]);
    } finally {
      await timeline.stop();
    }
    const { restarted } = revert.value.task.result as { restarted?: unknown };
    if (typeof restarted !== 'object' || restarted === null) {
      throw new Error(
        `hostd's revert of running VM ${vm} did not restart it: ${JSON.stringify(revert.value.task)}`,
      );
    }
    const running = await client.domainLookupByName(vm);
    await withGuestConsole(client, running, (console) =>
      verifyRevertedFromGuest(console, device, this.writes, firstMib),
    );
    await this.hostd.mvctlJson(['vm', 'kill', vm]);
    await this.hostd.mvctlJson(['vm', 'delete', vm]);

    const task = taskMs(revert.value.task);
    const phases = revertPhases(timeline.events, task);
    return {
      mvctlCheckpoint: checkpoint.seconds,
      taskCheckpoint: taskSeconds(checkpoint.value.task),
      mvctlRevert: revert.seconds,
      taskRevert: (task.finishedMs - task.startedMs) / 1000,
      cutOff: phases.cutOff,
      revertWithoutRestart: phases.withoutRestart,
      restartToReady: phases.restart,
    };
  }

  private async measureVirsh(name: string): Promise<RunningRound['virsh']> {
    const { client, root } = this.workspace;
    if (this.hostdDomainXml === undefined) throw new Error('no hostd VM was defined to copy');
    const disks = diskSourcesOf(this.hostdDomainXml);
    if (disks.length !== 1) {
      throw new Error(`hostd's private-volume VM has ${disks.length} disks; the bench copies one`);
    }
    const disk = join(root, `${name}.qcow2`);
    await runCommand('qemu-img', ['create', '-q', '-f', 'qcow2', disk, String(this.writes.volumeBytes)], {
      package: 'qemu-utils',
    });
    const domain = await client.domainDefineXml(
      copyDomainXml(this.hostdDomainXml, { name, diskFile: () => disk }),
    );
    const ready = await bootUntilReady(client, domain);
    const { device, firstMib } = await withGuestConsole(client, domain, (console) => this.fill(console));
    if (ready.protocolVersion !== 2 || !ready.disks.includes(device)) {
      throw new Error(`the guest of ${name} does not list /dev/${device} in its READY line`);
    }

    const create = await timed(() => this.virsh.run(['snapshot-create-as', name, SNAPSHOT]));
    await this.requireInternalWithMemory(name);
    const savedStateBytes = await savedStateOf(disk);
    await withGuestConsole(client, domain, (console) => writeMoreFromGuest(console, device, this.writes));
    const revert = await timed(() => this.virsh.run(['snapshot-revert', name, SNAPSHOT]));
    const state = await client.domainGetState(domain);
    if (state.stateName !== 'running') {
      throw new Error(`${name} is ${state.stateName} after virsh snapshot-revert, not running`);
    }
    await withGuestConsole(client, domain, (console) =>
      verifyRevertedFromGuest(console, device, this.writes, firstMib),
    );

    await this.virsh.run(['snapshot-delete', name, SNAPSHOT]);
    await client.domainDestroy(domain);
    await client.domainUndefine(domain, DomainUndefineFlagsValues.SNAPSHOTS_METADATA);
    await rm(disk);
    return { snapshotCreate: create.seconds, snapshotRevert: revert.seconds, savedStateBytes };
  }

  /** What libvirt made is what a user gets by default: an internal snapshot of the disk, with the RAM saved. */
  private async requireInternalWithMemory(name: string): Promise<void> {
    const xml = await this.virsh.run(['snapshot-dumpxml', name, SNAPSHOT]);
    const internalMemory = /<memory snapshot=['"]internal['"]/.test(xml);
    const internalDisk = /<disk [^>]*snapshot=['"]internal['"]/.test(xml);
    const wasRunning = /<state>running<\/state>/.test(xml);
    if (!internalMemory || !internalDisk || !wasRunning) {
      throw new Error(
        `virsh snapshot-create-as on running ${name} did not make an internal snapshot with memory:\n${xml}`,
      );
    }
  }

  /** Finds the volume in the guest and fills it; returns the guest's device and its first MiB's digest. */
  private async fill(console: Duplex): Promise<{ device: string; firstMib: string }> {
    const device = await guestDeviceOfVolume(console, this.writes.volumeBytes);
    return { device, firstMib: await fillFromGuest(console, device, this.writes) };
  }

  private async privateTop(vm: string): Promise<string> {
    const { value } = await this.hostd.mvctlJson<VmInfoJson>(['vm', 'info', vm]);
    if (value.disks.private === null) throw new Error(`VM ${vm} has no private volume`);
    return value.disks.private;
  }
}

/** The guest device (`vda`, …) the running domain attaches `file` as. */
async function liveTargetOf(workspace: BenchWorkspace, domain: Domain, file: string): Promise<string> {
  const disk = diskSourcesOf(await workspace.client.domainGetXmlDesc(domain)).find(
    (entry) => entry.file === file,
  );
  if (disk === undefined) throw new Error(`running domain ${domain.name} does not use ${file}`);
  return disk.target;
}

/** The size of the guest state saved in the internal snapshot (qemu-img's `vm-state-size`), which must be some. */
async function savedStateOf(disk: string): Promise<number> {
  const { stdout } = await runCommand('qemu-img', ['info', '-U', '--output=json', disk], {
    package: 'qemu-utils',
  });
  const info = JSON.parse(stdout) as { snapshots?: { name: string; 'vm-state-size': number }[] };
  const saved = info.snapshots?.find((snapshot) => snapshot.name === SNAPSHOT)?.['vm-state-size'] ?? 0;
  if (!(saved > 0)) throw new Error(`the internal snapshot in ${disk} holds no guest state: ${stdout}`);
  return saved;
}

function taskMs(task: TaskJson): { startedMs: number; finishedMs: number } {
  const startedMs = Date.parse(task.startedAt ?? '');
  const finishedMs = Date.parse(task.finishedAt ?? '');
  if (!Number.isFinite(startedMs) || !Number.isFinite(finishedMs)) {
    throw new Error(`task ${JSON.stringify(task)} has no start or end time`);
  }
  return { startedMs, finishedMs };
}

function taskSeconds(task: TaskJson): number {
  const { startedMs, finishedMs } = taskMs(task);
  return (finishedMs - startedMs) / 1000;
}
