import { createHash } from 'node:crypto';
import ssh2 from 'ssh2';
import { JailShellError } from './errors.js';
import { validateRole, validateUserName, type JailRole } from './user-identity.js';

export {
  JAIL_ROLES,
  JAIL_USER_NAME_PATTERN,
  validateRole,
  validateUserName,
  type JailRole,
} from './user-identity.js';

const { utils } = ssh2;

export interface JailUser {
  readonly name: string;
  readonly role: JailRole;
  /** Public keys in authorized_keys form (`ssh-ed25519 AAAA… comment`). */
  readonly authorizedKeys: readonly string[];
  /** Base32 TOTP secret (RFC 6238, SHA-1, 6 digits, 30 s); null until `user otp-enroll`. */
  readonly totpSecret: string | null;
  /** Set by an administrator; a locked user cannot log in. */
  readonly locked: boolean;
}

/** Where the jail server reads its users: the SQLite store in production. */
export interface JailUserStore {
  findUser(name: string): Promise<JailUser | undefined>;
  /**
   * Records that `timeStep` was used by `name` if it is newer than every step used before, and
   * says whether it was. Must be atomic (compare-and-set): two logins racing with one code
   * must not both succeed.
   */
  claimTotpTimeStep(name: string, timeStep: number): Promise<boolean>;
}

const BASE32_SECRET_PATTERN = /^[A-Z2-7]{16,128}$/;
const MAX_KEYS_PER_USER = 16;
const MAX_KEY_LINE_LENGTH = 8192;

/** A public key as the jail shows it: its type, OpenSSH's SHA256 fingerprint and its comment. */
export interface PublicKeySummary {
  readonly type: string;
  readonly fingerprint: string;
  readonly comment: string;
}

/**
 * Reads one authorized_keys line (type, base64 blob, optional comment; no options) and returns it in
 * a normal form. Private keys, certificates with options, and anything unparsable are refused.
 */
export function parseAuthorizedKey(line: string, user: string): { line: string; summary: PublicKeySummary } {
  const trimmed = line.trim();
  const invalid = (why: string): JailShellError =>
    new JailShellError(
      'USER_INVALID',
      `A key of user ${user} is not usable: ${why}. Pass the .pub file (one \`ssh-ed25519 AAAA… comment\` line per key)`,
    );
  if (trimmed.length > MAX_KEY_LINE_LENGTH) throw invalid(`longer than ${MAX_KEY_LINE_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(trimmed)) throw invalid('it contains control characters');
  const [type = '', blob = '', ...commentWords] = trimmed.split(/\s+/);
  const parsed = utils.parseKey(`${type} ${blob}`);
  if (parsed instanceof Error || Array.isArray(parsed))
    throw invalid('not a public key in authorized_keys form');
  if (parsed.isPrivateKey()) throw invalid('it is a private key');
  if (parsed.type !== type) throw invalid(`its type ${type} does not match its data (${parsed.type})`);
  const comment = commentWords.join(' ');
  const fingerprint = `SHA256:${createHashBase64(parsed.getPublicSSH())}`;
  return {
    line: comment === '' ? `${type} ${blob}` : `${type} ${blob} ${comment}`,
    summary: { type, fingerprint, comment },
  };
}

/** Checks a user record at the edge: name, role, keys and secret must all be well formed. */
export function validateJailUser(user: JailUser): JailUser {
  validateUserName(user.name);
  validateRole(user.role);
  if (user.authorizedKeys.length === 0) {
    throw new JailShellError('USER_INVALID', `User ${user.name} needs at least one public key`);
  }
  if (user.authorizedKeys.length > MAX_KEYS_PER_USER) {
    throw new JailShellError('USER_INVALID', `User ${user.name} may have at most ${MAX_KEYS_PER_USER} keys`);
  }
  for (const key of user.authorizedKeys) parseAuthorizedKey(key, user.name);
  if (user.totpSecret !== null && !BASE32_SECRET_PATTERN.test(user.totpSecret)) {
    throw new JailShellError(
      'USER_INVALID',
      `The TOTP secret of user ${user.name} is not upper-case base32 of 16+ characters`,
    );
  }
  return user;
}

function createHashBase64(data: Buffer): string {
  return createHash('sha256').update(data).digest('base64').replace(/=+$/, '');
}
