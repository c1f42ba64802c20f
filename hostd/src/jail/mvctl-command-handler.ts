import type {
  ShellCommandDescription,
  ShellCommandHandler,
  ShellCommandOutput,
  ShellCommandResult,
  TerminalLease,
} from '@multiverse/jail-shell';
import { optionsOf } from '../cli/command-options.js';
import { COMMANDS, findCommand, groupsOf } from '../cli/commands.js';
import type { Command } from '../cli/commands.js';
import { EXIT_CODES } from '../cli/exit-codes.js';
import { runMvctl } from '../cli/run-mvctl.js';
import type { MvctlIo } from '../cli/run-mvctl.js';
import { isAllowed } from '../service/policy.js';
import type { Role } from '../service/index.js';

/** mvctl commands that cannot work inside a session's sandbox, and why. */
const UNAVAILABLE_IN_JAIL: ReadonlyMap<string, string> = new Map([
  ['user add', 'it reads a public key file on the machine mvctl runs on: add users with mvctl on the host'],
  ['completion bash', 'there is no bash here: Tab completes in this shell'],
  [
    'vault put',
    'it reads the value from a file or stdin, which a jail session does not have: use mvctl on the host',
  ],
  ['vault keygen', 'it writes a key pair to files: run it with mvctl on the custodian’s own machine'],
]);

function commandWords(command: Command): string {
  return `${command.group} ${command.name}`;
}

/**
 * mvctl's commands as a jail session's commands. Help and completion offer those the role allows; any
 * mvctl command may still be typed, and goes to hostd over the session's own socket, where the policy —
 * not this process — decides (a refusal is audited there). The socket is fixed: `--socket` is refused.
 */
export class MvctlCommandHandler implements ShellCommandHandler {
  private readonly offered: readonly ShellCommandDescription[];

  constructor(private readonly session: { readonly role: Role; readonly socket: string }) {
    this.offered = COMMANDS.filter(
      (command) =>
        command.kind === 'remote' &&
        isAllowed(session.role, command.verb) &&
        !UNAVAILABLE_IN_JAIL.has(commandWords(command)),
    ).map((command) => ({
      words: [command.group, command.name],
      usage: command.arguments.map((argument) => argument.name).join(' '),
      summary: command.summary,
      options: optionsOf(command)
        .filter((option) => option.name !== 'socket')
        .map((option) => ({
          name: option.name,
          takesValue: option.type === 'string',
          ...(option.choices === undefined ? {} : { choices: option.choices }),
        })),
    }));
  }

  commands(): readonly ShellCommandDescription[] {
    return this.offered;
  }

  async run(argv: readonly string[], output: ShellCommandOutput): Promise<ShellCommandResult> {
    const [group, name] = argv;
    if (group === undefined || !groupsOf(COMMANDS).includes(group)) return { kind: 'unknown' };
    if (argv.some((word) => word === '--socket' || word.startsWith('--socket='))) {
      output.stderr(
        '--socket is not available here: this session reaches hostd only through its own socket\n',
      );
      return { kind: 'ran', exitCode: EXIT_CODES.usage };
    }
    const command = name === undefined ? undefined : findCommand(group, name);
    const unavailable = command === undefined ? undefined : UNAVAILABLE_IN_JAIL.get(commandWords(command));
    if (unavailable !== undefined) {
      output.stderr(`${group} ${name ?? ''} is not available in the jail: ${unavailable}\n`);
      return { kind: 'ran', exitCode: EXIT_CODES.usage };
    }
    const args = command?.kind === 'remote' ? [...argv, `--socket=${this.session.socket}`] : [...argv];
    const takesTerminal = (command as { readonly stream?: boolean } | undefined)?.stream === true;
    const lease: TerminalLease | undefined = takesTerminal ? output.takeTerminal?.() : undefined;
    // A stream command (a console) joins the lent terminal; mvctl's io gains it only then. There are no
    // files here: what a command would read from one it asks for on the terminal (`vault unseal`).
    const ask = output.ask?.bind(output);
    const io: MvctlIo = {
      stdout: (text: string) => output.stdout(inJailWords(text)),
      stderr: (text: string) => output.stderr(inJailWords(text)),
      env: {},
      fileless: ask === undefined ? {} : { ask },
      ...(lease === undefined ? {} : { terminal: { input: lease.input, output: lease.output } }),
    };
    try {
      return { kind: 'ran', exitCode: await runMvctl(args, io) };
    } finally {
      lease?.release();
    }
  }
}

/** mvctl's messages name mvctl; in the jail the same commands are typed without it. */
function inJailWords(text: string): string {
  return text
    .replace(/^mvctl: /gm, '')
    .replace(/`mvctl --help`/g, '`help`')
    .replace(/`mvctl /g, '`');
}
