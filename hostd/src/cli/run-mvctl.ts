import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { API_SOCKET_FILE } from '../api/api-protocol.js';
import type { FilelessFrontEnd } from './command-input.js';
import { optionsOf } from './command-options.js';
import { COMMANDS, findCommand, groupsOf, taskFields } from './commands.js';
import type { Command, ParsedValues } from './commands.js';
import { EXIT_CODES } from './exit-codes.js';
import type { ExitCode } from './exit-codes.js';
import { commandHelp, groupHelp, mainHelp } from './help-text.js';
import { HostdCallError, HostdUnreachableError, callHostd } from './hostd-client.js';
import { joinTerminal, openStream } from './stream-client.js';
import type { StreamTerminal } from './stream-client.js';
import { followTask } from './task-follower.js';
import { UsageError } from './usage-error.js';

export interface MvctlIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  /** For stream commands (`vm console`): the terminal the stream is joined to. */
  readonly terminal?: StreamTerminal;
  /** Set where there are no local files (the SSH jail): see FilelessFrontEnd. */
  readonly fileless?: FilelessFrontEnd;
}

const DEFAULT_RUN_DIR = '/run/multiverse';

function socketPath(values: ParsedValues, env: NodeJS.ProcessEnv): string {
  const given = values['socket'];
  if (typeof given === 'string') return given;
  return join(env['MULTIVERSE_RUN_DIR'] || DEFAULT_RUN_DIR, API_SOCKET_FILE);
}

function parseCommandLine(command: Command, args: readonly string[]) {
  const where = `${command.group} ${command.name}`;
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: Object.fromEntries(
        optionsOf(command).map((option) => [
          option.name,
          { type: option.type, ...(option.short === undefined ? {} : { short: option.short }) },
        ]),
      ),
      allowPositionals: true,
      strict: true,
    });
    return { values: values as ParsedValues, positionals };
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    const option = /'(-[^']*)'/.exec(message)?.[1];
    throw new UsageError(
      code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option !== undefined ? `unknown option ${option}` : message,
      where,
    );
  }
}

/** Leaves out options that were not given, so hostd fills in its defaults. */
function withoutUndefined(input: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined));
}

/** HTTP statuses that mean "the request was wrong", i.e. usage. */
const USAGE_STATUSES = new Set([400, 405, 413, 415]);

async function run(args: readonly string[], io: MvctlIo): Promise<ExitCode> {
  const [group, name, ...rest] = args;
  if (group === undefined) {
    io.stderr(mainHelp(COMMANDS));
    return EXIT_CODES.usage;
  }
  if (group === '--help' || group === '-h' || group === 'help') {
    io.stdout(mainHelp(COMMANDS));
    return EXIT_CODES.ok;
  }
  if (!groupsOf(COMMANDS).includes(group)) throw new UsageError(`unknown command "${group}"`, '');
  if (name === undefined || name === '--help' || name === '-h') {
    (name === undefined ? io.stderr : io.stdout)(groupHelp(COMMANDS, group));
    return name === undefined ? EXIT_CODES.usage : EXIT_CODES.ok;
  }
  const command = findCommand(group, name);
  if (command === undefined) throw new UsageError(`"${group}" has no command "${name}"`, group);
  const { values, positionals } = parseCommandLine(command, rest);
  if (values['help'] === true) {
    io.stdout(commandHelp(command));
    return EXIT_CODES.ok;
  }
  if (command.kind === 'local') {
    io.stdout(command.run(positionals, values, COMMANDS));
    return EXIT_CODES.ok;
  }
  const input = withoutUndefined(await command.input(positionals, values, io));
  if (command.stream === true) return joinStream(socketPath(values, io.env), command, input, io);
  const json = values['json'] === true;
  try {
    const socket = socketPath(values, io.env);
    const answer = await callHostd(socket, command.verb, input);
    const result = command.receive === undefined ? answer : await command.receive(answer as never, values);
    const taskId = values['no-wait'] === true ? undefined : command.followTask?.(result as never);
    if (taskId !== undefined) return await waitForTask(socket, taskId, json, io);
    io.stdout(json ? JSON.stringify(result, null, 2) + '\n' : command.render(result as never));
    return command.exitCode?.(result as never) ?? EXIT_CODES.ok;
  } catch (error) {
    if (json && (error instanceof HostdCallError || error instanceof HostdUnreachableError)) {
      io.stdout(
        JSON.stringify({ error: { code: error.code, message: error.message, hint: error.hint } }, null, 2) +
          '\n',
      );
    }
    throw error;
  }
}

async function joinStream(
  socket: string,
  command: Command & { kind: 'remote' },
  input: Record<string, unknown>,
  io: MvctlIo,
): Promise<ExitCode> {
  if (io.terminal === undefined) {
    throw new UsageError('this command needs a terminal to attach to', `${command.group} ${command.name}`);
  }
  const stream = await openStream(socket, command.verb, input);
  const target = typeof input['name'] === 'string' ? input['name'] : command.verb;
  io.stderr(`attached to ${target}; Ctrl-] detaches\n`);
  const how = await joinTerminal(stream, io.terminal);
  io.stderr(
    how === 'detached' ? '\ndetached\n' : '\nthe stream ended (the VM stopped, or another client took it)\n',
  );
  return EXIT_CODES.ok;
}

/** Follows a task the command started to its end: progress on stderr, the final task on stdout. */
async function waitForTask(socket: string, id: string, json: boolean, io: MvctlIo): Promise<ExitCode> {
  const task = await followTask(socket, id, (progress) => {
    if (!json) io.stderr(`${Math.round(progress.progress.fraction * 100)}% ${progress.progress.message}\n`);
  });
  io.stdout(json ? JSON.stringify({ task }, null, 2) + '\n' : taskFields(task));
  return task.state === 'succeeded' ? EXIT_CODES.ok : EXIT_CODES.failed;
}

/** mvctl's whole behaviour: returns the exit code instead of exiting, writes only through `io`. */
export async function runMvctl(args: readonly string[], io: MvctlIo): Promise<ExitCode> {
  try {
    return await run(args, io);
  } catch (error) {
    if (error instanceof UsageError) {
      const help = error.command === '' ? 'mvctl --help' : `mvctl ${error.command} --help`;
      io.stderr(`mvctl: ${error.message}\nrun \`${help}\` for usage\n`);
      return EXIT_CODES.usage;
    }
    if (error instanceof HostdUnreachableError) {
      io.stderr(`mvctl: ${error.message}\n${error.hint}\n`);
      return EXIT_CODES.unreachable;
    }
    if (error instanceof HostdCallError) {
      io.stderr(`mvctl: ${error.code}: ${error.message}\nhint: ${error.hint}\n`);
      return USAGE_STATUSES.has(error.status) ? EXIT_CODES.usage : EXIT_CODES.failed;
    }
    io.stderr(
      `mvctl: unexpected failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return EXIT_CODES.failed;
  }
}
