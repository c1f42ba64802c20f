import { parseCommandLine } from './command-line.js';
import type { CompletableCommand } from './line-editing/command-completion.js';
import type { ShellCommandHandler, ShellCommandOutput, ShellSessionUser } from './shell-commands.js';

export interface CommandLineOutcome {
  readonly exitCode: number;
  readonly exitRequested: boolean;
}

/** Exit codes of lines the interpreter refuses itself, as a POSIX shell would report them. */
export const EXIT_CODE_REFUSED_LINE = 2;
export const EXIT_CODE_UNKNOWN_COMMAND = 127;

const BUILT_INS = [
  { words: ['help'], usage: '', summary: 'list the commands you may run' },
  { words: ['whoami'], usage: '', summary: 'show your user name and role' },
  { words: ['exit'], usage: '', summary: 'end the session' },
] as const;

/**
 * Runs one command line for one user: splits it into words (never through a system shell), answers
 * `help`, `whoami` and `exit` itself and hands every other command to the handler.
 */
export class JailCommandRunner {
  constructor(
    private readonly handler: ShellCommandHandler,
    private readonly user: ShellSessionUser,
  ) {}

  /** Every command word and option, for Tab completion. */
  completable(): CompletableCommand[] {
    return [
      ...BUILT_INS.map((command) => ({ words: command.words, options: [] })),
      ...this.handler.commands().map((command) => ({ words: command.words, options: command.options })),
    ];
  }

  async runLine(line: string, output: ShellCommandOutput): Promise<CommandLineOutcome> {
    const parsed = parseCommandLine(line);
    if (!parsed.ok) {
      output.stderr(`refused: ${parsed.reason}\n`);
      return { exitCode: EXIT_CODE_REFUSED_LINE, exitRequested: false };
    }
    const [first] = parsed.argv;
    if (first === undefined) return { exitCode: 0, exitRequested: false };
    if (parsed.argv.length === 1 && first === 'exit') return { exitCode: 0, exitRequested: true };
    if (parsed.argv.length === 1 && first === 'whoami') {
      output.stdout(`${this.user.name} (${this.user.role})\n`);
      return { exitCode: 0, exitRequested: false };
    }
    if (parsed.argv.length === 1 && first === 'help') {
      output.stdout(this.help());
      return { exitCode: 0, exitRequested: false };
    }
    const result = await this.handler.run(parsed.argv, output);
    if (result.kind === 'unknown') {
      output.stderr(
        `unknown command: ${JSON.stringify(first)} — this is not a system shell; type help for the commands you may run\n`,
      );
      return { exitCode: EXIT_CODE_UNKNOWN_COMMAND, exitRequested: false };
    }
    return { exitCode: result.exitCode, exitRequested: false };
  }

  private help(): string {
    const rows = [...this.handler.commands(), ...BUILT_INS].map((command) => [
      `${command.words.join(' ')}${command.usage === '' ? '' : ` ${command.usage}`}`,
      command.summary,
    ]);
    const width = Math.min(40, Math.max(...rows.map(([left = '']) => left.length)));
    return (
      `commands for ${this.user.name} (${this.user.role}):\n` +
      rows.map(([left = '', right = '']) => `  ${left.padEnd(width)}  ${right}\n`).join('') +
      'Tab completes commands and options; add --help to a command for its options.\n'
    );
  }
}
