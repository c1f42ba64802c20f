import type { Duplex } from 'node:stream';
import { ConsoleTimeoutError, GuestConsole } from '@multiverse/vm-templates/testing';

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

/**
 * Types `command` into the root shell on a tiny guest's serial console and collects what it prints until it
 * ends, with vm-templates' console reader (the output framed by marker lines the guest's own `echo` prints);
 * the reader lets go of the console after, so the next command or hostd can use it. The command is the
 * bench's own text, one line, trusted.
 */
export function runInGuestShell(
  console: Duplex,
  command: string,
  timeoutMs: number,
): Promise<GuestShellOutput> {
  if (/[\r\n]/.test(command)) throw new RangeError('a guest shell command must be one line');
  const reader = new GuestConsole(console);
  return reader
    .runCommand(command, timeoutMs)
    .catch((error: unknown) => {
      if (!(error instanceof ConsoleTimeoutError)) throw error;
      throw new GuestShellError(
        error.reason === 'closed' ? 'BENCH_GUEST_SHELL_CLOSED' : 'BENCH_GUEST_SHELL_TIMEOUT',
        error.message,
      );
    })
    .finally(() => reader.detach());
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
