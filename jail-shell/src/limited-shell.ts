import { parseCommandLine } from './command-line.js';
import type { ShellCommandHandler, ShellCommandOutput, ShellSessionUser } from './shell-commands.js';

export interface CommandLineOutcome {
  readonly exitCode: number;
  readonly exitRequested: boolean;
}

export type CommandAuditor = (commandLine: string, outcome: 'accepted' | 'refused', detail?: string) => void;

/** Runs one command line for one user: `help` and `exit` here, every other verb through the handler. */
export class JailCommandRunner {
  constructor(
    private readonly handler: ShellCommandHandler,
    private readonly user: ShellSessionUser,
    private readonly audit: CommandAuditor,
  ) {}

  async runLine(line: string, output: ShellCommandOutput): Promise<CommandLineOutcome> {
    const parsed = parseCommandLine(line);
    if (!parsed.ok) {
      this.audit(JSON.stringify(line), 'refused', parsed.reason);
      output.writeErrorLine(`refused: ${parsed.reason}`);
      return { exitCode: 2, exitRequested: false };
    }
    const [verb] = parsed.argv;
    if (verb === undefined) return { exitCode: 0, exitRequested: false };
    if (verb === 'exit' && parsed.argv.length === 1) {
      this.audit(line, 'accepted');
      return { exitCode: 0, exitRequested: true };
    }
    if (verb === 'help' && parsed.argv.length === 1) {
      this.audit(line, 'accepted');
      for (const { words, summary } of this.handler.verbsFor(this.user)) {
        output.writeLine(`  ${words.join(' ').padEnd(20)} ${summary}`);
      }
      output.writeLine(`  ${'help'.padEnd(20)} list the commands you may run`);
      output.writeLine(`  ${'exit'.padEnd(20)} end the session`);
      return { exitCode: 0, exitRequested: false };
    }
    const result = await this.handler.run(this.user, parsed.argv, output);
    if (result.kind === 'unknown') {
      this.audit(line, 'refused', 'unknown command');
      output.writeErrorLine(
        `unknown command: ${JSON.stringify(verb)} — this is not a system shell; type help for the commands you may run`,
      );
      return { exitCode: 127, exitRequested: false };
    }
    this.audit(line, 'accepted', `exit code ${result.exitCode}`);
    return { exitCode: result.exitCode, exitRequested: false };
  }
}

/** The two directions of an SSH session channel with a pty, as the interactive shell needs them. */
export interface TerminalChannel {
  write(text: string): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
}

const PROMPT = 'jail> ';
const MAX_LINE_LENGTH = 4096;

/**
 * A line-editing prompt on a pty channel: printable characters are echoed, backspace edits,
 * Ctrl-C drops the line, Ctrl-D on an empty line leaves, escape sequences (arrow keys) are ignored.
 * Lines run one at a time; input arriving meanwhile waits its turn.
 */
export function runInteractiveShell(
  channel: TerminalChannel,
  user: ShellSessionUser,
  runner: JailCommandRunner,
  onExit: (exitCode: number) => void,
): void {
  const terminalOutput: ShellCommandOutput = {
    writeLine: (line) => channel.write(`${line}\r\n`),
    writeErrorLine: (line) => channel.write(`${line}\r\n`),
  };
  let line = '';
  let pending = '';
  let busy = false;
  let finished = false;
  let inEscapeSequence = false;

  channel.write(`Multiverse jail — signed in as ${user.name} (role ${user.role}). Type help.\r\n${PROMPT}`);

  const finish = (exitCode: number): void => {
    if (finished) return;
    finished = true;
    onExit(exitCode);
  };

  const drain = async (): Promise<void> => {
    busy = true;
    while (pending.length > 0 && !finished) {
      const character = pending[0] as string;
      pending = pending.slice(1);
      if (inEscapeSequence) {
        // A CSI sequence ends with a byte in @..~; a lone ESC followed by one byte ends there.
        if (character !== '[' && character >= '@' && character <= '~') inEscapeSequence = false;
        continue;
      }
      if (character === '\r' || character === '\n') {
        channel.write('\r\n');
        const submitted = line;
        line = '';
        const outcome = await runner.runLine(submitted, terminalOutput);
        if (outcome.exitRequested) finish(0);
        else channel.write(PROMPT);
      } else if (character === '\x7f' || character === '\b') {
        if (line.length > 0) {
          line = line.slice(0, -1);
          channel.write('\b \b');
        }
      } else if (character === '\x03') {
        line = '';
        channel.write(`^C\r\n${PROMPT}`);
      } else if (character === '\x04') {
        if (line.length === 0) {
          channel.write('\r\n');
          finish(0);
        }
      } else if (character === '\x1b') {
        inEscapeSequence = true;
      } else if (character >= ' ' && line.length < MAX_LINE_LENGTH) {
        line += character;
        channel.write(character);
      }
    }
    busy = false;
  };

  channel.on('data', (chunk) => {
    if (finished) return;
    pending += chunk.toString('utf8');
    if (!busy) void drain();
  });
}
