import { JailShellError } from './errors.js';

// Names and roles, apart from key handling so the session interpreter can check them without ssh2.

export type JailRole = 'owner' | 'operator' | 'viewer';

export const JAIL_ROLES: readonly JailRole[] = ['owner', 'operator', 'viewer'];

export const JAIL_USER_NAME_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;

export function validateUserName(name: string): string {
  if (!JAIL_USER_NAME_PATTERN.test(name)) {
    throw new JailShellError(
      'USER_INVALID',
      `User name ${JSON.stringify(name.slice(0, 64))} is invalid: use 1-32 of a-z, 0-9, _ and -, starting with a letter`,
    );
  }
  return name;
}

export function validateRole(role: string): JailRole {
  const known = JAIL_ROLES.find((candidate) => candidate === role);
  if (known === undefined) {
    throw new JailShellError(
      'USER_INVALID',
      `Role ${JSON.stringify(role.slice(0, 32))} is not one of ${JAIL_ROLES.join(', ')}`,
    );
  }
  return known;
}
