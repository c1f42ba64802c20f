import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { ConsoleLineSplitter } from '@multiverse/vm-templates';

/** A command in a guest's console shell did not finish, or failed: `code` says which. */
export class GuestShellError extends Error {
  constructor(
    readonly code: 'BENCH_GUEST_SHELL_TIMEOUT' | 'BENCH_GUEST_SHELL_CLOSED' | 'BENCH_GUEST_COMMAND_FAILED',
    message: string,
  ) {
    super(message);
    this.name = 'GuestShellError';
  }
}

export interface GuestShellOutput {
  /** The lines the command printed (stdout and stderr: the console is one terminal), without markers. */
  readonly lines: readonly string[];
  readonly exitCode: number;
}

// eslint-disable-next-line no-control-regex
const TERMINAL_ESCAPES = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b[@-_]/g;

/**
 * Types `command` into the root shell on a tiny guest's serial console and collects what it prints until it
 * ends. The output is framed by marker lines carrying a random tag, printed by the guest's own `echo`: the
 * terminal's echo of the typed line never equals a marker (it shows `$?`, the guest prints the status).
 * The command is the bench's own text, one line, trusted.
 */
export function runInGuestShell(
  console: Duplex,
  command: string,
  timeoutMs: number,
): Promise<GuestShellOutput> {
  if (/[\r\n]/.test(command)) throw new RangeError('a guest shell command must be one line');
  const tag = randomBytes(6).toString('hex');
  const begin = `mvbench-begin-${tag}`;
  const end = new RegExp(`^mvbench-end-${tag}-(\\d{1,3})$`);
  const splitter = new ConsoleLineSplitter();
  const lines: string[] = [];
  let inside = false;
  return new Promise((resolve, reject) => {
    const finish = (outcome: () => void) => {
      clearTimeout(timer);
      console.off('data', onData);
      console.off('close', onClosed);
      console.off('end', onClosed);
      outcome();
    };
    const onData = (chunk: Buffer) => {
      for (const raw of splitter.push(chunk)) {
        const line = raw.replace(TERMINAL_ESCAPES, '');
        if (!inside) {
          inside = line === begin;
          continue;
        }
        const ended = end.exec(line);
        if (ended !== null) {
          finish(() => resolve({ lines, exitCode: Number(ended[1]) }));
          return;
        }
        lines.push(line);
      }
    };
    const onClosed = () =>
      finish(() =>
        reject(
          new GuestShellError('BENCH_GUEST_SHELL_CLOSED', `the console closed while running: ${command}`),
        ),
      );
    const timer = setTimeout(
      () =>
        finish(() =>
          reject(
            new GuestShellError(
              'BENCH_GUEST_SHELL_TIMEOUT',
              `no end of "${command}" within ${timeoutMs / 1000} s; ${inside ? 'it printed' : 'the shell did not start it'}: ${lines.slice(-5).join(' | ')}`,
            ),
          ),
        ),
      timeoutMs,
    );
    console.on('data', onData);
    console.once('close', onClosed);
    console.once('end', onClosed);
    console.write(`echo ${begin}; ${command}; echo mvbench-end-${tag}-$?\n`);
  });
}

/** As `runInGuestShell`, and the command must exit 0; returns its lines. */
export async function guestShellOk(
  console: Duplex,
  command: string,
  timeoutMs: number,
): Promise<readonly string[]> {
  const { lines, exitCode } = await runInGuestShell(console, command, timeoutMs);
  if (exitCode !== 0) {
    throw new GuestShellError(
      'BENCH_GUEST_COMMAND_FAILED',
      `"${command}" exited ${exitCode} in the guest: ${lines.slice(-5).join(' | ') || 'no output'}`,
    );
  }
  return lines;
}

/**
 * Waits for the console shell to answer: a shell that starts just after the READY line can drop what was
 * typed before it set up the terminal, so a short probe is sent again until one comes back.
 */
export async function whenGuestShellAnswers(
  console: Duplex,
  attempts = 10,
  attemptMs = 3_000,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await guestShellOk(console, 'true', attemptMs);
      return;
    } catch (error) {
      if (
        !(error instanceof GuestShellError) ||
        error.code !== 'BENCH_GUEST_SHELL_TIMEOUT' ||
        attempt >= attempts
      )
        throw error;
    }
  }
}
