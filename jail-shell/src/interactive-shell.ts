import { JailCommandRunner } from './command-runner.js';
import { completeCommandLine, type CompletableCommand } from './line-editing/command-completion.js';
import { KeyDecoder, type Key } from './line-editing/key-decoder.js';
import { LineEditor } from './line-editing/line-editor.js';
import type {
  ShellCommandHandler,
  ShellCommandOutput,
  ShellQuestion,
  ShellSessionUser,
  TerminalLease,
} from './shell-commands.js';

/** The interpreter's side of its pty: keys come in, text goes out. */
export interface ShellTerminal {
  readonly input: {
    on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
    on(event: 'end', listener: () => void): unknown;
    off(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  };
  write(text: string): void;
  /** The width now: asked at each redraw, so a window change is followed without SIGWINCH. */
  columns(): number;
  /** Lends the raw terminal to a command; absent where there is none to lend. */
  lease?(): TerminalLease;
}

/**
 * The interactive jail shell on a terminal in raw mode: a line editor with history and Tab completion
 * of the user's commands, each line run to its end before the next (keys typed meanwhile wait their
 * turn). Resolves with the exit code when the user types `exit` or Ctrl-D, or the input ends.
 *
 * The handler may still be loading (a promise): the prompt is drawn at once and keys wait for it.
 */
export function runInteractiveShell(options: {
  readonly terminal: ShellTerminal;
  readonly user: ShellSessionUser;
  readonly handler: ShellCommandHandler | Promise<ShellCommandHandler>;
}): Promise<number> {
  const { terminal, user } = options;
  let completable: CompletableCommand[] = [];
  const runnerReady = Promise.resolve(options.handler).then((handler) => {
    const runner = new JailCommandRunner(handler, user);
    completable = runner.completable();
    return runner;
  });
  const editor = new LineEditor({
    prompt: `${user.name}@jail> `,
    columns: () => terminal.columns(),
    complete: (text) => completeCommandLine(text, completable),
  });
  const decoder = new KeyDecoder();
  let queue: Key[] = [];
  let busy = false;
  let finished = false;
  let resolveExit: (exitCode: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (resolveExit = resolve));

  const finish = (exitCode: number): void => {
    if (finished) return;
    finished = true;
    resolveExit(exitCode);
  };
  /** Wakes a question waiting for keys (or for the input's end). */
  let keysArrived: (() => void) | undefined;
  const wakeQuestion = (): void => {
    const wake = keysArrived;
    keysArrived = undefined;
    wake?.();
  };
  /** Whether the running command asked anything: then the keys left when it ends were meant for it. */
  let askedDuringCommand = false;
  const onData = (chunk: Buffer | string): void => {
    if (finished) return;
    queue.push(...decoder.decode(chunk));
    wakeQuestion();
    void pump();
  };
  // A question reads from the same queue as the shell: keys typed ahead of it (a pasted share) are
  // there already, and a command runs only while the pump waits for it, so the two never compete.
  let asking = false;
  let lent = false;
  const ask = async (question: ShellQuestion): Promise<string | undefined> => {
    if (asking) throw new Error('a command asks one question at a time');
    if (lent) throw new Error('a command holding the terminal cannot ask a question on it');
    asking = true;
    askedDuringCommand = true;
    try {
      const questionEditor = new LineEditor({
        prompt: question.prompt,
        columns: () => terminal.columns(),
        historySize: 0,
        hidden: question.echo === false,
        cancelOnInterrupt: true,
      });
      terminal.write(questionEditor.prompt());
      for (;;) {
        if (finished) return undefined;
        if (queue.length === 0) {
          await new Promise<void>((resolve) => (keysArrived = resolve));
          continue;
        }
        const step = questionEditor.handle(queue);
        terminal.write(step.output);
        queue = [...step.rest];
        if (step.event !== undefined) return step.event.kind === 'line' ? step.event.text : undefined;
      }
    } finally {
      asking = false;
    }
  };
  const lendTerminal = terminal.lease?.bind(terminal);
  const output: ShellCommandOutput = {
    stdout: (text) => terminal.write(text),
    stderr: (text) => terminal.write(text),
    ask,
    ...(lendTerminal === undefined
      ? {}
      : {
          // While a command holds the terminal the line editor hears nothing; keys typed ahead of it
          // were already queued and wait for the next prompt.
          takeTerminal: (): TerminalLease => {
            terminal.input.off('data', onData);
            lent = true;
            const lease = lendTerminal();
            let released = false;
            return {
              input: lease.input,
              output: lease.output,
              release: () => {
                if (released) return;
                released = true;
                lent = false;
                lease.release();
                terminal.input.on('data', onData);
              },
            };
          },
        }),
  };
  const pump = async (): Promise<void> => {
    if (busy || finished) return;
    busy = true;
    try {
      const runner = await runnerReady.catch((error: unknown) => {
        terminal.write(
          `the jail shell cannot start: ${error instanceof Error ? error.message : String(error)}\r\n`,
        );
        finish(1);
        return undefined;
      });
      if (runner === undefined) return;
      while (queue.length > 0 && !finished) {
        const step = editor.handle(queue);
        terminal.write(step.output);
        queue = [...step.rest];
        if (step.event === undefined) break;
        if (step.event.kind === 'eof') return finish(0);
        if (step.event.kind === 'cancel') continue;
        askedDuringCommand = false;
        const outcome = await runner.runLine(step.event.text, output).catch((error: unknown) => {
          terminal.write(`command failed: ${error instanceof Error ? error.message : String(error)}\n`);
          return { exitCode: 1, exitRequested: false };
        });
        if (askedDuringCommand) queue = [];
        if (outcome.exitRequested) return finish(outcome.exitCode);
        terminal.write(editor.prompt());
      }
    } finally {
      busy = false;
    }
  };

  terminal.write(
    `Multiverse jail: signed in as ${user.name} (role ${user.role}). Type help for your commands, Tab to complete.\r\n`,
  );
  terminal.write(editor.prompt());
  terminal.input.on('data', onData);
  terminal.input.on('end', () => {
    finish(0);
    wakeQuestion();
  });
  return exited;
}
