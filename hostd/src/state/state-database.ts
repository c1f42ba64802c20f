import { chmodSync, closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import { HOSTD_MIGRATIONS } from './hostd-schema.js';
import { applyMigrations } from './migrations.js';
import type { Migration } from './migrations.js';
import { StateError } from './state-error.js';

export const STATE_DATABASE_FILE = 'hostd.sqlite';

export interface OpenStateDatabaseOptions {
  /** Defaults to hostd's own schema history; tests pass their own. */
  migrations?: readonly Migration[];
}

export interface StateDatabase {
  readonly db: Database;
  readonly path: string;
  /** Schema steps applied by this open (empty when the database was already current). */
  readonly migrated: readonly number[];
  close(): void;
}

/**
 * Opens (creating if needed) `<stateDir>/hostd.sqlite`, mode 0600, and brings its schema up to date.
 *
 * WAL lets readers run while hostd writes. `synchronous=FULL` makes every commit reach the disk before it
 * returns: in WAL mode NORMAL may lose the last commits on power loss, and an audit row that vanishes after
 * the action it records has happened is what an audit log must not allow. SQLite gives the -wal and -shm
 * files the main file's mode.
 */
export function openStateDatabase(stateDir: string, options: OpenStateDatabaseOptions = {}): StateDatabase {
  const path = join(stateDir, STATE_DATABASE_FILE);
  let db: Database;
  try {
    // Created with 0600 before SQLite sees it, so it never exists readable by others, then forced to
    // 0600 in case an older copy had a looser mode.
    closeSync(openSync(path, 'a', 0o600));
    chmodSync(path, 0o600);
    db = new BetterSqlite3(path);
  } catch (error) {
    throw new StateError(
      'STATE_DB_OPEN_FAILED',
      `cannot open the state database ${path}: ${(error as Error).message}. ` +
        'Check that the state directory exists and is writable by hostd (MULTIVERSE_STATE_DIR).',
      { cause: error },
    );
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    // Another process (a backup, sqlite3 CLI) may hold a read lock for a moment.
    db.pragma('busy_timeout = 5000');
    const migrated = applyMigrations(db, options.migrations ?? HOSTD_MIGRATIONS);
    return { db, path, migrated, close: () => db.close() };
  } catch (error) {
    db.close();
    throw error;
  }
}
