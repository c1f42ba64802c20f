import type { Database, Statement } from 'better-sqlite3';
import { GENESIS_HASH, canonicalJson, chainHash } from './audit-chain.js';

/** Who did it. Service calls carry a user's actor; hostd's own actions use {@link HOSTD_ACTOR}. */
export interface AuditActor {
  readonly user: string;
  readonly role: string;
  readonly via: string;
}

export const HOSTD_ACTOR: AuditActor = { user: 'hostd', role: 'system', via: 'internal' };

export const AUDIT_RESULTS = ['ok', 'denied', 'failed', 'cancelled'] as const;
export type AuditResult = (typeof AUDIT_RESULTS)[number];

export interface AuditRecord {
  readonly actor: AuditActor;
  /** The verb or event, e.g. `vm.list`, `task.start`. */
  readonly action: string;
  /** What it acted on: a VM name, a task id, `host`. */
  readonly target: string;
  readonly result: AuditResult;
  /** JSON data: the validated input, the error code… never secrets. */
  readonly details?: Record<string, unknown>;
}

export interface AuditEntry {
  readonly seq: number;
  readonly at: string;
  readonly actor: AuditActor;
  readonly action: string;
  readonly target: string;
  readonly result: string;
  /** The parsed details; the stored text itself when it is not JSON (a tampered row). */
  readonly details: unknown;
  readonly prevHash: string;
  readonly hash: string;
}

/** A row as verify or a later audit check pins it: `mvctl audit verify` prints the head to write down. */
export interface AuditAnchor {
  readonly seq: number;
  readonly hash: string;
}

export type AuditProblem =
  /** A sequence number is skipped or repeated: rows were deleted or inserted. */
  | 'sequence-gap'
  /** The row does not name the previous row's hash: rows were reordered, deleted or inserted before it. */
  | 'chain-broken'
  /** The row's contents no longer match its hash: it was edited. */
  | 'row-altered'
  /** The anchor's row is gone or has another hash: the log was cut short or rewritten since. */
  | 'anchor-mismatch';

export type AuditVerification =
  | { readonly ok: true; readonly rows: number; readonly head: AuditAnchor | null }
  | {
      readonly ok: false;
      /** Rows found intact before the first bad one. */
      readonly rows: number;
      readonly firstBad: { readonly seq: number; readonly problem: AuditProblem; readonly message: string };
    };

export interface AuditListOptions {
  /** At most this many rows (the newest ones before `beforeSeq`). */
  readonly limit: number;
  readonly beforeSeq?: number;
}

interface AuditRow {
  seq: number;
  at: string;
  actor_user: string;
  actor_role: string;
  actor_via: string;
  action: string;
  target: string;
  result: string;
  details: string;
  prev_hash: string;
  hash: string;
}

function fieldsOf(row: AuditRow) {
  return {
    seq: row.seq,
    at: row.at,
    actorUser: row.actor_user,
    actorRole: row.actor_role,
    actorVia: row.actor_via,
    action: row.action,
    target: row.target,
    result: row.result,
    details: row.details,
    prevHash: row.prev_hash,
  };
}

