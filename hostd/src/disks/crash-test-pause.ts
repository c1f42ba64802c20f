/**
 * TEST ONLY: lets hostd's crash tests stop hostd at a named durable step of a checkpoint, revert or
 * checkpoint delete (the disk store's `onStep` steps and the VM engine's live ones) and SIGKILL it there.
 *
 *   MULTIVERSE_DISKS_PAUSE_AT=<step>#<n>   announce every step on stderr (`MULTIVERSE_DISKS_STEP <step>#<k>`),
 *                                          and at the n-th occurrence of <step> print
 *                                          `MULTIVERSE_DISKS_PAUSED <step>#<n>` and block hostd for good
 *   MULTIVERSE_DISKS_PAUSE_AT=trace        announce every step, never pause
 *
 * Unset (production), `crashTestPauseFromEnvironment` returns undefined and no hook is installed at all: the
 * stores and the engine skip the call, so it costs nothing. Steps are counted only once `arm()` is called
 * (after hostd's start-up recovery), so a test pausing a later run is not stopped by the recovery of an earlier
 * one walking the same steps.
 */
export interface CrashTestPause {
  /** The `onStep` hook for DiskStore and VmEngine. */
  readonly reached: (step: string) => void;
  /** Starts counting and pausing. */
  arm(): void;
}

export const CRASH_TEST_PAUSE_VARIABLE = 'MULTIVERSE_DISKS_PAUSE_AT';
const PAUSE_AT_PATTERN = /^(trace|[a-z][a-z0-9-]*(:[a-z][a-z0-9-]*)?#[1-9][0-9]{0,3})$/;

export function crashTestPauseFromEnvironment(env: NodeJS.ProcessEnv): CrashTestPause | undefined {
  const pauseAt = env[CRASH_TEST_PAUSE_VARIABLE];
  if (pauseAt === undefined || pauseAt === '') return undefined;
  if (!PAUSE_AT_PATTERN.test(pauseAt)) {
    throw new Error(
      `${CRASH_TEST_PAUSE_VARIABLE}=${JSON.stringify(pauseAt)} is not STEP#N (e.g. checkpoint:journal-written#1) or "trace". It is for hostd's crash tests only: unset it.`,
    );
  }
  const seen = new Map<string, number>();
  let armed = false;
  return {
    arm: () => {
      armed = true;
    },
    reached: (step) => {
      if (!armed) return;
      const occurrence = (seen.get(step) ?? 0) + 1;
      seen.set(step, occurrence);
      // Writes to a pipe or file are synchronous on Linux, so the line is out before hostd blocks.
      process.stderr.write(`MULTIVERSE_DISKS_STEP ${step}#${occurrence}\n`);
      if (pauseAt !== `${step}#${occurrence}`) return;
      process.stderr.write(`MULTIVERSE_DISKS_PAUSED ${step}#${occurrence}\n`);
      // Blocks the whole process (event loop included) until the test's SIGKILL: nothing after this step runs.
      const cell = new Int32Array(new SharedArrayBuffer(4));
      for (;;) Atomics.wait(cell, 0, 0);
    },
  };
}
