import { z } from 'zod';
import type { JailUserAdministration, JailUserView } from '../jail/index.js';
import { ROLES } from './actor.js';
import { ServiceError } from './service-error.js';
import type { ServiceErrorKind } from './service-error.js';
import { defineVerb } from './verb.js';
import type { VerbContext } from './verb.js';

// The jail's users. The store checks names, roles and keys exactly (jail-shell's rules) and its refusals
// come back with their codes; the schemas here only bound the input's shape and size.

const userName = z.string().min(1).max(32);
const nameInput = z.strictObject({ name: userName });

const KIND_OF_JAIL_ERROR: Readonly<Record<string, ServiceErrorKind>> = {
  USER_INVALID: 'invalid-input',
  USER_EXISTS: 'conflict',
  USER_UNKNOWN: 'not-found',
};

const HINT_OF_JAIL_ERROR: Readonly<Record<string, string>> = {
  USER_INVALID: 'see `mvctl user add --help`',
  USER_EXISTS: '`mvctl user delete NAME` first, or pick another name',
  USER_UNKNOWN: '`mvctl user list` shows the jail’s users',
};

function jailOf(context: VerbContext): JailUserAdministration {
  if (context.jail === undefined) {
    throw new ServiceError(
      'unavailable',
      'JAIL_UNAVAILABLE',
      'this hostd runs without the SSH jail’s user store',
      'check hostd’s log for why the jail did not start',
    );
  }
  return context.jail;
}

/** Runs a store operation, turning jail-shell's coded errors into the service's. */
async function withJail<T>(
  context: VerbContext,
  operation: (jail: JailUserAdministration) => T | Promise<T>,
): Promise<T> {
  const jail = jailOf(context);
  try {
    return await operation(jail);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const kind = typeof code === 'string' ? KIND_OF_JAIL_ERROR[code] : undefined;
    if (kind === undefined || typeof code !== 'string') throw error;
    throw new ServiceError(kind, code, (error as Error).message, HINT_OF_JAIL_ERROR[code] ?? '', {
      cause: error,
    });
  }
}

export const userVerbs = {
  'user.add': defineVerb({
    summary: 'add an SSH jail user with their public keys and role; they log in once `user otp-enroll` ran',
    input: z.strictObject({
      name: userName,
      role: z.enum(ROLES),
      keys: z.array(z.string().min(1).max(8192)).min(1).max(16),
    }),
    target: (input) => input.name,
    auditDetails: (input) => ({ name: input.name, role: input.role, keyCount: input.keys.length }),
    run: (context, input): Promise<{ user: JailUserView }> =>
      withJail(context, (jail) => ({
        user: jail.addUser({ name: input.name, role: input.role, authorizedKeys: input.keys }),
      })),
  }),
  'user.otp-enroll': defineVerb({
    summary:
      'give a jail user a fresh TOTP secret: an otpauth:// URI and a QR code for their app (earlier codes stop working)',
    input: nameInput,
    target: (input) => input.name,
    // The answer carries the secret; the audit row only says who was enrolled.
    auditDetails: (input) => ({ name: input.name }),
    run: (context, input): Promise<{ name: string; uri: string; qrCode: string }> =>
      withJail(context, (jail) => jail.enrollTotp(input.name)),
  }),
  'user.list': defineVerb({
    summary: 'the SSH jail’s users: role, key fingerprints, TOTP enrolled, locked or locked out',
    input: z.strictObject({}),
    target: () => 'jail',
    run: (context): Promise<{ users: JailUserView[] }> =>
      withJail(context, (jail) => ({ users: jail.listUsers() })),
  }),
  'user.lock': defineVerb({
    summary: 'lock a jail user out and end their sessions',
    input: nameInput,
    target: (input) => input.name,
    run: (context, input): Promise<{ user: JailUserView; sessionsEnded: number }> =>
      withJail(context, (jail) => jail.lockUser(input.name)),
  }),
  'user.unlock': defineVerb({
    summary: 'unlock a jail user, also from a lockout after wrong codes',
    input: nameInput,
    target: (input) => input.name,
    run: (context, input): Promise<{ user: JailUserView; lockoutLifted: boolean }> =>
      withJail(context, (jail) => jail.unlockUser(input.name)),
  }),
  'user.delete': defineVerb({
    summary: 'delete a jail user, their keys and secret, and end their sessions',
    input: nameInput,
    target: (input) => input.name,
    run: (context, input): Promise<{ name: string; sessionsEnded: number }> =>
      withJail(context, (jail) => ({ name: input.name, ...jail.deleteUser(input.name) })),
  }),
};
