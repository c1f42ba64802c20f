import { buildEnvironment, runBuildCommand } from '../build-command.js';
import { debootstrapProgress } from './build-progress.js';

export interface DebootstrapRun {
  readonly tree: string;
  readonly suite: string;
  readonly mirror: string;
  /** Packages added to minbase (debootstrap resolves their dependencies). */
  readonly include: readonly string[];
  /** Where downloaded .debs are kept between builds; none: downloaded every time. */
  readonly debCache?: string;
  readonly report: (detail: string, fraction: number) => void;
  readonly signal?: AbortSignal;
}

const DEBOOTSTRAP_HINT =
  'check that the mirror is reachable (deb.debian.org) and the suite exists; a half-written tree is deleted, so build again';

/**
 * debootstrap's first stage: downloads (or takes from the cache) and verifies every package of a
 * minbase system plus `include`, and extracts them into `tree` without configuring anything, so
 * the recipe can put its dpkg and initramfs settings in place before any package is configured.
 */
export async function debootstrapFirstStage(run: DebootstrapRun): Promise<void> {
  const progress = debootstrapProgress('first');
  await runBuildCommand(
    'debootstrap',
    [
      '--foreign',
      '--variant=minbase',
      '--components=main',
      '--merged-usr',
      `--include=${run.include.join(',')}`,
      ...(run.debCache === undefined ? [] : [`--cache-dir=${run.debCache}`]),
      run.suite,
      run.tree,
      run.mirror,
    ],
    {
      env: buildEnvironment(),
      package: 'debootstrap',
      hint: DEBOOTSTRAP_HINT,
      onLine: (line) => {
        const step = progress.read(line);
        if (step !== undefined) run.report(`debootstrap: ${step.detail}`, step.fraction);
      },
      ...(run.signal === undefined ? {} : { signal: run.signal }),
    },
  );
}

/**
 * The second stage, run inside the tree: unpacks the packages with dpkg and configures them.
 * debootstrap mounts /proc and /sys in the tree for this and unmounts them when it exits.
 */
export async function debootstrapSecondStage(
  tree: string,
  report: (detail: string, fraction: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  const progress = debootstrapProgress('second');
  await runBuildCommand('chroot', [tree, '/debootstrap/debootstrap', '--second-stage'], {
    env: buildEnvironment({ DEBIAN_FRONTEND: 'noninteractive' }),
    package: 'coreutils',
    hint: DEBOOTSTRAP_HINT,
    onLine: (line) => {
      const step = progress.read(line);
      if (step !== undefined) report(`debootstrap: ${step.detail}`, step.fraction);
    },
    ...(signal === undefined ? {} : { signal }),
  });
}
