import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchHostd } from './bench-hostd.js';
import { BENCH_DISPOSABLE_TEMPLATE } from './bench-templates.js';

/** What `mvctl vm run --json` returns (hostd's DisposableRun). */
export interface DisposableRunResult {
  readonly name: string;
  readonly template: string;
  readonly preloaded: boolean;
  readonly readyAfterSeconds: number;
  readonly command: {
    readonly output: string;
    readonly exitCode: number;
    readonly truncated: boolean;
  } | null;
}

interface ListedVm {
  readonly name: string;
  readonly state: string;
  readonly template: string | null;
}

/** MULTIVERSE_DISPOSABLE_POOL for the bench's template. */
export function poolSetting(size: number): NodeJS.ProcessEnv {
  return { MULTIVERSE_DISPOSABLE_POOL: size === 0 ? 'none' : `${BENCH_DISPOSABLE_TEMPLATE}=${size}` };
}

export async function benchDisposables(hostd: BenchHostd): Promise<ListedVm[]> {
  const { value } = await hostd.mvctlJson<{ vms: ListedVm[] }>(['vm', 'list']);
  return value.vms.filter((vm) => vm.template === BENCH_DISPOSABLE_TEMPLATE);
}

/**
 * A disposable the pool holds ready: paused *and* its preload task succeeded — a VM that is being started is
 * paused too for a moment (hostd starts guests paused and resumes them once their console is attached).
 */
export async function preloadedDisposables(hostd: BenchHostd): Promise<string[]> {
  const paused = (await benchDisposables(hostd)).filter((vm) => vm.state === 'paused').map((vm) => vm.name);
  if (paused.length === 0) return [];
  const { value } = await hostd.mvctlJson<{ tasks: { kind: string; target: string; state: string }[] }>([
    'task',
    'list',
    '--limit',
    '500',
  ]);
  const preloaded = new Set(
    value.tasks
      .filter((task) => task.kind === 'vm.preload' && task.state === 'succeeded')
      .map((task) => task.target),
  );
  return paused.filter((name) => preloaded.has(name));
}

/**
 * Polls until `check` returns a value, or fails naming `what` (and quoting hostd's log) after `timeoutMs`. Every
 * 500 ms: each check runs mvctl, a node process, and polling harder would slow the boots it waits for.
 */
export async function waitFor<T>(
  hostd: BenchHostd,
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs / 1000} s waiting for ${what}; hostd's log:\n${hostd.logTail(30)}`,
      );
    }
    await sleep(500);
  }
}

/** Cuts a disposable off (`mvctl vm kill`) and waits until hostd has deleted it. */
export async function killDisposable(hostd: BenchHostd, name: string): Promise<void> {
  await hostd.mvctlJson(['vm', 'kill', name]);
  await waitFor(
    hostd,
    `disposable ${name} to be deleted`,
    async () => ((await benchDisposables(hostd)).some((vm) => vm.name === name) ? undefined : true),
    60_000,
  );
}
