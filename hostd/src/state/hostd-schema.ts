import type { Migration } from './migrations.js';

/** The history of hostd's schema, oldest first. Append new steps; never edit a released one. */
export const HOSTD_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'audit-log',
    // Append-only is enforced here as well as in code: UPDATE and DELETE are refused, and an INSERT must
    // continue the chain (next sequence number, previous row's hash). Someone with write access to the file
    // can drop these triggers; the hash chain is what catches that (see audit/audit-chain.ts).
    sql: `
      CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor_user TEXT NOT NULL,
        actor_role TEXT NOT NULL,
        actor_via TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        result TEXT NOT NULL,
        details TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      ) STRICT;
      CREATE TRIGGER audit_log_refuse_update BEFORE UPDATE ON audit_log
      BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be changed'); END;
      CREATE TRIGGER audit_log_refuse_delete BEFORE DELETE ON audit_log
      BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rows cannot be deleted'); END;
      CREATE TRIGGER audit_log_insert_continues_chain BEFORE INSERT ON audit_log
      WHEN NEW.seq IS NOT (SELECT IFNULL(MAX(seq), 0) + 1 FROM audit_log)
        OR NEW.prev_hash IS NOT IFNULL(
          (SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1),
          '0000000000000000000000000000000000000000000000000000000000000000')
      BEGIN SELECT RAISE(ABORT, 'audit_log rows must continue the chain'); END;
    `,
  },
  {
    version: 2,
    name: 'tasks',
    sql: `
      CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
        progress REAL NOT NULL CHECK (progress >= 0 AND progress <= 1),
        progress_message TEXT NOT NULL,
        actor_user TEXT NOT NULL,
        actor_role TEXT NOT NULL,
        actor_via TEXT NOT NULL,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        cancel_requested_at TEXT,
        error_code TEXT,
        error_message TEXT,
        result TEXT
      ) STRICT;
      CREATE INDEX tasks_by_state ON tasks (state);
    `,
  },
];
