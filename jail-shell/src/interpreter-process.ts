import { JailCommandRunner } from './command-runner.js';
import { JailShellError } from './errors.js';
import { runInteractiveShell } from './interactive-shell.js';
import { readInterpreterArguments, type InterpreterArguments } from './interpreter-arguments.js';
import type { ShellCommandHandler, ShellCommandOutput } from './shell-commands.js';

const EXIT_CODE_BAD_ARGUMENTS = 2;
const DEFAULT_COLUMNS = 80;

/**
 * The main of a session's interpreter process: reads the arguments the launcher gave, then runs the
 * one `exec` line or the interactive shell on the pty (in raw mode: the line editor does all
 * echoing), and exits with the command's or the session's exit code.
 */
export async function runInterpreterProcess(options: {
  readonly extraOptions?: readonly string[];
  /** May return a promise: the interactive prompt is drawn while it loads. */
  readonly handler: (args: InterpreterArguments) => ShellCommandHandler | Promise<ShellCommandHandler>;
}): Promise<never> {
  let args: InterpreterArguments;
  try {
    args = readInterpreterArguments(process.argv.slice(2), options.extraOptions);
  } catch (error) {
    if (!(error instanceof JailShellError)) throw error;
    process.stderr.write(`jail interpreter: ${error.message}\n`);
    return exitAfterOutput(EXIT_CODE_BAD_ARGUMENTS);
  }
  const handler = options.handler(args);
  if (args.exec !== undefined) {
    const output: ShellCommandOutput = {
      stdout: (text) => process.stdout.write(text),
      stderr: (text) => process.stderr.write(text),
    };
    const outcome = await new JailCommandRunner(await handler, args.user).runLine(args.exec, output);
    return exitAfterOutput(outcome.exitCode);
  }
  if (process.stdin.isTTY) process.stdin.setRawMode(true);
  const exitCode = await runInteractiveShell({
    terminal: {
      input: process.stdin,
      write: (text) => process.stdout.write(text),
      columns: terminalColumns,
      lease: () => ({
        input: process.stdin,
        output: process.stdout,
        release: () => {
          // The borrower may have left cooked mode on or paused the input.
          if (process.stdin.isTTY) process.stdin.setRawMode(true);
          process.stdin.resume();
        },
      }),
    },
    user: args.user,
    handler,
  });
  return exitAfterOutput(exitCode);
}

/**
 * The terminal's width now. Node caches it until a SIGWINCH, which never reaches a sandbox in its own
 * session (bwrap --new-session detaches it from the pty's foreground group), so the size is read from
 * the kernel again (TIOCGWINSZ) at each redraw.
 */
function terminalColumns(): number {
  if (!process.stdout.isTTY) return DEFAULT_COLUMNS;
  const stream = process.stdout as typeof process.stdout & { _refreshSize?: () => void };
  stream._refreshSize?.();
  return stream.columns;
}

/** Exits once stdout and stderr have taken everything written (pipes are asynchronous). */
async function exitAfterOutput(code: number): Promise<never> {
  await Promise.all(
    [process.stdout, process.stderr].map(
      (stream) => new Promise<void>((resolve) => stream.write('', () => resolve())),
    ),
  );
  process.exit(code);
}
