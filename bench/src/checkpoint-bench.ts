import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { DiskStore } from '@multiverse/hostd';
import { DomainUndefineFlagsValues } from '@multiverse/libvirt-ts';
import { buildTinyImage } from '@multiverse/vm-templates';
import type { VerifiedImage } from '@multiverse/vm-templates';
import { prepareBenchHostd } from './bench-hostd.js';
import type { BenchHostd } from './bench-hostd.js';
import { BENCH_PRIVATE_TEMPLATE, benchDomainXml } from './bench-templates.js';
import { openWorkspace } from './bench-workspace.js';
import type { BenchWorkspace } from './bench-workspace.js';
import { runCommand, timed } from './command.js';
import { reportCheckpoint, STOPPED_PATHS } from './checkpoint-report.js';
import type { StoppedOperation, StoppedSamples } from './checkpoint-report.js';
import { RunningCheckpointBench } from './checkpoint-running.js';
import type { RunningRound } from './checkpoint-running.js';
import { Teardown } from './teardown.js';
import { Virsh } from './virsh.js';

const MIB = 1024 ** 2;
const VOLUME_BYTES = 1024 * MIB;
const WRITTEN_MIB = 500;
/** Written after the checkpoint: what the revert throws away. */
const WRITTEN_AFTER_MIB = 16;
const STOPPED_REPETITIONS = 5;
/** Each round boots two guests and writes 1 GiB from inside them: three keep the bench within minutes. */
const RUNNING_REPETITIONS = 3;

/**
 * Checkpoint and revert of a VM whose private volume has 500 MiB written, against internal qcow2 snapshots
 * through virsh: first stopped (hostd's DiskStore and mvctl; both sides only change metadata), then running
 * (mvctl's live checkpoint and its revert with a restart, against virsh's snapshots with the RAM). Prints
 * medians, ratios against issue 3's target and one JSON line.
 */
export async function runCheckpoint(): Promise<void> {
  const teardown = new Teardown();
  try {
    const loadAtStart = loadavg()[0]!;
    const workspace = await openWorkspace(teardown, 'checkpoint');
    const image = await buildTinyImage({ imagesDirectory: join(workspace.root, 'guest-images') });
    const store = new DiskStore({
      imagesDir: join(workspace.root, 'disk-images'),
      vmsDir: join(workspace.root, 'vms'),
    });
    const hostd = await prepareBenchHostd(workspace, teardown);
    await hostd.start({ MULTIVERSE_DISPOSABLE_POOL: 'none' });
    const virsh = new Virsh('qemu:///system', { timeoutMs: 300_000 });
    teardown.defer('stop virsh processes', () => virsh.stopAll());

    const stopped: StoppedSamples = new Map(
      STOPPED_PATHS.map(({ path }) => [path, { checkpoint: [], revert: [] }]),
    );
    // One untimed round of each first (loading code, qemu-img into the page cache).
    const rounds = STOPPED_REPETITIONS + 1;
    for (let round = 0; round < rounds; round++) {
      console.error(
        `checkpoint: stopped VM, round ${round + 1} of ${rounds}${round === 0 ? ' (warm-up)' : ''}`,
      );
      const viaMvctl = await measureMvctl(hostd, `mvbench-${workspace.tag}-m${round}`);
      const measured = {
        hostd: await measureHostd(store, `mvbench-${workspace.tag}-k${round}`),
        mvctl: viaMvctl.wall,
        'hostd-task': viaMvctl.task,
        virsh: await measureVirsh(workspace, virsh, image, round),
        'qemu-img': await measureQemuImg(workspace, round),
      };
      if (round === 0) continue;
      for (const { path } of STOPPED_PATHS) {
        stopped.get(path)!.checkpoint.push(measured[path].checkpoint);
        stopped.get(path)!.revert.push(measured[path].revert);
      }
    }

    const running: RunningRound[] = [];
    const runningBench = new RunningCheckpointBench(workspace, hostd, virsh, {
      volumeBytes: VOLUME_BYTES,
      beforeMib: WRITTEN_MIB,
      afterMib: WRITTEN_AFTER_MIB,
    });
    for (let round = 0; round < RUNNING_REPETITIONS; round++) {
      console.error(`checkpoint: running VM, round ${round + 1} of ${RUNNING_REPETITIONS}`);
      running.push(await runningBench.round(round));
    }
    reportCheckpoint(
      {
        stopped,
        running,
        volumeMib: VOLUME_BYTES / MIB,
        writtenMib: WRITTEN_MIB,
        writtenAfterMib: WRITTEN_AFTER_MIB,
      },
      loadAtStart,
    );
  } finally {
    await teardown.run().catch((error: unknown) => {
      console.error('checkpoint could not clean up everything it started:', error);
      process.exitCode = 1;
    });
  }
}

