import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeBenchTemplates } from './bench-templates.js';
import type { BenchWorkspace } from './bench-workspace.js';
import type { Teardown } from './teardown.js';

/** hostd would not start or answer, or an mvctl call failed: `code` says which. */
export class BenchHostdError extends Error {
  constructor(
    readonly code: 'BENCH_HOSTD_START_FAILED' | 'BENCH_MVCTL_FAILED',
    message: string,
  ) {
    super(message);
    this.name = 'BenchHostdError';
  }
}

export interface MvctlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall-clock seconds from spawning mvctl to its exit. */
  readonly seconds: number;
}

/** The daemon and CLI scripts of the built hostd package (resolved through its package entry, not deep imports). */
function hostdScripts(): { daemon: string; mvctl: string } {
  const entry = createRequire(import.meta.url).resolve('@multiverse/hostd');
  const dist = dirname(entry);
  return { daemon: join(dist, 'main.js'), mvctl: join(dist, 'cli', 'mvctl.js') };
}

/**
 * A real hostd on private state and run directories under `root` (which QEMU's user must be able to traverse:
 * make it 0711), forced to TCG and without the SSH jail listener, driven through mvctl as a user would.
 * Stopped by its PID only.
 */
export class BenchHostd {
  readonly stateDir: string;
  readonly runDir: string;
  private child: ChildProcess | undefined;
  private logText = '';
  private readonly scripts = hostdScripts();

  constructor(
    readonly root: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    this.stateDir = join(root, 'state');
    this.runDir = join(root, 'run');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts hostd with the constructor's settings plus `env`, and waits until it answers with its accelerator decided. */
  async start(env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<void> {
    if (this.running()) throw new BenchHostdError('BENCH_HOSTD_START_FAILED', 'hostd is already running');
    const child = spawn(process.execPath, [this.scripts.daemon], {
      env: {
        ...process.env,
        MULTIVERSE_STATE_DIR: this.stateDir,
        MULTIVERSE_RUN_DIR: this.runDir,
        MULTIVERSE_ACCELERATOR: 'tcg',
        MULTIVERSE_JAIL_LISTEN: 'off',
        ...this.env,
        ...env,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    child.stderr.on('data', (chunk: Buffer) => (this.logText += chunk.toString()));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running()) {
        throw new BenchHostdError('BENCH_HOSTD_START_FAILED', `hostd exited at start:\n${this.logTail()}`);
      }
      const info = await this.mvctl(['host', 'info', '--json']);
      if (info.code === 0 && (JSON.parse(info.stdout) as { accelerator: unknown }).accelerator !== null)
        return;
      if (Date.now() > deadline) {
        throw new BenchHostdError(
          'BENCH_HOSTD_START_FAILED',
          `hostd did not answer within ${timeoutMs / 1000} s:\n${this.logTail()}`,
        );
      }
      await sleep(200);
    }
  }

  /** SIGTERM to hostd's PID, and waits for it to exit (SIGKILL after 30 s). */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running()) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(killer);
  }

  /** Runs mvctl against this hostd; never rejects (the exit code says how it went). */
  mvctl(args: readonly string[]): Promise<MvctlResult> {
    const start = process.hrtime.bigint();
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [this.scripts.mvctl, ...args],
        { env: { ...process.env, MULTIVERSE_RUN_DIR: this.runDir }, maxBuffer: 16 * 1024 * 1024 },
        (error, stdout, stderr) => {
          const seconds = Number(process.hrtime.bigint() - start) / 1e9;
          const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
          resolve({ code, stdout, stderr, seconds });
        },
      );
    });
  }

  /** mvctl with `--json` (put before any `--`), which must exit 0; returns the parsed output and the wall time. */
  async mvctlJson<T>(args: readonly string[]): Promise<{ value: T; seconds: number }> {
    const split = args.indexOf('--');
    const withJson =
      split === -1 ? [...args, '--json'] : [...args.slice(0, split), '--json', ...args.slice(split)];
    const run = await this.mvctl(withJson);
    if (run.code !== 0) {
      throw new BenchHostdError(
        'BENCH_MVCTL_FAILED',
        `mvctl ${args.join(' ')} exited ${run.code}: ${run.stdout.trim()} ${run.stderr.trim()}\nhostd's last log lines:\n${this.logTail()}`,
      );
    }
    return { value: JSON.parse(run.stdout) as T, seconds: run.seconds };
  }

  private running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The last lines hostd logged, for error messages. */
  logTail(lines = 15): string {
    return this.logText.trim().split('\n').slice(-lines).join('\n');
  }
}

/**
 * A hostd (not started yet) under the workspace, serving the bench's templates; the teardown stops it before
 * the workspace's domains are swept (pooled disposables stay paused when hostd stops: the sweep removes them).
 */
export async function prepareBenchHostd(workspace: BenchWorkspace, teardown: Teardown): Promise<BenchHostd> {
  const templatesDir = join(workspace.root, 'templates');
  await mkdir(templatesDir, { recursive: true });
  await writeBenchTemplates(templatesDir);
  const hostdRoot = join(workspace.root, 'hostd');
  await mkdir(hostdRoot, { recursive: true, mode: 0o711 });
  const hostd = new BenchHostd(hostdRoot, { MULTIVERSE_TEMPLATES_DIR: templatesDir });
  teardown.defer('stop hostd', () => hostd.stop());
  return hostd;
}
