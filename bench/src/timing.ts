import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** What one call cost on average: wall-clock time, and CPU time of this process (all its threads). */
export interface CallCost {
  wallMicros: number;
  cpuMicros: number;
}

/** Runs `calls` (which makes `count` calls) and returns the mean cost of one call. */
export async function costPerCall(count: number, calls: (count: number) => Promise<void>): Promise<CallCost> {
  const cpuBefore = process.cpuUsage();
  const start = process.hrtime.bigint();
  await calls(count);
  const wallNanos = Number(process.hrtime.bigint() - start);
  const cpu = process.cpuUsage(cpuBefore);
  return { wallMicros: wallNanos / 1000 / count, cpuMicros: (cpu.user + cpu.system) / count };
}

/** Makes `count` calls, each awaited before the next starts. */
export async function oneAfterAnother(count: number, call: (index: number) => Promise<void>): Promise<void> {
  for (let index = 0; index < count; index++) await call(index);
}

/** Starts `count` calls before any of them has finished, and waits for all. */
export async function allAtOnce(count: number, call: (index: number) => Promise<void>): Promise<void> {
  await Promise.all(Array.from({ length: count }, (_, index) => call(index)));
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** The usual summary of speed-up ratios measured on different workloads: each workload weighs the same. */
export function geometricMean(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('geometric mean of no values');
  if (values.some((value) => !(value > 0))) throw new RangeError('geometric mean needs positive values');
  return Math.exp(values.reduce((sum, value) => sum + Math.log(value), 0) / values.length);
}

const collectGarbage = exposeGarbageCollector();

/**
 * Lets the garbage of the previous measurement go before the next one starts, so one path does not pay for
 * another's: 1,000 pipelined list calls leave 200,000 domain objects behind (native ones with finalizers).
 */
export async function settle(): Promise<void> {
  collectGarbage();
  // Finalizers of native objects run on a later turn of the event loop.
  await new Promise((resolve) => setImmediate(resolve));
  collectGarbage();
}

function exposeGarbageCollector(): () => void {
  // `npm run bench` starts node without --expose-gc; the flag still applies to contexts created after it is set.
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('gc');
  if (typeof gc !== 'function') throw new Error('V8 did not expose gc() after --expose-gc');
  return gc as () => void;
}
