import type { Database } from 'better-sqlite3';
import { StateError } from './state-error.js';

/** One numbered step of the schema. Steps are never edited once released: a change is a new step. */
export interface Migration {
  /** 1, 2, 3…: contiguous, applied in order. */
  readonly version: number;
  /** Short name recorded with the step, checked on later starts so a renumbered step is noticed. */
  readonly name: string;
  readonly sql: string;
}

interface AppliedMigration {
  version: number;
  name: string;
}

/**
 * Brings the database to the newest schema: every step not yet recorded in `schema_migrations` runs in its
 * own transaction together with its record, so a crash leaves the database either before or after a step.
 * Returns the versions applied now.
 */
export function applyMigrations(db: Database, migrations: readonly Migration[]): number[] {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new Error(`migration ${migration.name} has version ${migration.version}, expected ${index + 1}`);
    }
  });
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
  ) STRICT`);
  const applied = db
    .prepare('SELECT version, name FROM schema_migrations ORDER BY version')
    .all() as AppliedMigration[];
  for (const row of applied) {
    const known = migrations[row.version - 1];
    if (known === undefined) {
      throw new StateError(
        'STATE_SCHEMA_NEWER',
        `the state database has schema step ${row.version} (${row.name}), which this hostd does not know: ` +
          'it was written by a newer hostd. Run that version, or restore a backup made by this one.',
      );
    }
    if (known.name !== row.name) {
      throw new StateError(
        'STATE_SCHEMA_MISMATCH',
        `schema step ${row.version} is recorded as "${row.name}" but this hostd calls it "${known.name}": ` +
          'the database comes from another build. Restore a backup made by this hostd.',
      );
    }
  }
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const appliedNow: number[] = [];
  for (const migration of migrations.slice(applied.length)) {
    const step = db.transaction(() => {
      db.exec(migration.sql);
      record.run(migration.version, migration.name, new Date().toISOString());
    });
    try {
      step.immediate();
    } catch (error) {
      throw new StateError(
        'STATE_MIGRATION_FAILED',
        `schema step ${migration.version} (${migration.name}) failed and was rolled back: ${(error as Error).message}`,
        { cause: error },
      );
    }
    appliedNow.push(migration.version);
  }
  return appliedNow;
}
