import type { Command } from './commands.js';

export interface OptionSpec {
  readonly name: string;
  readonly type: 'string' | 'boolean';
  /** Placeholder in help: `--limit N`. */
  readonly value?: string;
  /** A one-letter alias: `-m` for `--message`. */
  readonly short?: string;
  readonly description: string;
  /** Values offered by shell completion. */
  readonly choices?: readonly string[];
}

export const JSON_OPTION: OptionSpec = {
  name: 'json',
  type: 'boolean',
  description: 'print the result as JSON',
};
export const SOCKET_OPTION: OptionSpec = {
  name: 'socket',
  type: 'string',
  value: 'PATH',
  description: 'hostd’s socket (default: $MULTIVERSE_RUN_DIR/hostd.sock, else /run/multiverse/hostd.sock)',
};
export const HELP_OPTION: OptionSpec = { name: 'help', type: 'boolean', description: 'show this help' };

/** Options a command accepts: its own, plus --json and --socket for those that call hostd, plus --help. */
export function optionsOf(command: Command): OptionSpec[] {
  return [
    ...command.options,
    ...(command.kind === 'remote' ? [JSON_OPTION, SOCKET_OPTION] : []),
    HELP_OPTION,
  ];
}
