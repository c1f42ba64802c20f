import ssh2 from 'ssh2';
import { JailShellError } from './errors.js';

const { utils } = ssh2;

export type JailRole = 'owner' | 'operator' | 'viewer';

export const JAIL_ROLES: readonly JailRole[] = ['owner', 'operator', 'viewer'];

export interface JailUser {
  readonly name: string;
  readonly role: JailRole;
  /** Public keys in authorized_keys form (`ssh-ed25519 AAAA… comment`). */
  readonly authorizedKeys: readonly string[];
  /** Base32 TOTP secret (RFC 6238, SHA-1, 6 digits, 30 s). */
  readonly totpSecret: string;
  /** Set by an administrator; a locked user cannot log in. */
  readonly locked: boolean;
}

/**
 * Where the jail reads its users. hostd implements it over its SQLite database; the in-memory
 * store below serves tests and single-process use.
 */
export interface JailUserStore {
  findUser(name: string): Promise<JailUser | undefined>;
  /**
   * Records that `timeStep` was used by `name` if it is newer than every step used before, and
   * says whether it was. Must be atomic (compare-and-set): two logins racing with one code
   * must not both succeed.
   */
  claimTotpTimeStep(name: string, timeStep: number): Promise<boolean>;
}

const USER_NAME_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;
const BASE32_SECRET_PATTERN = /^[A-Z2-7]{16,128}$/;

/** Checks a user record at the edge: name, role, keys and secret must all be well formed. */
export function validateJailUser(user: JailUser): JailUser {
  if (!USER_NAME_PATTERN.test(user.name)) {
    throw new JailShellError(
      'USER_INVALID',
      `User name ${JSON.stringify(user.name)} is invalid: use 1-32 of a-z, 0-9, _ and -, starting with a letter`,
    );
  }
  if (!JAIL_ROLES.includes(user.role)) {
    throw new JailShellError(
      'USER_INVALID',
      `Role ${JSON.stringify(user.role)} is not one of ${JAIL_ROLES.join(', ')}`,
    );
  }
  if (user.authorizedKeys.length === 0) {
    throw new JailShellError('USER_INVALID', `User ${user.name} needs at least one public key`);
  }
  for (const key of user.authorizedKeys) {
    const parsed = utils.parseKey(key);
    if (parsed instanceof Error || Array.isArray(parsed) || parsed.isPrivateKey()) {
      throw new JailShellError(
        'USER_INVALID',
        `A key of user ${user.name} is not a public key in authorized_keys form: pass the .pub file`,
      );
    }
  }
  if (!BASE32_SECRET_PATTERN.test(user.totpSecret)) {
    throw new JailShellError(
      'USER_INVALID',
      `The TOTP secret of user ${user.name} is not upper-case base32 of 16+ characters`,
    );
  }
  return user;
}

export class InMemoryUserStore implements JailUserStore {
  private readonly users = new Map<string, JailUser>();
  private readonly lastTimeSteps = new Map<string, number>();

  addUser(user: JailUser): void {
    validateJailUser(user);
    if (this.users.has(user.name)) {
      throw new JailShellError(
        'USER_EXISTS',
        `User ${user.name} already exists: delete it first or pick another name`,
      );
    }
    this.users.set(user.name, { ...user, authorizedKeys: [...user.authorizedKeys] });
  }

  setLocked(name: string, locked: boolean): void {
    const user = this.users.get(name);
    if (!user) throw new JailShellError('USER_UNKNOWN', `No user ${name}: list users to see who exists`);
    this.users.set(name, { ...user, locked });
  }

  findUser(name: string): Promise<JailUser | undefined> {
    return Promise.resolve(this.users.get(name));
  }

  claimTotpTimeStep(name: string, timeStep: number): Promise<boolean> {
    const last = this.lastTimeSteps.get(name);
    if (last !== undefined && timeStep <= last) return Promise.resolve(false);
    this.lastTimeSteps.set(name, timeStep);
    return Promise.resolve(true);
  }
}
