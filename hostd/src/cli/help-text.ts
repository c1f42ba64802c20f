import { optionsOf } from './command-options.js';
import type { Command } from './commands.js';
import { groupsOf } from './commands.js';
import { formatFields } from './table.js';

export const EXIT_CODES_HELP = `exit codes:
  0  ok
  1  the operation failed, or found a problem (e.g. a broken audit chain)
  2  usage: unknown command or option, bad argument, or input hostd refused
  3  hostd is not reachable (not running, or no access to its socket)
`;

function indented(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}

function synopsis(command: Command): string {
  const argumentsPart = command.arguments.map((argument) => ` ${argument.name}`).join('');
  const optionsPart = optionsOf(command)
    .filter((option) => option.name !== 'help')
    .map((option) => ` [--${option.name}${option.value === undefined ? '' : ` ${option.value}`}]`)
    .join('');
  return `mvctl ${command.group} ${command.name}${argumentsPart}${optionsPart}`;
}

export function commandHelp(command: Command): string {
  const argumentLines = command.arguments.map((argument) => [argument.name, argument.description] as const);
  const optionLines = optionsOf(command).map(
    (option) =>
      [
        `${option.short === undefined ? '' : `-${option.short}, `}--${option.name}${option.value === undefined ? '' : ` ${option.value}`}`,
        option.description,
      ] as const,
  );
  return [
    `mvctl ${command.group} ${command.name}: ${command.summary}`,
    '',
    `usage: ${synopsis(command)}`,
    ...(argumentLines.length === 0 ? [] : ['', 'arguments:', indented(formatFields(argumentLines))]),
    '',
    'options:',
    indented(formatFields(optionLines)),
    '',
    ...(command.kind === 'remote' ? [EXIT_CODES_HELP] : []),
  ].join('\n');
}

export function groupHelp(table: readonly Command[], group: string): string {
  const lines = table
    .filter((command) => command.group === group)
    .map((command) => [`mvctl ${group} ${command.name}`, command.summary] as const);
  return (
    `commands of mvctl ${group}:\n${indented(formatFields(lines))}\n` +
    `run \`mvctl ${group} COMMAND --help\` for its options\n`
  );
}

export function mainHelp(table: readonly Command[]): string {
  const lines = groupsOf(table).flatMap((group) =>
    table
      .filter((command) => command.group === group)
      .map((command) => [`${group} ${command.name}`, command.summary] as const),
  );
  return (
    'mvctl: control the Multiverse host daemon (hostd) through its socket\n\n' +
    'usage: mvctl GROUP COMMAND [ARGUMENTS] [OPTIONS]\n\n' +
    `commands:\n${indented(formatFields(lines))}\n` +
    'every command takes --help; listings take --json (machine-readable output)\n\n' +
    EXIT_CODES_HELP
  );
}
