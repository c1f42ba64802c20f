import { readFileSync } from 'node:fs';
import { ROLES } from '../service/roles.js';
import type { VerbName, VerbOutput } from '../service/index.js';
import type { ArgumentSpec, Command, ParsedValues, RemoteCommand } from './commands.js';
import { formatTime } from './human-units.js';
import { formatFields, formatTable } from './table.js';
import { UsageError } from './usage-error.js';

/** An authorized_keys file of a few keys is a few KiB; anything much larger is the wrong file. */
const KEY_FILE_MAX_BYTES = 64 * 1024;

const USER_NAME_ARGUMENT: ArgumentSpec = {
  name: 'NAME',
  description: 'the jail user’s name (1-32 of a-z 0-9 _ -, starting with a letter)',
};

/** Like commands.ts's `remote`: the one cast is here, each command's types are checked where it is written. */
function userCommand<Name extends VerbName>(command: Omit<RemoteCommand<Name>, 'kind' | 'group'>): Command {
  return { kind: 'remote', group: 'user', ...command } as unknown as Command;
}

function nameArgument(positionals: readonly string[], command: string): { name: string } {
  const [name, ...extra] = positionals;
  if (name === undefined) throw new UsageError('missing the user NAME', command);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`, command);
  return { name };
}

/** The public keys of a .pub or authorized_keys file, read here: hostd never opens the caller's files. */
function readKeyFile(path: string | boolean | undefined): string[] {
  if (typeof path !== 'string') throw new UsageError('missing --key FILE (the user’s .pub file)', 'user add');
  let text: string;
  try {
    const bytes = readFileSync(path);
    if (bytes.length > KEY_FILE_MAX_BYTES) {
      throw new UsageError(
        `${path} is larger than ${KEY_FILE_MAX_BYTES} bytes: not a public key file`,
        'user add',
      );
    }
    text = bytes.toString('utf8');
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(
      `cannot read --key ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      'user add',
    );
  }
  const keys = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  if (keys.length === 0) throw new UsageError(`${path} holds no public key`, 'user add');
  return keys;
}

function userFields(user: VerbOutput<'user.list'>['users'][number]): string {
  return formatFields([
    ['name', user.name],
    ['role', user.role],
    ['verification code', user.totpEnrolled ? 'enrolled' : 'not enrolled yet: `mvctl user otp-enroll NAME`'],
    ['state', stateOf(user)],
    ['created', formatTime(user.createdAt)],
    ...user.keys.map(
      (key, index) => [`key ${index + 1}`, `${key.type} ${key.fingerprint} ${key.comment}`] as const,
    ),
  ]);
}

function stateOf(user: VerbOutput<'user.list'>['users'][number]): string {
  if (user.locked) return 'locked';
  if (user.lockedOut) return 'locked out after wrong codes';
  return 'active';
}

export const USER_COMMANDS: readonly Command[] = [
  userCommand({
    name: 'add',
    verb: 'user.add',
    summary: 'let someone into the SSH jail with their public key and a role',
    arguments: [USER_NAME_ARGUMENT],
    options: [
      {
        name: 'key',
        type: 'string',
        value: 'FILE',
        description: 'their public key file (.pub; several lines: several keys)',
      },
      {
        name: 'role',
        type: 'string',
        value: 'R',
        description: `what they may do: ${ROLES.join(', ')}`,
        choices: ROLES,
      },
    ],
    input(positionals: readonly string[], values: ParsedValues) {
      const { name } = nameArgument(positionals, 'user add');
      const role = values['role'];
      if (typeof role !== 'string') throw new UsageError('missing --role R', 'user add');
      return { name, role, keys: readKeyFile(values['key']) };
    },
    render: ({ user }: VerbOutput<'user.add'>) =>
      `${userFields(user)}next: \`mvctl user otp-enroll ${user.name}\` gives them their verification code\n`,
  }),
  userCommand({
    name: 'otp-enroll',
    verb: 'user.otp-enroll',
    summary: 'give a jail user a new verification-code secret (QR code and otpauth:// URI)',
    arguments: [USER_NAME_ARGUMENT],
    options: [],
    input: (positionals: readonly string[]) => nameArgument(positionals, 'user otp-enroll'),
    render: ({ name, uri, qrCode }: VerbOutput<'user.otp-enroll'>) =>
      `Scan this with ${name}’s authenticator app (or import the URI below). It is a secret: show it to ` +
      `${name} only, and do not keep it. Codes of an earlier secret no longer work.\n\n${qrCode}\n${uri}\n`,
  }),
  userCommand({
    name: 'list',
    verb: 'user.list',
    summary: 'the SSH jail’s users: role, keys, code enrolled, locked',
    arguments: [],
    options: [],
    input(positionals: readonly string[]) {
      if (positionals.length > 0)
        throw new UsageError(`unexpected argument "${positionals[0]}"`, 'user list');
      return {};
    },
    render({ users }: VerbOutput<'user.list'>) {
      if (users.length === 0) return 'no jail users: `mvctl user add NAME --key FILE --role R` adds one\n';
      return formatTable(
        ['NAME', 'ROLE', 'KEYS', 'CODE', 'STATE', 'CREATED'],
        users.map((user) => [
          user.name,
          user.role,
          user.keys.map((key) => key.fingerprint).join(' '),
          user.totpEnrolled ? 'enrolled' : 'none',
          stateOf(user),
          formatTime(user.createdAt),
        ]),
      );
    },
  }),
  userCommand({
    name: 'lock',
    verb: 'user.lock',
    summary: 'lock a jail user out and end their sessions',
    arguments: [USER_NAME_ARGUMENT],
    options: [],
    input: (positionals: readonly string[]) => nameArgument(positionals, 'user lock'),
    render: ({ user, sessionsEnded }: VerbOutput<'user.lock'>) =>
      `${user.name} is locked; ${sessionsEnded} connection(s) ended\n`,
  }),
  userCommand({
    name: 'unlock',
    verb: 'user.unlock',
    summary: 'unlock a jail user, also after a lockout for wrong codes',
    arguments: [USER_NAME_ARGUMENT],
    options: [],
    input: (positionals: readonly string[]) => nameArgument(positionals, 'user unlock'),
    render: ({ user, lockoutLifted }: VerbOutput<'user.unlock'>) =>
      `${user.name} is unlocked${lockoutLifted ? ' (a lockout after wrong codes was lifted)' : ''}\n`,
  }),
  userCommand({
    name: 'delete',
    verb: 'user.delete',
    summary: 'remove a jail user, their keys and secret, and end their sessions',
    arguments: [USER_NAME_ARGUMENT],
    options: [],
    input: (positionals: readonly string[]) => nameArgument(positionals, 'user delete'),
    render: ({ name, sessionsEnded }: VerbOutput<'user.delete'>) =>
      `${name} deleted; ${sessionsEnded} connection(s) ended\n`,
  }),
];
