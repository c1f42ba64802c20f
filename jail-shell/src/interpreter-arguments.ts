import { parseArgs } from 'node:util';
import { JailShellError } from './errors.js';
import type { ShellSessionUser } from './shell-commands.js';
import { validateRole, validateUserName } from './user-identity.js';

/** What the server tells a session's interpreter on its command line. */
export interface InterpreterArguments {
  readonly user: ShellSessionUser;
  /** The command line of an `exec` request; absent for the interactive shell. */
  readonly exec?: string;
  /** Values of the extra options the interpreter declared (hostd's `--socket`). */
  readonly extra: Readonly<Record<string, string>>;
}

/**
 * The interpreter's arguments for one session. The `exec` line travels as one `--exec=…` argument
 * (the `=` form, so a line starting with a dash is still a value), never through a shell.
 */
export function interpreterArguments(request: {
  readonly user: ShellSessionUser;
  readonly command?: string;
}): string[] {
  return [
    `--user=${request.user.name}`,
    `--role=${request.user.role}`,
    ...(request.command === undefined ? [] : [`--exec=${request.command}`]),
  ];
}

export function readInterpreterArguments(
  argv: readonly string[],
  extraOptions: readonly string[] = [],
): InterpreterArguments {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        user: { type: 'string' },
        role: { type: 'string' },
        exec: { type: 'string' },
        ...Object.fromEntries(extraOptions.map((name) => [name, { type: 'string' as const }])),
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new JailShellError('INTERPRETER_ARGUMENTS_INVALID', (error as Error).message);
  }
  const text = (name: string): string | undefined => {
    const value = values[name];
    return typeof value === 'string' ? value : undefined;
  };
  const name = text('user');
  const role = text('role');
  if (name === undefined || role === undefined) {
    throw new JailShellError('INTERPRETER_ARGUMENTS_INVALID', 'the interpreter needs --user and --role');
  }
  const extra: Record<string, string> = {};
  for (const option of extraOptions) {
    const value = text(option);
    if (value === undefined) {
      throw new JailShellError('INTERPRETER_ARGUMENTS_INVALID', `the interpreter needs --${option}`);
    }
    extra[option] = value;
  }
  const exec = text('exec');
  return {
    user: { name: validateUserName(name), role: validateRole(role) },
    ...(exec === undefined ? {} : { exec }),
    extra,
  };
}
