import { spawn } from 'node:child_process';

/** A tool the bench runs could not be started, or it failed: `code` says which. */
export class CommandError extends Error {
  constructor(
    readonly code: 'BENCH_COMMAND_NOT_FOUND' | 'BENCH_COMMAND_FAILED',
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'CommandError';
  }
}

export interface CommandOptions {
  /** A command that runs longer is killed and fails. Default 10 minutes: copying 8 GiB on a loaded disk is slow. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Which Debian package provides the executable, for the message when it is missing. */
  package?: string;
}

export interface CommandOutput {
  stdout: string;
  stderr: string;
}

/**
 * Runs `executable args…` (no shell) and resolves its output once it exits 0; anything else rejects with
 * the command line, how it ended and what it wrote on stderr.
 */
export function runCommand(
  executable: string,
  args: readonly string[],
  options: CommandOptions = {},
): Promise<CommandOutput> {
  const timeoutMs = options.timeoutMs ?? 600_000;
  const described = [executable, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(executable, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.env === undefined ? {} : { env: options.env }),
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        error.code === 'ENOENT'
          ? new CommandError(
              'BENCH_COMMAND_NOT_FOUND',
              `${executable} is not installed${options.package === undefined ? '' : ` (apt-get install ${options.package})`}`,
              { cause: error },
            )
          : new CommandError('BENCH_COMMAND_FAILED', `could not start ${described}: ${error.message}`, {
              cause: error,
            }),
      );
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const output = { stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() };
      if (code === 0) {
        resolve(output);
        return;
      }
      const status = timedOut
        ? `killed after ${timeoutMs} ms`
        : signal === null
          ? `exit status ${code}`
          : `signal ${signal}`;
      reject(
        new CommandError(
          'BENCH_COMMAND_FAILED',
          `${described} failed (${status}): ${output.stderr.trim() || output.stdout.trim() || 'no message'}`,
        ),
      );
    });
  });
}

/** Runs `operation` and returns its value with the wall-clock seconds it took. */
export async function timed<T>(operation: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const start = process.hrtime.bigint();
  const value = await operation();
  return { value, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}
