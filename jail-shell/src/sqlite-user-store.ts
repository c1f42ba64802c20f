import { chmodSync, closeSync, openSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';
import type { Database, Statement } from 'better-sqlite3';
import { generateSecret } from 'otplib';
import { JailShellError } from './errors.js';
import {
  parseAuthorizedKey,
  validateRole,
  validateUserName,
  type JailRole,
  type JailUser,
  type JailUserStore,
  type PublicKeySummary,
} from './user-store.js';

/** A user as an administrator sees it: never the TOTP secret. */
export interface JailUserSummary {
  readonly name: string;
  readonly role: JailRole;
  readonly keys: readonly PublicKeySummary[];
  readonly totpEnrolled: boolean;
  readonly locked: boolean;
  readonly createdAt: string;
}

export interface NewJailUser {
  readonly name: string;
  readonly role: string;
  readonly authorizedKeys: readonly string[];
}

const SCHEMA_VERSION = 1;
const MAX_KEYS_PER_USER = 16;

const SCHEMA = `
CREATE TABLE jail_users (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL CHECK (role IN ('owner', 'operator', 'viewer')),
  totp_secret TEXT,
  last_totp_step INTEGER,
  locked INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1)),
  created_at TEXT NOT NULL
) STRICT;
CREATE TABLE jail_user_keys (
  user_name TEXT NOT NULL REFERENCES jail_users (name) ON DELETE CASCADE,
  key_line TEXT NOT NULL,
  PRIMARY KEY (user_name, key_line)
) STRICT;
`;

interface UserRow {
  name: string;
  role: string;
  totp_secret: string | null;
  locked: number;
  created_at: string;
}

/**
 * The jail's users in their own SQLite file (mode 0600, WAL, synchronous FULL): name, role, public
 * keys, TOTP secret, locked flag and the newest TOTP time step used. It lives outside the vault on
 * purpose — the jail is where the owner logs in to unseal the vault.
 */
export class SqliteJailUserStore implements JailUserStore {
  private readonly db: Database;
  private readonly statements: {
    user: Statement<[string], UserRow>;
    keys: Statement<[string], { key_line: string }>;
    claim: Statement<[number, string, number]>;
  };

  private constructor(db: Database) {
    this.db = db;
    this.statements = {
      user: db.prepare('SELECT name, role, totp_secret, locked, created_at FROM jail_users WHERE name = ?'),
      keys: db.prepare('SELECT key_line FROM jail_user_keys WHERE user_name = ? ORDER BY rowid'),
      // The compare-and-set that makes a code single-use: only a newer step than any used before wins.
      claim: db.prepare(
        'UPDATE jail_users SET last_totp_step = ? WHERE name = ? AND (last_totp_step IS NULL OR last_totp_step < ?)',
      ),
    };
  }

  static open(path: string): SqliteJailUserStore {
    let db: Database;
    try {
      // Created 0600 before SQLite sees it, then forced to 0600 in case an older copy was looser.
      closeSync(openSync(path, 'a', 0o600));
      chmodSync(path, 0o600);
      db = new BetterSqlite3(path);
    } catch (error) {
      throw new JailShellError(
        'USER_STORE_OPEN_FAILED',
        `Cannot open the jail user database ${path}: ${(error as Error).message}. Check that its directory exists and is writable`,
        { cause: error },
      );
    }
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new JailShellError(
          'USER_STORE_SCHEMA_NEWER',
          `The jail user database ${path} has schema ${version}, newer than this jail-shell knows (${SCHEMA_VERSION}): run the newer hostd`,
        );
      }
      if (version < SCHEMA_VERSION) {
        db.transaction(() => {
          db.exec(SCHEMA);
          db.pragma(`user_version = ${SCHEMA_VERSION}`);
        }).immediate();
      }
      return new SqliteJailUserStore(db);
    } catch (error) {
      db.close();
      throw error;
    }
  }

  close(): void {
    this.db.close();
  }

  findUser(name: string): Promise<JailUser | undefined> {
    const row = this.statements.user.get(name);
    if (row === undefined) return Promise.resolve(undefined);
    return Promise.resolve({
      name: row.name,
      role: validateRole(row.role),
      authorizedKeys: this.statements.keys.all(name).map((key) => key.key_line),
      totpSecret: row.totp_secret,
      locked: row.locked === 1,
    });
  }

  claimTotpTimeStep(name: string, timeStep: number): Promise<boolean> {
    return Promise.resolve(this.statements.claim.run(timeStep, name, timeStep).changes === 1);
  }

  /** Adds a user without a TOTP secret: they can log in once `enrollTotp` gave them one. */
  addUser(user: NewJailUser): JailUserSummary {
    const name = validateUserName(user.name);
    const role = validateRole(user.role);
    if (user.authorizedKeys.length === 0 || user.authorizedKeys.length > MAX_KEYS_PER_USER) {
      throw new JailShellError(
        'USER_INVALID',
        `User ${name} needs 1 to ${MAX_KEYS_PER_USER} public keys, got ${user.authorizedKeys.length}`,
      );
    }
    const keyLines = [...new Set(user.authorizedKeys.map((key) => parseAuthorizedKey(key, name).line))];
    this.db
      .transaction(() => {
        if (this.statements.user.get(name) !== undefined) {
          throw new JailShellError(
            'USER_EXISTS',
            `User ${name} already exists: delete it first or pick another name`,
          );
        }
        this.db
          .prepare('INSERT INTO jail_users (name, role, created_at) VALUES (?, ?, ?)')
          .run(name, role, new Date().toISOString());
        const insertKey = this.db.prepare('INSERT INTO jail_user_keys (user_name, key_line) VALUES (?, ?)');
        for (const line of keyLines) insertKey.run(name, line);
      })
      .immediate();
    return this.summary(name);
  }

  /**
   * Gives the user a fresh TOTP secret and returns it (shown once, as a URI and QR code). Codes of an
   * earlier secret stop working at once.
   */
  enrollTotp(name: string): string {
    const secret = generateSecret({ length: 20 });
    const changed = this.db
      .prepare('UPDATE jail_users SET totp_secret = ?, last_totp_step = NULL WHERE name = ?')
      .run(secret, name).changes;
    if (changed === 0) throw unknownUser(name);
    return secret;
  }

  setLocked(name: string, locked: boolean): JailUserSummary {
    const changed = this.db
      .prepare('UPDATE jail_users SET locked = ? WHERE name = ?')
      .run(locked ? 1 : 0, name).changes;
    if (changed === 0) throw unknownUser(name);
    return this.summary(name);
  }

  deleteUser(name: string): void {
    if (this.db.prepare('DELETE FROM jail_users WHERE name = ?').run(name).changes === 0) {
      throw unknownUser(name);
    }
  }

  listUsers(): JailUserSummary[] {
    const names = this.db.prepare('SELECT name FROM jail_users ORDER BY name').pluck().all() as string[];
    return names.map((name) => this.summary(name));
  }

  summary(name: string): JailUserSummary {
    const row = this.statements.user.get(name);
    if (row === undefined) throw unknownUser(name);
    return {
      name: row.name,
      role: validateRole(row.role),
      keys: this.statements.keys.all(name).map((key) => parseAuthorizedKey(key.key_line, name).summary),
      totpEnrolled: row.totp_secret !== null,
      locked: row.locked === 1,
      createdAt: row.created_at,
    };
  }
}

function unknownUser(name: string): JailShellError {
  return new JailShellError(
    'USER_UNKNOWN',
    `No jail user ${JSON.stringify(name.slice(0, 64))}: \`mvctl user list\` shows who exists`,
  );
}
