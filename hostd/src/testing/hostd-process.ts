// Test support: a real hostd process on private state and run directories, and mvctl calls against it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import type { HostInfo } from '../service/index.js';
import type { TaskRecord } from '../tasks/task-record.js';

const hostdScript = new URL('../main.js', import.meta.url).pathname;
const mvctlScript = new URL('../cli/mvctl.js', import.meta.url).pathname;

export interface MvctlRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface HostdProcessOptions {
  /** Holds `state/` and `run/`; must be traversable by QEMU's user (0711) when guests boot from it. */
  readonly root: string;
  /** More MULTIVERSE_* settings; TCG is forced unless given. */
  readonly env?: NodeJS.ProcessEnv;
}

/** A hostd child process; `start()` waits until it answers and has decided on its accelerator. */
export class HostdProcess {
  readonly runDir: string;
  readonly stateDir: string;
  private child: ChildProcess | undefined;
  private logText = '';

  constructor(private readonly options: HostdProcessOptions) {
    this.runDir = join(options.root, 'run');
    this.stateDir = join(options.root, 'state');
  }

  /** Everything hostd logged, across restarts: for assertion messages. */
  get log(): string {
    return this.logText;
  }

  async start(timeoutMs = 30_000): Promise<void> {
    const child = spawn(process.execPath, [hostdScript], {
      env: {
        ...process.env,
        MULTIVERSE_STATE_DIR: this.stateDir,
        MULTIVERSE_RUN_DIR: this.runDir,
        MULTIVERSE_ACCELERATOR: 'tcg',
        // Tests run many hostds one after another and beside a developer's own: none takes the jail's port.
        MULTIVERSE_JAIL_LISTEN: 'off',
        MULTIVERSE_WEB_LISTEN: 'off',
        ...this.options.env,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    child.stderr?.on('data', (chunk: Buffer) => (this.logText += chunk.toString()));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      assert.equal(child.exitCode, null, `hostd exited at start:\n${this.logText}`);
      const run = await this.mvctl(['host', 'info', '--json']);
      if (run.code === 0 && (JSON.parse(run.stdout) as HostInfo).accelerator !== null) return;
      assert.ok(Date.now() < deadline, `hostd did not answer in time:\n${this.logText}`);
      await sleep(100);
    }
  }

  /**
   * Stops hostd: SIGTERM for a clean stop, SIGKILL to test what a crash leaves. Resolves with its exit code
   * (null when a signal ended it, or it was not running).
   */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<number | null> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return null;
    const exited = once(child, 'exit') as Promise<[number | null]>;
    child.kill(signal);
    const [code] = await exited;
    return code;
  }

  /** One mvctl call; `stdin` is what it reads (nothing by default), `cwd` where relative paths start. */
  mvctl(
    args: readonly string[],
    options: { readonly stdin?: string | Buffer; readonly cwd?: string } = {},
  ): Promise<MvctlRun> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [mvctlScript, ...args], {
        env: { ...process.env, MULTIVERSE_RUN_DIR: this.runDir },
        stdio: ['pipe', 'pipe', 'pipe'],
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      child.stdin.end(options.stdin ?? '');
    });
  }

  /** mvctl as a child process with pipes, for commands that stream (`vm console`). */
  spawnMvctl(args: readonly string[]): ChildProcess {
    return spawn(process.execPath, [mvctlScript, ...args], {
      env: { ...process.env, MULTIVERSE_RUN_DIR: this.runDir },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  }

  /** Runs mvctl with `--json` (placed before any `--`) and expects exit code 0. */
  async mvctlJson<T>(args: readonly string[]): Promise<T> {
    const split = args.indexOf('--');
    const withJson =
      split === -1 ? [...args, '--json'] : [...args.slice(0, split), '--json', ...args.slice(split)];
    const run = await this.mvctl(withJson);
    assert.equal(run.code, 0, `mvctl ${args.join(' ')}: ${run.stderr}\nhostd log:\n${this.logText}`);
    return JSON.parse(run.stdout) as T;
  }

  /** Runs a verb that starts a task (mvctl follows it to its end) and expects the task to have succeeded. */
  async finishedTask(args: readonly string[]): Promise<TaskRecord> {
    const run = await this.mvctl([...args, '--json']);
    const { task } = JSON.parse(run.stdout) as { task: TaskRecord };
    assert.equal(
      task.state,
      'succeeded',
      `${args.join(' ')}: ${JSON.stringify(task.error)}\n${run.stderr}\n${this.logText}`,
    );
    return task;
  }

  /** The error code of a failing mvctl call, with its exit code. */
  async mvctlError(args: readonly string[]): Promise<{ code: number; error: string }> {
    const run = await this.mvctl([...args, '--json']);
    return { code: run.code, error: (JSON.parse(run.stdout) as { error: { code: string } }).error.code };
  }
}

/** Polls `check` until it returns a value other than undefined, or fails with `what` after the bound. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await sleep(200);
  }
}
