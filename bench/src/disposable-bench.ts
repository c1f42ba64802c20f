import { loadavg } from 'node:os';
import { prepareBenchHostd } from './bench-hostd.js';
import type { BenchHostd } from './bench-hostd.js';
import { BENCH_DISPOSABLE_TEMPLATE } from './bench-templates.js';
import { openWorkspace } from './bench-workspace.js';
import { benchDisposables, poolSetting, preloadedDisposables, waitFor } from './disposable-hostd.js';
import type { DisposableRunResult } from './disposable-hostd.js';
import { printFigures, printTable } from './report.js';
import { describeTarget, roundFigure, showValue, targetMet } from './target-check.js';
import type { Target } from './target-check.js';
import { Teardown } from './teardown.js';
import { median } from './timing.js';

const COLD_RUNS = 3;
const PRELOADED_RUNS = 5;
const PRELOADED_TARGET: Target = { atMost: 1, unit: 's' };
/** A refill boots a guest on TCG next to whatever else loads the machine. */
const REFILL_TIMEOUT_MS = 300_000;

interface RunSample {
  readonly readyAfterSeconds: number;
  readonly wallSeconds: number;
}

/**
 * `mvctl vm run TEMPLATE -- true` from a preloaded pool (a paused, booted disposable is resumed) against cold
 * runs (no pool: each boots). Reports hostd's readyAfterSeconds and the wall time of the mvctl call; prints
 * medians, the preloaded time against issue 3's target and one JSON line.
 */
export async function runDisposable(): Promise<void> {
  const teardown = new Teardown();
  try {
    const loadAtStart = loadavg()[0]!;
    const workspace = await openWorkspace(teardown, 'disposable');
    const hostd = await prepareBenchHostd(workspace, teardown);

    await hostd.start(poolSetting(0));
    // Untimed: hostd builds the tiny image on its first use.
    console.error('disposable: warm-up run (hostd builds the tiny image on first use)');
    await runTrue(hostd, false);
    const cold: RunSample[] = [];
    for (let run = 0; run < COLD_RUNS; run++) {
      console.error(`disposable: cold run ${run + 1} of ${COLD_RUNS}`);
      cold.push(await runTrue(hostd, false));
    }
    await hostd.stop();

    await hostd.start(poolSetting(1));
    const preloaded: RunSample[] = [];
    const used = new Set<string>();
    for (let run = 0; run < PRELOADED_RUNS; run++) {
      console.error(
        `disposable: waiting for the pool to refill, then preloaded run ${run + 1} of ${PRELOADED_RUNS}`,
      );
      const pooled = await waitFor(
        hostd,
        'a preloaded disposable in the pool',
        async () => (await preloadedDisposables(hostd)).find((name) => !used.has(name)),
        REFILL_TIMEOUT_MS,
      );
      used.add(pooled);
      preloaded.push(await runTrue(hostd, true));
    }
    // What the pool refilled after the last run: cut off, so hostd deletes it before it stops.
    for (const vm of await benchDisposables(hostd)) await hostd.mvctl(['vm', 'kill', vm.name]);
    report(cold, preloaded, loadAtStart);
  } finally {
    await teardown.run().catch((error: unknown) => {
      console.error('disposable could not clean up everything it started:', error);
      process.exitCode = 1;
    });
  }
}

/** One `mvctl vm run TEMPLATE -- true`, checked: the command ran, and the VM came from the pool if and only if expected. */
async function runTrue(hostd: BenchHostd, expectPreloaded: boolean): Promise<RunSample> {
  const { value, seconds } = await hostd.mvctlJson<DisposableRunResult>([
    'vm',
    'run',
    BENCH_DISPOSABLE_TEMPLATE,
    '--',
    'true',
  ]);
  if (value.preloaded !== expectPreloaded) {
    throw new Error(
      `${value.name} was ${value.preloaded ? 'taken from the pool' : 'booted'}, expected ${expectPreloaded ? 'a preloaded VM' : 'a cold boot'}; hostd's log:\n${hostd.logTail()}`,
    );
  }
  if (value.command?.exitCode !== 0)
    throw new Error(`\`true\` in ${value.name} did not exit 0: ${JSON.stringify(value.command)}`);
  return { readyAfterSeconds: value.readyAfterSeconds, wallSeconds: seconds };
}

function report(cold: readonly RunSample[], preloaded: readonly RunSample[], loadAtStart: number): void {
  const medianOf = (samples: readonly RunSample[], key: keyof RunSample) =>
    median(samples.map((sample) => sample[key]));
  const preloadedReady = medianOf(preloaded, 'readyAfterSeconds');
  const coldReady = medianOf(cold, 'readyAfterSeconds');
  console.log(
    `\ndisposable: \`mvctl vm run ${BENCH_DISPOSABLE_TEMPLATE} -- true\` (tiny guest, TCG); median of ` +
      `${PRELOADED_RUNS} preloaded runs (pool of 1, refilled between runs) and ${COLD_RUNS} cold runs (no pool)`,
  );
  const row = (label: string, samples: readonly RunSample[]) => ({
    label,
    values: {
      'ready after': medianOf(samples, 'readyAfterSeconds'),
      'ready min': Math.min(...samples.map((sample) => sample.readyAfterSeconds)),
      'ready max': Math.max(...samples.map((sample) => sample.readyAfterSeconds)),
      'mvctl wall': medianOf(samples, 'wallSeconds'),
    },
  });
  printTable('seconds (lower is better)', [
    row('preloaded (resumed from the pool)', preloaded),
    row('cold (booted)', cold),
  ]);
  console.log(
    '\nready after = hostd’s readyAfterSeconds: from the request to a guest that answers (preloaded: resumed, ' +
      'its RNG fed and its shell answering on the console; cold: created, booted to its READY line). mvctl wall = ' +
      'the whole mvctl call: node start-up, the run, `true` on the console, the VM stopped.',
  );
  printTable('target', [
    {
      label: 'preloaded disposable ready',
      values: {
        value: showValue(preloadedReady, 's'),
        target: describeTarget(PRELOADED_TARGET),
        met: targetMet(preloadedReady, PRELOADED_TARGET),
      },
    },
    { label: 'cold over preloaded', values: { value: showValue(coldReady / preloadedReady, 'x') } },
  ]);
  console.log(
    `\nload average over 1 min: ${loadAtStart.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end`,
  );
  printFigures('disposable', {
    preloaded_ready_s: roundFigure(preloadedReady),
    cold_ready_s: roundFigure(coldReady),
    preloaded_mvctl_wall_s: roundFigure(medianOf(preloaded, 'wallSeconds')),
    cold_mvctl_wall_s: roundFigure(medianOf(cold, 'wallSeconds')),
  });
}
