import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import fc from 'fast-check';
import { openStateDatabase } from '../state/index.js';
import type { StateDatabase } from '../state/index.js';
import { canonicalJson, chainHash } from './audit-chain.js';
import { AuditLog } from './audit-log.js';
import type { AuditVerification } from './audit-log.js';

const alice = { user: 'alice', role: 'owner', via: 'cli' };

/** What an attacker with write access to the file does: a second connection, triggers dropped. */
function tamper(path: string, sql: string, ...params: unknown[]): void {
  const attacker = new BetterSqlite3(path);
  try {
    attacker.exec(`DROP TRIGGER IF EXISTS audit_log_refuse_update;
      DROP TRIGGER IF EXISTS audit_log_refuse_delete;
      DROP TRIGGER IF EXISTS audit_log_insert_continues_chain;`);
    attacker.prepare(sql).run(...params);
  } finally {
    attacker.close();
  }
}

function firstBad(result: AuditVerification) {
  assert.equal(result.ok, false, 'verify should have failed');
  return result.ok ? undefined : result.firstBad;
}

describe('audit log', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mv-audit-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** A fresh database with `rows` entries: action `act.<n>`, target `vm-<n>`. */
  async function logWith(rows: number): Promise<{ state: StateDatabase; audit: AuditLog }> {
    const state = openStateDatabase(await mkdtemp(join(root, 'db-')));
    const audit = new AuditLog(state.db);
    for (let n = 1; n <= rows; n += 1) {
      audit.append({ actor: alice, action: `act.${n}`, target: `vm-${n}`, result: 'ok', details: { n } });
    }
    return { state, audit };
  }

  it('chains each row to the one before and verifies an untouched log', async () => {
    const { state, audit } = await logWith(5);
    try {
      const rows = audit.list({ limit: 10 });
      assert.deepEqual(
        rows.map((row) => row.seq),
        [1, 2, 3, 4, 5],
      );
      assert.equal(rows[0]!.prevHash, '0'.repeat(64));
      for (let i = 1; i < rows.length; i += 1) assert.equal(rows[i]!.prevHash, rows[i - 1]!.hash);
      assert.deepEqual(rows[2]!.details, { n: 3 });
      assert.deepEqual(rows[2]!.actor, alice);
      assert.deepEqual(audit.verify(), { ok: true, rows: 5, head: { seq: 5, hash: rows[4]!.hash } });
      assert.deepEqual(
        audit.list({ limit: 2, beforeSeq: 4 }).map((row) => row.seq),
        [2, 3],
      );
    } finally {
      state.close();
    }
  });

  it('stores details canonically: key order does not change the stored text or the hash', () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [1, { z: 0, y: 1 }], c: null } }),
      canonicalJson({ a: { c: null, d: [1, { y: 1, z: 0 }] }, b: 1 }),
    );
    assert.throws(() => canonicalJson({ size: 10n }), /\$\.size is a bigint/);
    assert.throws(() => canonicalJson({ ratio: Number.NaN }), /not a finite number/);
  });

  it('refuses UPDATE, DELETE and out-of-chain INSERT in SQL, from any connection', async () => {
    const { state } = await logWith(3);
    const other = new BetterSqlite3(state.path);
    try {
      for (const db of [state.db, other]) {
        assert.throws(
          () => db.prepare(`UPDATE audit_log SET result = 'failed' WHERE seq = 2`).run(),
          /append-only/,
        );
        assert.throws(() => db.prepare('DELETE FROM audit_log WHERE seq = 3').run(), /append-only/);
        assert.throws(
          () =>
            db
              .prepare(`INSERT INTO audit_log VALUES (9, 'x', 'u', 'r', 'v', 'a', 't', 'ok', '{}', ?, ?)`)
              .run('0'.repeat(64), 'f'.repeat(64)),
          /continue the chain/,
        );
      }
    } finally {
      other.close();
      state.close();
    }
  });

  it('names an edited row', async () => {
    const { state, audit } = await logWith(6);
    tamper(state.path, `UPDATE audit_log SET target = 'vm-innocent' WHERE seq = 4`);
    assert.deepEqual(firstBad(audit.verify()), {
      seq: 4,
      problem: 'row-altered',
      message: 'row 4 does not match its hash: it was changed after it was written',
    });
    state.close();
  });

  it('names the row after a deleted one', async () => {
    const { state, audit } = await logWith(6);
    tamper(state.path, 'DELETE FROM audit_log WHERE seq = 3');
    const bad = firstBad(audit.verify());
    assert.equal(bad?.seq, 4);
    assert.equal(bad?.problem, 'sequence-gap');
    assert.match(bad?.message ?? '', /rows 3\.\.3 are missing/);
    state.close();
  });

  it('names the first of two swapped rows', async () => {
    const { state, audit } = await logWith(6);
    // Swap the contents of rows 2 and 5, keeping the sequence numbers in place.
    tamper(state.path, 'UPDATE audit_log SET seq = 100 WHERE seq = 2');
    tamper(state.path, 'UPDATE audit_log SET seq = 2 WHERE seq = 5');
    tamper(state.path, 'UPDATE audit_log SET seq = 5 WHERE seq = 100');
    const bad = firstBad(audit.verify());
    assert.deepEqual([bad?.seq, bad?.problem], [2, 'chain-broken']);
    state.close();
  });

  it('names the row after an inserted one, even when the forged row itself hashes correctly', async () => {
    const { state, audit } = await logWith(6);
    const rowTwo = audit.list({ limit: 1, beforeSeq: 3 })[0]!;
    tamper(state.path, 'UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 3');
    tamper(state.path, 'UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1000');
    const forged = {
      seq: 3,
      at: new Date().toISOString(),
      actorUser: 'alice',
      actorRole: 'owner',
      actorVia: 'cli',
      action: 'vm.delete',
      target: 'evidence',
      result: 'ok',
      details: '{}',
      prevHash: rowTwo.hash,
    };
    tamper(
      state.path,
      'INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ...Object.values(forged),
      chainHash(forged),
    );
    const bad = firstBad(audit.verify());
    assert.deepEqual([bad?.seq, bad?.problem], [4, 'chain-broken']);
    state.close();
  });

  it('catches a rewrite with recomputed hashes, and a log cut short, against an anchor taken earlier', async () => {
    const { state, audit } = await logWith(5);
    const verified = audit.verify();
    assert.ok(verified.ok && verified.head);
    const anchor = verified.head;
    // The attacker edits row 2 and recomputes every hash after it: the chain alone looks fine.
    const attacker = new BetterSqlite3(state.path);
    attacker.exec('DROP TRIGGER audit_log_refuse_update');
    const rows = attacker.prepare('SELECT * FROM audit_log ORDER BY seq').all() as Record<
      string,
      string | number
    >[];
    let prevHash = '0'.repeat(64);
    for (const row of rows) {
      const fields = {
        seq: row['seq'] as number,
        at: row['at'] as string,
        actorUser: row['actor_user'] as string,
        actorRole: row['actor_role'] as string,
        actorVia: row['actor_via'] as string,
        action: row['action'] as string,
        target: row['seq'] === 2 ? 'vm-innocent' : (row['target'] as string),
        result: row['result'] as string,
        details: row['details'] as string,
        prevHash,
      };
      prevHash = chainHash(fields);
      attacker
        .prepare('UPDATE audit_log SET target = ?, prev_hash = ?, hash = ? WHERE seq = ?')
        .run(fields.target, fields.prevHash, prevHash, fields.seq);
    }
    attacker.close();
    assert.equal(audit.verify().ok, true, 'without an anchor a full rewrite verifies');
    assert.deepEqual(
      [firstBad(audit.verify({ anchor }))?.seq, firstBad(audit.verify({ anchor }))?.problem],
      [5, 'anchor-mismatch'],
    );
    state.close();

    const cut = await logWith(5);
    const head = cut.audit.head();
    assert.ok(head);
    tamper(cut.state.path, 'DELETE FROM audit_log WHERE seq = 5');
    assert.equal(cut.audit.verify().ok, true, 'a log cut at its end still chains');
    const bad = firstBad(cut.audit.verify({ anchor: head }));
    assert.equal(bad?.problem, 'anchor-mismatch');
    assert.match(bad?.message ?? '', /row 5 is gone: the log ends at row 4/);
    cut.state.close();
  });

  it('property: changing any hashed column of any row is reported at that row', async () => {
    const { state, audit } = await logWith(8);
    const columns = ['at', 'actor_user', 'actor_role', 'actor_via', 'action', 'target', 'result', 'details'];
    const pristine = state.db.prepare('SELECT * FROM audit_log ORDER BY seq').all() as Record<
      string,
      string
    >[];
    try {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 8 }),
          fc.constantFrom(...columns),
          fc.string({ minLength: 1, maxLength: 12 }),
          (seq, column, suffix) => {
            const original = pristine[seq - 1]![column]!;
            tamper(state.path, `UPDATE audit_log SET ${column} = ? WHERE seq = ?`, original + suffix, seq);
            try {
              const bad = firstBad(audit.verify());
              assert.deepEqual([bad?.seq, bad?.problem], [seq, 'row-altered']);
            } finally {
              tamper(state.path, `UPDATE audit_log SET ${column} = ? WHERE seq = ?`, original, seq);
            }
          },
        ),
        { numRuns: 40 },
      );
      assert.equal(audit.verify().ok, true);
    } finally {
      state.close();
    }
  });
});
