import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStateDatabase } from './state-database.js';
import type { Migration } from './migrations.js';
import { StateError } from './state-error.js';

const steps: Migration[] = [
  {
    version: 1,
    name: 'notes',
    sql: 'CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL) STRICT;',
  },
  { version: 2, name: 'tags', sql: 'CREATE TABLE tags (name TEXT PRIMARY KEY) STRICT;' },
];

function tableNames(state: ReturnType<typeof openStateDatabase>): string[] {
  return (
    state.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as {
      name: string;
    }[]
  ).map((row) => row.name);
}

describe('state database', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mv-state-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function freshDir(): Promise<string> {
    return mkdtemp(join(dir, 'db-'));
  }

  it('creates hostd.sqlite with mode 0600 in WAL mode with synchronous=FULL and hostd schema applied', async () => {
    const stateDir = await freshDir();
    const state = openStateDatabase(stateDir);
    try {
      assert.deepEqual(state.migrated, [1, 2]);
      assert.equal(state.db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(state.db.pragma('synchronous', { simple: true }), 2, 'FULL is 2');
      assert.deepEqual(tableNames(state), ['audit_log', 'schema_migrations', 'tasks']);
      state.db.prepare('SELECT count(*) FROM tasks').get();
      for (const file of ['hostd.sqlite', 'hostd.sqlite-wal', 'hostd.sqlite-shm']) {
        const mode = (await stat(join(stateDir, file))).mode & 0o777;
        assert.equal(mode, 0o600, `${file} has mode ${mode.toString(8)}`);
      }
    } finally {
      state.close();
    }
    const again = openStateDatabase(stateDir);
    assert.deepEqual(again.migrated, [], 'a current database gets no step twice');
    again.close();
  });

  it('applies only the steps a database lacks, and records each with its name', async () => {
    const stateDir = await freshDir();
    openStateDatabase(stateDir, { migrations: steps.slice(0, 1) }).close();
    const state = openStateDatabase(stateDir, { migrations: steps });
    try {
      assert.deepEqual(state.migrated, [2]);
      const recorded = state.db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all();
      assert.deepEqual(recorded, [
        { version: 1, name: 'notes' },
        { version: 2, name: 'tags' },
      ]);
    } finally {
      state.close();
    }
  });

  it('rolls a failing step back whole, keeping the steps before it', async () => {
    const stateDir = await freshDir();
    const broken: Migration[] = [
      steps[0]!,
      {
        version: 2,
        name: 'half',
        sql: 'CREATE TABLE half (x INTEGER) STRICT; CREATE TABLE notes (x INTEGER);',
      },
    ];
    assert.throws(
      () => openStateDatabase(stateDir, { migrations: broken }),
      (error: unknown) =>
        error instanceof StateError &&
        error.code === 'STATE_MIGRATION_FAILED' &&
        /step 2 \(half\).*rolled back.*already exists/.test(error.message),
    );
    const state = openStateDatabase(stateDir, { migrations: steps.slice(0, 1) });
    try {
      assert.deepEqual(tableNames(state), ['notes', 'schema_migrations'], 'no trace of the failed step');
    } finally {
      state.close();
    }
  });

  it('refuses a database written by a newer hostd, and one whose step names differ', async () => {
    const stateDir = await freshDir();
    openStateDatabase(stateDir, { migrations: steps }).close();
    assert.throws(
      () => openStateDatabase(stateDir, { migrations: steps.slice(0, 1) }),
      (error: unknown) =>
        error instanceof StateError &&
        error.code === 'STATE_SCHEMA_NEWER' &&
        /step 2 \(tags\)/.test(error.message),
    );
    assert.throws(
      () => openStateDatabase(stateDir, { migrations: [steps[0]!, { ...steps[1]!, name: 'labels' }] }),
      (error: unknown) => error instanceof StateError && error.code === 'STATE_SCHEMA_MISMATCH',
    );
  });

  it('says which directory is unusable when the database cannot be created', () => {
    assert.throws(
      () => openStateDatabase(join(dir, 'no', 'such', 'dir')),
      (error: unknown) =>
        error instanceof StateError &&
        error.code === 'STATE_DB_OPEN_FAILED' &&
        error.message.includes('MULTIVERSE_STATE_DIR'),
    );
  });
});
