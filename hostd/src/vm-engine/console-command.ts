import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { ConsoleLineSplitter } from '@multiverse/vm-templates';
import { ServiceError } from '../service/service-error.js';

/** What a command run in a guest through its serial console printed, and how it ended. */
export interface ConsoleCommandResult {
  readonly output: string;
  readonly exitCode: number;
  /** True when the output went past the limit and was cut there. */
  readonly truncated: boolean;
}

const OUTPUT_LIMIT_BYTES = 1024 * 1024;
// eslint-disable-next-line no-control-regex
const TERMINAL_ESCAPES = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b[@-_]/g;

/** One argument as a POSIX shell word: single-quoted, quotes inside closed and escaped. */
function shellWord(argument: string): string {
  return `'${argument.replaceAll("'", `'\\''`)}'`;
}

/**
 * Rejects what cannot cross a serial line as one command: a line break would end the command early and a
 * control character would be taken as a terminal key (Ctrl-C, Ctrl-D…).
 */
export function guestCommandLine(argv: readonly string[]): string {
  if (argv.length === 0) {
    throw new ServiceError(
      'invalid-input',
      'COMMAND_EMPTY',
      'no command was given',
      'give a command after --',
    );
  }
  for (const argument of argv) {
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(argument)) {
      throw new ServiceError(
        'invalid-input',
        'COMMAND_INVALID',
        `the command argument ${JSON.stringify(argument)} holds a control character or line break`,
        'pass arguments without control characters; write multi-line input to a file inside the VM instead',
      );
    }
  }
  return argv.map(shellWord).join(' ');
}

/**
 * Runs a command line in the guest's console shell and collects what it prints. The output is framed by two
 * marker lines with a random nonce, which the guest prints itself; the terminal's echo of the typed line
 * never matches them (it shows `$?` where the guest prints a number).
 */
export function runConsoleCommand(
  console: Duplex,
  commandLine: string,
  options: { readonly timeoutMs: number; readonly signal?: AbortSignal },
): Promise<ConsoleCommandResult> {
  const nonce = randomBytes(8).toString('hex');
  const begin = `__MV_BEGIN_${nonce}`;
  const end = new RegExp(`^__MV_END_${nonce}_(\\d{1,3})$`);
  const splitter = new ConsoleLineSplitter(64 * 1024);
  const lines: string[] = [];
  let collecting = false;
  let size = 0;
  let truncated = false;
  return new Promise((resolve, reject) => {
    const settle = (): void => {
      clearTimeout(timer);
      console.off('data', onData);
      console.off('close', onClose);
      options.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (code: string, message: string, hint: string): void => {
      settle();
      reject(new ServiceError('upstream', code, message, hint));
    };
    const onData = (chunk: Buffer): void => {
      for (const raw of splitter.push(chunk)) {
        const line = raw.replace(TERMINAL_ESCAPES, '');
        if (!collecting) {
          if (line === begin) collecting = true;
          continue;
        }
        const ended = end.exec(line);
        if (ended !== null) {
          settle();
          resolve({
            output: lines.join('\n') + (lines.length > 0 ? '\n' : ''),
            exitCode: Number(ended[1]),
            truncated,
          });
          return;
        }
        if (size + line.length + 1 > OUTPUT_LIMIT_BYTES) {
          truncated = true;
          continue;
        }
        size += line.length + 1;
        lines.push(line);
      }
    };
    const onClose = (): void =>
      fail(
        'GUEST_COMMAND_INTERRUPTED',
        'the console closed before the command ended (the VM stopped)',
        'run it again',
      );
    const onAbort = (): void => fail('GUEST_COMMAND_CANCELLED', 'the command was cancelled', 'nothing to do');
    const timer = setTimeout(
      () =>
        fail(
          'GUEST_COMMAND_TIMEOUT',
          `the command did not end within ${options.timeoutMs / 1000} s`,
          'give it more time (--timeout), or look at the VM with `mvctl vm console`',
        ),
      options.timeoutMs,
    );
    if (options.signal?.aborted === true) {
      onAbort();
      return;
    }
    options.signal?.addEventListener('abort', onAbort);
    console.on('data', onData);
    console.once('close', onClose);
    console.write(`echo ${begin}; ${commandLine}; echo __MV_END_${nonce}_$?\n`);
  });
}

/**
 * Waits until the guest's console shell answers a command, sending it again while it does not: a shell that
 * starts just after the READY line may discard what was typed before it set up the terminal.
 */
export async function whenShellAnswers(
  console: Duplex,
  commandLine: string,
  options: { readonly attempts: number; readonly attemptTimeoutMs: number },
): Promise<ConsoleCommandResult> {
  let lastError: unknown;
  for (let attempt = 0; attempt < options.attempts; attempt += 1) {
    try {
      return await runConsoleCommand(console, commandLine, { timeoutMs: options.attemptTimeoutMs });
    } catch (error) {
      if (!(error instanceof ServiceError) || error.code !== 'GUEST_COMMAND_TIMEOUT') throw error;
      lastError = error;
    }
  }
  throw lastError;
}
