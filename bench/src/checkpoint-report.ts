import { loadavg } from 'node:os';
import { BENCH_VM_MEMORY_MIB } from './bench-templates.js';
import type { RunningRound } from './checkpoint-running.js';
import { printFigures, printTable } from './report.js';
import { describeTarget, roundFigure, showValue, targetMet } from './target-check.js';
import type { Target } from './target-check.js';
import { median } from './timing.js';

/** Issue 3: a checkpoint at least 10x faster than an internal snapshot. */
const SPEEDUP_TARGET: Target = { atLeast: 10, unit: 'x' };

export type StoppedOperation = 'checkpoint' | 'revert';
export type StoppedPath = 'hostd' | 'mvctl' | 'hostd-task' | 'virsh' | 'qemu-img';
export type StoppedSamples = Map<StoppedPath, Record<StoppedOperation, number[]>>;

export const STOPPED_PATHS: readonly { path: StoppedPath; label: string; note: string }[] = [
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

export interface CheckpointSamples {
  readonly stopped: StoppedSamples;
  readonly running: readonly RunningRound[];
  readonly volumeMib: number;
  readonly writtenMib: number;
  readonly writtenAfterMib: number;
}

/** The median of the values measured, `null` when no round measured one. */
function medianOrNull(values: readonly (number | null)[]): number | null {
  const measured = values.filter((value): value is number => value !== null);
  return measured.length === 0 ? null : median(measured);
}

function ratio(numerator: number | null, denominator: number | null): number | null {
  return numerator === null || denominator === null || denominator <= 0 ? null : numerator / denominator;
}

/** Prints the stopped and running tables, the ratios with the target met or not, and the JSON line. */
export function reportCheckpoint(samples: CheckpointSamples, loadAtStart: number): void {
  const stopped = reportStopped(samples);
  const running = reportRunning(samples);
  console.log(
    `\ntarget of issue 3, checkpoint ${describeTarget(SPEEDUP_TARGET)} faster than an internal snapshot: ` +
      `running VM (hostd's task) ${targetMet(running.checkpoint, SPEEDUP_TARGET)} (${showValue(running.checkpoint, 'x')}); ` +
      `running VM through mvctl ${targetMet(running.cliCheckpoint, SPEEDUP_TARGET)} ` +
      `(${showValue(running.cliCheckpoint, 'x')}); ` +
      `stopped VM (DiskStore) ${targetMet(stopped.checkpoint, SPEEDUP_TARGET)} (${showValue(stopped.checkpoint, 'x')})`,
  );
  console.log(
    `\nload average over 1 min: ${loadAtStart.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end`,
  );
  printFigures('checkpoint', {
    speedup_vs_internal_snapshot: roundFigure(running.checkpoint, 1),
    revert_speedup_vs_internal_snapshot: roundFigure(running.revert, 2),
    ...running.figures,
    stopped_speedup_vs_internal_snapshot: roundFigure(stopped.checkpoint, 1),
    stopped_revert_speedup_vs_internal_snapshot: roundFigure(stopped.revert, 1),
    ...stopped.figures,
  });
}

function reportStopped(samples: CheckpointSamples): {
  checkpoint: number;
  revert: number;
  figures: Record<string, number | null>;
} {
  const medianOf = (path: StoppedPath, operation: StoppedOperation) =>
    median(samples.stopped.get(path)![operation]);
  const rounds = samples.stopped.get('hostd')!.checkpoint.length;
  console.log(
    `\ncheckpoint, STOPPED VM: a ${samples.volumeMib} MiB qcow2 volume with ${samples.writtenMib} MiB written ` +
      `(qemu-io); checkpoint, ${samples.writtenAfterMib} MiB more written, revert to the checkpoint; median of ` +
      `${rounds} runs after a warm-up, each on a fresh volume`,
  );
  printTable(
    'stopped VM, seconds (lower is better)',
    STOPPED_PATHS.map(({ path, label, note }) => ({
      label,
      values: { checkpoint: medianOf(path, 'checkpoint'), revert: medianOf(path, 'revert'), note },
    })),
  );
  const checkpoint = medianOf('virsh', 'checkpoint') / medianOf('hostd', 'checkpoint');
  const revert = medianOf('virsh', 'revert') / medianOf('hostd', 'revert');
  const directCheckpoint = medianOf('qemu-img', 'checkpoint') / medianOf('hostd', 'checkpoint');
  const directRevert = medianOf('qemu-img', 'revert') / medianOf('hostd', 'revert');
  const cliCheckpoint = medianOf('virsh', 'checkpoint') / medianOf('mvctl', 'checkpoint');
  const cliRevert = medianOf('virsh', 'revert') / medianOf('mvctl', 'revert');
  printTable('stopped VM, ratios (how many times faster hostd is; below 1x: slower)', [
    {
      label: 'checkpoint: virsh snapshot-create-as / hostd',
      values: {
        ratio: showValue(checkpoint, 'x'),
        target: describeTarget(SPEEDUP_TARGET),
        met: targetMet(checkpoint, SPEEDUP_TARGET),
      },
    },
    { label: 'revert: virsh snapshot-revert / hostd', values: { ratio: showValue(revert, 'x') } },
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
  return {
    checkpoint,
    revert,
    figures: {
      stopped_speedup_vs_qemu_img_snapshot: roundFigure(directCheckpoint, 1),
      stopped_revert_speedup_vs_qemu_img_snapshot: roundFigure(directRevert, 1),
      stopped_speedup_cli_vs_internal_snapshot: roundFigure(cliCheckpoint, 2),
      stopped_revert_speedup_cli_vs_internal_snapshot: roundFigure(cliRevert, 2),
      stopped_hostd_checkpoint_s: roundFigure(medianOf('hostd', 'checkpoint'), 4),
      stopped_hostd_revert_s: roundFigure(medianOf('hostd', 'revert'), 4),
      stopped_hostd_checkpoint_task_s: roundFigure(medianOf('hostd-task', 'checkpoint'), 4),
      stopped_hostd_revert_task_s: roundFigure(medianOf('hostd-task', 'revert'), 4),
      stopped_mvctl_checkpoint_s: roundFigure(medianOf('mvctl', 'checkpoint'), 4),
      stopped_mvctl_revert_s: roundFigure(medianOf('mvctl', 'revert'), 4),
      stopped_virsh_snapshot_create_s: roundFigure(medianOf('virsh', 'checkpoint'), 4),
      stopped_virsh_snapshot_revert_s: roundFigure(medianOf('virsh', 'revert'), 4),
      stopped_qemu_img_snapshot_create_s: roundFigure(medianOf('qemu-img', 'checkpoint'), 4),
      stopped_qemu_img_snapshot_apply_s: roundFigure(medianOf('qemu-img', 'revert'), 4),
    },
  };
}

function reportRunning(samples: CheckpointSamples): {
  checkpoint: number | null;
  cliCheckpoint: number | null;
  revert: number | null;
  figures: Record<string, number | null>;
} {
  const { running } = samples;
  const hostd = (pick: (round: RunningRound['hostd']) => number | null) =>
    medianOrNull(running.map((round) => pick(round.hostd)));
  const mvctlCheckpoint = hostd((round) => round.mvctlCheckpoint);
  const taskCheckpoint = hostd((round) => round.taskCheckpoint);
  const mvctlRevert = hostd((round) => round.mvctlRevert);
  const taskRevert = hostd((round) => round.taskRevert);
  const cutOff = hostd((round) => round.cutOff);
  const withoutRestart = hostd((round) => round.revertWithoutRestart);
  const restart = hostd((round) => round.restartToReady);
  const virshCreate = medianOrNull(running.map((round) => round.virsh.snapshotCreate));
  const virshRevert = medianOrNull(running.map((round) => round.virsh.snapshotRevert));
  const savedMib = medianOrNull(running.map((round) => round.virsh.savedStateBytes / 1024 ** 2));
  const cell = (value: number | null) => (value === null ? 'n/a' : value);

  console.log(
    `\ncheckpoint, RUNNING VM: the tiny guest (TCG, ${BENCH_VM_MEMORY_MIB} MiB RAM as the shipped app template) writes ${samples.writtenMib} MiB of /dev/urandom ` +
      `into its ${samples.volumeMib} MiB private volume (dd conv=fsync on its console); checkpoint, ` +
      `${samples.writtenAfterMib} MiB more written, revert; the reverted guest's data checked from inside; ` +
      `median of ${running.length} rounds, each on fresh VMs`,
  );
  printTable('running VM, seconds (lower is better)', [
    {
      label: 'mvctl vm checkpoint / vm revert',
      values: {
        checkpoint: cell(mvctlCheckpoint),
        revert: cell(mvctlRevert),
        note: 'the CLI end to end (node start-up, the task followed by long poll); revert includes the restart to READY',
      },
    },
    {
      label: '  the task inside hostd',
      values: {
        checkpoint: cell(taskCheckpoint),
        revert: cell(taskRevert),
        note: 'live disk-only external snapshot; revert: cut off, revert, start, READY',
      },
    },
    {
      label: '    revert without the restart',
      values: {
        revert: cell(withoutRestart),
        note: "task start to the reverted chain recorded (the domain's first redefinition after its stop)",
      },
    },
    {
      label: '      of which the cut-off',
      values: {
        revert: cell(cutOff),
        note: 'task start to the domain stopped (libvirt destroy: QEMU exits)',
      },
    },
    {
      label: '    restart to READY',
      values: { revert: cell(restart), note: 'from there: redefined, started, booted, READY line' },
    },
    {
      label: 'virsh snapshot-create-as / snapshot-revert',
      values: {
        checkpoint: cell(virshCreate),
        revert: cell(virshRevert),
        note: `internal qcow2 snapshot of the running domain with its RAM (${savedMib?.toFixed(0) ?? '?'} MiB of guest state saved); revert loads both, the guest runs on`,
      },
    },
  ]);
  const checkpoint = ratio(virshCreate, taskCheckpoint);
  const cliCheckpoint = ratio(virshCreate, mvctlCheckpoint);
  const revert = ratio(virshRevert, taskRevert);
  const cliRevert = ratio(virshRevert, mvctlRevert);
  const revertWithoutRestart = ratio(virshRevert, withoutRestart);
  printTable('running VM, ratios (how many times faster hostd is; below 1x: slower)', [
    {
      label: "checkpoint: virsh snapshot-create-as / hostd's task",
      values: {
        ratio: showValue(checkpoint, 'x'),
        target: describeTarget(SPEEDUP_TARGET),
        met: targetMet(checkpoint, SPEEDUP_TARGET),
      },
    },
    {
      label: 'checkpoint: virsh snapshot-create-as / mvctl vm checkpoint',
      values: {
        ratio: showValue(cliCheckpoint, 'x'),
        target: describeTarget(SPEEDUP_TARGET),
        met: targetMet(cliCheckpoint, SPEEDUP_TARGET),
      },
    },
    {
      label: "revert: virsh snapshot-revert / hostd's task (with restart to READY)",
      values: { ratio: showValue(revert, 'x') },
    },
    {
      label: 'revert: virsh snapshot-revert / mvctl vm revert',
      values: { ratio: showValue(cliRevert, 'x') },
    },
    {
      label: "revert: virsh snapshot-revert / hostd's revert without the restart",
      values: { ratio: showValue(revertWithoutRestart, 'x') },
    },
  ]);
  return {
    checkpoint,
    cliCheckpoint,
    revert,
    figures: {
      speedup_cli_vs_internal_snapshot: roundFigure(cliCheckpoint, 2),
      revert_speedup_cli_vs_internal_snapshot: roundFigure(cliRevert, 2),
      revert_without_restart_speedup_vs_internal_snapshot: roundFigure(revertWithoutRestart, 2),
      running_hostd_checkpoint_task_s: roundFigure(taskCheckpoint, 4),
      running_mvctl_checkpoint_s: roundFigure(mvctlCheckpoint, 4),
      running_hostd_revert_task_s: roundFigure(taskRevert, 4),
      running_hostd_revert_without_restart_s: roundFigure(withoutRestart, 4),
      running_hostd_revert_cut_off_s: roundFigure(cutOff, 4),
      running_hostd_restart_to_ready_s: roundFigure(restart, 4),
      running_mvctl_revert_s: roundFigure(mvctlRevert, 4),
      running_virsh_snapshot_create_s: roundFigure(virshCreate, 4),
      running_virsh_snapshot_revert_s: roundFigure(virshRevert, 4),
      running_virsh_saved_state_mib: roundFigure(savedMib, 1),
    },
  };
}