async function writeData(image: string, offsetMib: number, mib: number, pattern: number): Promise<void> {
  await runCommand('qemu-io', ['-f', 'qcow2', '-c', `write -P ${pattern} ${offsetMib}M ${mib}M`, image], {
    package: 'qemu-utils',
  });
}

async function blankWithData(path: string): Promise<void> {
  await runCommand('qemu-img', ['create', '-q', '-f', 'qcow2', path, String(VOLUME_BYTES)], {
    package: 'qemu-utils',
  });
  await writeData(path, 0, WRITTEN_MIB, 0x5a);
}

async function measureHostd(store: DiskStore, vm: string): Promise<Record<StoppedOperation, number>> {
  await store.createVm(vm, { base: null, privateSizeBytes: VOLUME_BYTES, volatileSizeBytes: null });
  await writeData((await store.diskPaths(vm)).private!, 0, WRITTEN_MIB, 0x5a);
  const checkpoint = await timed(() => store.checkpoint(vm, { message: 'bench' }));
  await writeData((await store.diskPaths(vm)).private!, WRITTEN_MIB, WRITTEN_AFTER_MIB, 0xa5);
  const revert = await timed(() => store.revert(vm, checkpoint.value.id));
  await store.deleteVm(vm);
  return { checkpoint: checkpoint.seconds, revert: revert.seconds };
}

interface TaskJson {
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly result: unknown;
}

/** The same through hostd's CLI, as a user does it: a VM made from a template, its volume filled, then the verbs. */
async function measureMvctl(
  hostd: BenchHostd,
  vm: string,
): Promise<Record<'wall' | 'task', Record<StoppedOperation, number>>> {
  await hostd.mvctlJson(['vm', 'create', vm, '--template', BENCH_PRIVATE_TEMPLATE]);
  const privateTop = async () =>
    (await hostd.mvctlJson<{ disks: { private: string } }>(['vm', 'info', vm])).value.disks.private;
  await writeData(await privateTop(), 0, WRITTEN_MIB, 0x5a);
  const checkpoint = await hostd.mvctlJson<{ task: TaskJson }>(['vm', 'checkpoint', vm, '-m', 'bench']);
  const { id } = checkpoint.value.task.result as { id: string };
  await writeData(await privateTop(), WRITTEN_MIB, WRITTEN_AFTER_MIB, 0xa5);
  const revert = await hostd.mvctlJson<{ task: TaskJson }>(['vm', 'revert', vm, id]);
  await hostd.mvctlJson(['vm', 'delete', vm]);
  const taskSeconds = ({ startedAt, finishedAt }: TaskJson) =>
    (Date.parse(finishedAt ?? '') - Date.parse(startedAt ?? '')) / 1000;
  return {
    wall: { checkpoint: checkpoint.seconds, revert: revert.seconds },
    task: { checkpoint: taskSeconds(checkpoint.value.task), revert: taskSeconds(revert.value.task) },
  };
}

async function measureVirsh(
  workspace: BenchWorkspace,
  virsh: Virsh,
  image: VerifiedImage,
  round: number,
): Promise<Record<StoppedOperation, number>> {
  const { client, root, tag } = workspace;
  const disk = join(root, `internal-${round}.qcow2`);
  await blankWithData(disk);
  const name = `mvbench-${tag}-i${round}`;
  const domain = await client.domainDefineXml(
    benchDomainXml({
      volumes: 'private',
      name,
      uuid: randomUUID(),
      image,
      diskPath: disk,
      withMetadata: false,
    }),
  );
  const checkpoint = await timed(() => virsh.run(['snapshot-create-as', name, 'bench']));
  await writeData(disk, WRITTEN_MIB, WRITTEN_AFTER_MIB, 0xa5);
  const revert = await timed(() => virsh.run(['snapshot-revert', name, 'bench']));
  await client.domainUndefine(domain, DomainUndefineFlagsValues.SNAPSHOTS_METADATA);
  await rm(disk);
  return { checkpoint: checkpoint.seconds, revert: revert.seconds };
}

async function measureQemuImg(
  workspace: BenchWorkspace,
  round: number,
): Promise<Record<StoppedOperation, number>> {
  const disk = join(workspace.root, `qemu-img-${round}.qcow2`);
  await blankWithData(disk);
  const snapshot = (flag: '-c' | '-a') =>
    timed(() => runCommand('qemu-img', ['snapshot', flag, 'bench', disk], { package: 'qemu-utils' }));
  const checkpoint = await snapshot('-c');
  await writeData(disk, WRITTEN_MIB, WRITTEN_AFTER_MIB, 0xa5);
  const revert = await snapshot('-a');
  await rm(disk);
  return { checkpoint: checkpoint.seconds, revert: revert.seconds };
}
