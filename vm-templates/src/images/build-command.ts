import { spawn } from 'node:child_process';
import { ImageError, errorMessage, systemErrorCode } from './image-error.js';

export interface BuildCommandOptions {
  /** The whole environment of the command: nothing is inherited, so the host's locale or proxy settings never leak in. */
  readonly env: Readonly<Record<string, string>>;
  /** Called with every line the command writes on stdout or stderr, without its line end. */
  readonly onLine?: (line: string) => void;
  /** Aborting kills the command (SIGTERM) and rejects with BUILD_CANCELLED. */
  readonly signal?: AbortSignal;
  /** What to tell the user when the command fails, after the command's own last lines. */
  readonly hint: string;
  /** Debian package that provides the executable, for the message when it is missing. */
  readonly package: string;
}

/** Lines of output quoted in a failure message. */
const QUOTED_LINES = 20;

/** The environment every build command runs with, plus `extra`. */
export function buildEnvironment(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return {
    PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
    LC_ALL: 'C.UTF-8',
    HOME: '/root',
    ...extra,
  };
}

/**
 * Runs one build step's command to completion, streaming its output line by line. A failure is an
 * ImageError naming the command, its exit status and its last lines of output, and what to do.
 */
export function runBuildCommand(
  executable: string,
  args: readonly string[],
  options: BuildCommandOptions,
): Promise<void> {
  const described = [executable, ...args].join(' ');
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted === true) {
      reject(cancelled(described));
      return;
    }
    const child = spawn(executable, args, {
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    const recent: string[] = [];
    const collect = (stream: NodeJS.ReadableStream): void => {
      let pending = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        pending += chunk;
        const lines = pending.split(/\r?\n|\r/);
        pending = lines.pop() ?? '';
        for (const line of lines) accept(line);
      });
      stream.on('end', () => {
        if (pending !== '') accept(pending);
      });
    };
    const accept = (line: string): void => {
      recent.push(line);
      if (recent.length > QUOTED_LINES) recent.shift();
      options.onLine?.(line);
    };
    collect(child.stdout);
    collect(child.stderr);
    child.once('error', (error) => {
      if (options.signal?.aborted === true) {
        reject(cancelled(described));
      } else if (systemErrorCode(error) === 'ENOENT') {
        reject(
          new ImageError(
            'TOOL_MISSING',
            `${executable} is not installed; run scripts/setup.sh or \`apt-get install ${options.package}\``,
            { cause: error },
          ),
        );
      } else {
        reject(
          new ImageError('COMMAND_FAILED', `cannot run ${described}: ${errorMessage(error)}`, {
            cause: error,
          }),
        );
      }
    });
    child.once('close', (code, signal) => {
      if (options.signal?.aborted === true) {
        reject(cancelled(described));
      } else if (code === 0) {
        resolve();
      } else {
        const status = code === null ? `was killed by ${signal ?? 'a signal'}` : `exited with status ${code}`;
        reject(
          new ImageError(
            'COMMAND_FAILED',
            `${described} ${status}; its last output:\n${recent.join('\n')}\n${options.hint}`,
          ),
        );
      }
    });
  });
}

function cancelled(described: string): ImageError {
  return new ImageError('BUILD_CANCELLED', `the image build was cancelled while running ${described}`);
}
