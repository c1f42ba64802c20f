import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

/** virsh could not be started, or it failed, or it wrote an error: `code` says which. */
export class VirshError extends Error {
  constructor(
    readonly code: 'BENCH_VIRSH_NOT_FOUND' | 'BENCH_VIRSH_FAILED',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'VirshError';
  }
}

export interface VirshOptions {
  /** A virsh that runs longer is killed and its call fails. Default 60 s. */
  timeoutMs?: number;
  /** The virsh executable. Default: `virsh` from PATH. */
  executable?: string;
}

/** Runs `virsh -q -c URI` as child processes, and can stop every one it started that is still running. */
export class Virsh {
  private readonly running = new Set<ChildProcess>();
  private readonly timeoutMs: number;
  private readonly executable: string;

  constructor(
    readonly uri: string,
    options: VirshOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.executable = options.executable ?? 'virsh';
  }

  /** One virsh process running one command given as arguments; resolves its output. */
  run(command: readonly string[]): Promise<string> {
    return this.execute(command, undefined);
  }

  /**
   * One virsh process reading `commands` on stdin, one a line, as its interactive shell does; resolves the whole
   * output, which echoes each command after a `virsh # ` prompt. virsh exits 0 even when a command fails, so any
   * output on stderr counts as a failure.
   */
  runBatch(commands: readonly string[]): Promise<string> {
    return this.execute([], `${commands.join('\n')}\n`);
  }

  /** Kills every virsh this runner started that has not exited yet. */
  stopAll(): void {
    for (const child of this.running) child.kill('SIGKILL');
  }

  private execute(args: readonly string[], stdin: string | undefined): Promise<string> {
    const argv = ['-q', '-c', this.uri, ...args];
    const described = `${this.executable} ${argv.join(' ')}${stdin === undefined ? '' : ' < batch'}`;
    return new Promise((resolve, reject) => {
      const child = spawn(this.executable, argv, {
        stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
      this.running.add(child);
      // Not spawn's own `timeout`: its timer outlives a spawn that fails (ENOENT) and holds the process open.
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, this.timeoutMs);
      const finished = () => {
        clearTimeout(timer);
        this.running.delete(child);
      };
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk));
      child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
      // A virsh that dies early closes its stdin; the exit status below says why, so the EPIPE adds nothing.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(stdin);
      child.once('error', (error: NodeJS.ErrnoException) => {
        finished();
        reject(
          error.code === 'ENOENT'
            ? new VirshError(
                'BENCH_VIRSH_NOT_FOUND',
                `${this.executable} is not installed (apt-get install libvirt-clients)`,
                { cause: error },
              )
            : new VirshError('BENCH_VIRSH_FAILED', `could not start ${described}: ${error.message}`, {
                cause: error,
              }),
        );
      });
      child.once('close', (code, signal) => {
        finished();
        const errors = Buffer.concat(stderr).toString().trim();
        if (code === 0 && errors === '') resolve(Buffer.concat(stdout).toString());
        else {
          const status = timedOut
            ? `killed after ${this.timeoutMs} ms`
            : signal === null
              ? `exit status ${code}`
              : `signal ${signal}`;
          reject(
            new VirshError(
              'BENCH_VIRSH_FAILED',
              `${described} failed (${status}): ${errors || 'no message'}`,
            ),
          );
        }
      });
    });
  }
}
