import { JailCommandRunner } from './command-runner.js';
import { completeCommandLine } from './line-editing/command-completion.js';
import { KeyDecoder, type Key } from './line-editing/key-decoder.js';
import { LineEditor } from './line-editing/line-editor.js';
import type { ShellCommandHandler, ShellCommandOutput, ShellSessionUser } from './shell-commands.js';

/** The interpreter's side of its pty: keys come in, text goes out. */
export interface ShellTerminal {
  readonly input: {
    on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
    on(event: 'end', listener: () => void): unknown;
  };
  write(text: string): void;
  /** The width now: asked at each redraw, so a window change is followed without SIGWINCH. */
  columns(): number;
}

/**
 * The interactive jail shell on a terminal in raw mode: a line editor with history and Tab completion
 * of the user's commands, each line run to its end before the next (keys typed meanwhile wait their
 * turn). Resolves with the exit code when the user types `exit` or Ctrl-D, or the input ends.
 */
export function runInteractiveShell(options: {
  readonly terminal: ShellTerminal;
  readonly user: ShellSessionUser;
  readonly handler: ShellCommandHandler;
}): Promise<number> {
  const { terminal, user, handler } = options;
  const runner = new JailCommandRunner(handler, user);
  const completable = runner.completable();
  const editor = new LineEditor({
    prompt: `${user.name}@jail> `,
    columns: () => terminal.columns(),
    complete: (text) => completeCommandLine(text, completable),
  });
  const decoder = new KeyDecoder();
  const output: ShellCommandOutput = {
    stdout: (text) => terminal.write(text),
    stderr: (text) => terminal.write(text),
  };
  let queue: Key[] = [];
  let busy = false;
  let finished = false;

  return new Promise((resolve) => {
    const finish = (exitCode: number): void => {
      if (finished) return;
      finished = true;
      resolve(exitCode);
    };
    const pump = async (): Promise<void> => {
      if (busy || finished) return;
      busy = true;
      try {
        while (queue.length > 0 && !finished) {
          const step = editor.handle(queue);
          terminal.write(step.output);
          queue = [...step.rest];
          if (step.event === undefined) break;
          if (step.event.kind === 'eof') return finish(0);
          const outcome = await runner.runLine(step.event.text, output).catch((error: unknown) => {
            terminal.write(`command failed: ${error instanceof Error ? error.message : String(error)}\n`);
            return { exitCode: 1, exitRequested: false };
          });
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
    terminal.input.on('data', (chunk) => {
      if (finished) return;
      queue.push(...decoder.decode(chunk));
      void pump();
    });
    terminal.input.on('end', () => finish(0));
  });
}
