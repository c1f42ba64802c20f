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
import { printFigures, printTable } from './report.js';
import { describeTarget, roundFigure, showValue, targetMet } from './target-check.js';
import type { Target } from './target-check.js';
import { Teardown } from './teardown.js';
import { median } from './timing.js';
import { Virsh } from './virsh.js';

const MIB = 1024 ** 2;
const VOLUME_BYTES = 1024 * MIB;
const WRITTEN_MIB = 500;
/** Written after the checkpoint: what the revert throws away. */
const WRITTEN_AFTER_MIB = 16;
const REPETITIONS = 5;
const SPEEDUP_TARGET: Target = { atLeast: 10, unit: 'x' };

type Operation = 'checkpoint' | 'revert';
type Path = 'hostd' | 'mvctl' | 'hostd-task' | 'virsh' | 'qemu-img';

const PATHS: readonly { path: Path; label: string; note: string }[] = [
  {
    path: 'hostd',
    label: 'hostd DiskStore checkpoint / revert',
    note: 'freeze the top, new overlay; revert: drop the layers above, new top',
  },
  {
    path: 'mvctl',
    label: 'mvctl vm checkpoint / vm revert',
    note: 'the CLI: node start-up, API call, task, domain redefined, task followed (200 ms polls)',
  },
  {
    path: 'hostd-task',
    label: '  the task inside hostd',
    note: 'from the tasks started to finished (ms resolution)',
  },
  {
    path: 'virsh',
    label: 'virsh snapshot-create-as / snapshot-revert',
    note: 'internal qcow2 snapshot of the shut-off domain',
  },
  {
    path: 'qemu-img',
    label: 'qemu-img snapshot -c / -a',
    note: 'what libvirt runs for a shut-off domain, without virsh (for the record)',
  },
];

/**
 * Checkpoint and revert of a stopped VM whose private volume has 500 MiB written: hostd's external-overlay
 * checkpoints (DiskStore) against internal qcow2 snapshots through virsh. Prints medians, ratios against issue
 * 3's target and one JSON line.
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

    const samples = new Map<Path, Record<Operation, number[]>>(
      PATHS.map(({ path }) => [path, { checkpoint: [], revert: [] }]),
    );
    // One untimed round of each first (loading code, qemu-img into the page cache).
    const rounds = REPETITIONS + 1;
    for (let round = 0; round < rounds; round++) {
      console.error(`checkpoint: round ${round + 1} of ${rounds}${round === 0 ? ' (warm-up)' : ''}`);
      const viaMvctl = await measureMvctl(hostd, `mvbench-${workspace.tag}-m${round}`);
      const measured = {
        hostd: await measureHostd(store, `mvbench-${workspace.tag}-k${round}`),
        mvctl: viaMvctl.wall,
        'hostd-task': viaMvctl.task,
        virsh: await measureVirsh(workspace, virsh, image, round),
        'qemu-img': await measureQemuImg(workspace, round),
      };
      if (round === 0) continue;
      for (const { path } of PATHS) {
        samples.get(path)!.checkpoint.push(measured[path].checkpoint);
        samples.get(path)!.revert.push(measured[path].revert);
      }
    }
    report(samples, loadAtStart);
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

async function measureHostd(store: DiskStore, vm: string): Promise<Record<Operation, number>> {
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
): Promise<Record<'wall' | 'task', Record<Operation, number>>> {
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
): Promise<Record<Operation, number>> {
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

async function measureQemuImg(workspace: BenchWorkspace, round: number): Promise<Record<Operation, number>> {
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

function report(samples: ReadonlyMap<Path, Record<Operation, number[]>>, loadAtStart: number): void {
  const medianOf = (path: Path, operation: Operation) => median(samples.get(path)![operation]);
  console.log(
    `\ncheckpoint: a stopped VM's ${VOLUME_BYTES / MIB} MiB qcow2 volume with ${WRITTEN_MIB} MiB written; ` +
      `checkpoint, ${WRITTEN_AFTER_MIB} MiB more written, revert to the checkpoint; median of ${REPETITIONS} ` +
      'runs after a warm-up, each on a fresh volume',
  );
  printTable(
    'seconds (lower is better)',
    PATHS.map(({ path, label, note }) => ({
      label,
      values: { checkpoint: medianOf(path, 'checkpoint'), revert: medianOf(path, 'revert'), note },
    })),
  );
  const checkpointRatio = medianOf('virsh', 'checkpoint') / medianOf('hostd', 'checkpoint');
  const revertRatio = medianOf('virsh', 'revert') / medianOf('hostd', 'revert');
  const directCheckpoint = medianOf('qemu-img', 'checkpoint') / medianOf('hostd', 'checkpoint');
  const directRevert = medianOf('qemu-img', 'revert') / medianOf('hostd', 'revert');
  const cliCheckpoint = medianOf('virsh', 'checkpoint') / medianOf('mvctl', 'checkpoint');
  const cliRevert = medianOf('virsh', 'revert') / medianOf('mvctl', 'revert');
  printTable('ratios (how many times faster hostd is; below 1x: slower)', [
    {
      label: 'checkpoint: virsh snapshot-create-as / hostd',
      values: {
        ratio: showValue(checkpointRatio, 'x'),
        target: describeTarget(SPEEDUP_TARGET),
        met: targetMet(checkpointRatio, SPEEDUP_TARGET),
      },
    },
    { label: 'revert: virsh snapshot-revert / hostd', values: { ratio: showValue(revertRatio, 'x') } },
    {
      label: 'checkpoint: qemu-img snapshot -c / hostd',
      values: { ratio: showValue(directCheckpoint, 'x') },
    },
    { label: 'revert: qemu-img snapshot -a / hostd', values: { ratio: showValue(directRevert, 'x') } },
    {
      label: 'checkpoint: virsh snapshot-create-as / mvctl vm checkpoint',
      values: { ratio: showValue(cliCheckpoint, 'x') },
    },
    {
      label: 'revert: virsh snapshot-revert / mvctl vm revert',
      values: { ratio: showValue(cliRevert, 'x') },
    },
  ]);
  console.log(
    `\nload average over 1 min: ${loadAtStart.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end`,
  );
  printFigures('checkpoint', {
    speedup_vs_internal_snapshot: roundFigure(checkpointRatio, 1),
    revert_speedup_vs_internal_snapshot: roundFigure(revertRatio, 1),
    speedup_vs_qemu_img_snapshot: roundFigure(directCheckpoint, 1),
    revert_speedup_vs_qemu_img_snapshot: roundFigure(directRevert, 1),
    hostd_checkpoint_s: roundFigure(medianOf('hostd', 'checkpoint'), 4),
    hostd_revert_s: roundFigure(medianOf('hostd', 'revert'), 4),
    speedup_cli_vs_internal_snapshot: roundFigure(cliCheckpoint, 2),
    revert_speedup_cli_vs_internal_snapshot: roundFigure(cliRevert, 2),
    mvctl_checkpoint_s: roundFigure(medianOf('mvctl', 'checkpoint'), 4),
    mvctl_revert_s: roundFigure(medianOf('mvctl', 'revert'), 4),
    virsh_snapshot_create_s: roundFigure(medianOf('virsh', 'checkpoint'), 4),
    virsh_snapshot_revert_s: roundFigure(medianOf('virsh', 'revert'), 4),
  });
}