function entryOf(row: AuditRow): AuditEntry {
  let details: unknown;
  try {
    details = JSON.parse(row.details);
  } catch {
    details = row.details;
  }
  return {
    seq: row.seq,
    at: row.at,
    actor: { user: row.actor_user, role: row.actor_role, via: row.actor_via },
    action: row.action,
    target: row.target,
    result: row.result,
    details,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/**
 * The append-only, hash-chained audit log in the `audit_log` table. Each row stores
 * sha256(previous row's hash || canonical row); {@link verify} recomputes the chain and names the first row
 * that does not fit. An attacker who can write the file and recomputes every hash after an edit makes a
 * chain that verifies: comparing against an anchor recorded earlier (a head hash kept outside the host)
 * catches that too, and a log cut short at its end.
 */
export class AuditLog {
  private readonly insert: Statement;
  private readonly last: Statement;
  private readonly appendInTransaction: (record: AuditRecord) => AuditEntry;

  constructor(
    private readonly db: Database,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.insert = db.prepare(`INSERT INTO audit_log
      (seq, at, actor_user, actor_role, actor_via, action, target, result, details, prev_hash, hash)
      VALUES (@seq, @at, @actorUser, @actorRole, @actorVia, @action, @target, @result, @details, @prevHash, @hash)`);
    this.last = db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    const append = db.transaction((record: AuditRecord): AuditEntry => {
      const previous = this.last.get() as { seq: number; hash: string } | undefined;
      const fields = {
        seq: (previous?.seq ?? 0) + 1,
        at: this.now().toISOString(),
        actorUser: record.actor.user,
        actorRole: record.actor.role,
        actorVia: record.actor.via,
        action: record.action,
        target: record.target,
        result: record.result,
        details: canonicalJson(record.details ?? {}),
        prevHash: previous?.hash ?? GENESIS_HASH,
      };
      const hash = chainHash(fields);
      this.insert.run({ ...fields, hash });
      return entryOf({
        seq: fields.seq,
        at: fields.at,
        actor_user: fields.actorUser,
        actor_role: fields.actorRole,
        actor_via: fields.actorVia,
        action: fields.action,
        target: fields.target,
        result: fields.result,
        details: fields.details,
        prev_hash: fields.prevHash,
        hash,
      });
    });
    // IMMEDIATE takes the write lock before reading the last row, so two writers cannot both extend it.
    this.appendInTransaction = (record) => append.immediate(record);
  }

  append(record: AuditRecord): AuditEntry {
    return this.appendInTransaction(record);
  }

  /** The newest `limit` rows before `beforeSeq`, oldest first. */
  list(options: AuditListOptions): AuditEntry[] {
    const rows = this.db
      .prepare('SELECT * FROM audit_log WHERE seq < ? ORDER BY seq DESC LIMIT ?')
      .all(options.beforeSeq ?? Number.MAX_SAFE_INTEGER, options.limit) as AuditRow[];
    return rows.reverse().map(entryOf);
  }

  head(): AuditAnchor | null {
    return (this.last.get() as AuditAnchor | undefined) ?? null;
  }

  /** Walks the whole chain from the first row; with an anchor, also checks the chain still passes through it. */
  verify(options: { anchor?: AuditAnchor } = {}): AuditVerification {
    const { anchor } = options;
    let expectedSeq = 1;
    let previousHash = GENESIS_HASH;
    let anchorSeen = false;
    const fail = (seq: number, problem: AuditProblem, message: string): AuditVerification => ({
      ok: false,
      rows: expectedSeq - 1,
      firstBad: { seq, problem, message },
    });
    for (const row of this.db
      .prepare('SELECT * FROM audit_log ORDER BY seq')
      .iterate() as Iterable<AuditRow>) {
      if (row.seq !== expectedSeq) {
        return fail(
          row.seq,
          'sequence-gap',
          row.seq > expectedSeq
            ? `row ${row.seq} follows row ${expectedSeq - 1}: rows ${expectedSeq}..${row.seq - 1} are missing`
            : `row ${row.seq} appears where row ${expectedSeq} was expected`,
        );
      }
      if (row.prev_hash !== previousHash) {
        return fail(
          row.seq,
          'chain-broken',
          `row ${row.seq} does not name the hash of the row before it: rows were removed, inserted or reordered`,
        );
      }
      const hash = chainHash(fieldsOf(row));
      if (hash !== row.hash) {
        return fail(
          row.seq,
          'row-altered',
          `row ${row.seq} does not match its hash: it was changed after it was written`,
        );
      }
      if (anchor !== undefined && row.seq === anchor.seq) {
        if (row.hash !== anchor.hash) {
          return fail(
            row.seq,
            'anchor-mismatch',
            `row ${row.seq} has hash ${row.hash}, not the anchored ${anchor.hash}: the log was rewritten since the anchor was taken`,
          );
        }
        anchorSeen = true;
      }
      previousHash = row.hash;
      expectedSeq += 1;
    }
    if (anchor !== undefined && !anchorSeen) {
      return fail(
        anchor.seq,
        'anchor-mismatch',
        `the anchored row ${anchor.seq} is gone: the log ends at row ${expectedSeq - 1}, it was cut short`,
      );
    }
    const rows = expectedSeq - 1;
    return { ok: true, rows, head: rows === 0 ? null : { seq: rows, hash: previousHash } };
  }
}
