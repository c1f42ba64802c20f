import type { AuditActor } from '../audit/index.js';

export const TASK_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const FINAL_TASK_STATES: ReadonlySet<TaskState> = new Set(['succeeded', 'failed', 'cancelled']);

/** A task as stored and as every front end sees it. Times are ISO 8601 UTC. */
export interface TaskRecord {
  /** 16 lowercase hex digits. */
  readonly id: string;
  /** What it does, e.g. `vm.create`. */
  readonly kind: string;
  /** What it acts on: a VM name, `host`… */
  readonly target: string;
  readonly state: TaskState;
  readonly progress: { readonly fraction: number; readonly message: string };
  readonly requestedBy: AuditActor;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly cancelRequestedAt: string | null;
  readonly error: { readonly code: string; readonly message: string } | null;
  /** What the body returned (JSON), for a succeeded task. */
  readonly result: unknown;
}

export const TASK_ID_PATTERN = /^[0-9a-f]{16}$/;

export interface TaskRow {
  id: string;
  kind: string;
  target: string;
  state: TaskState;
  progress: number;
  progress_message: string;
  actor_user: string;
  actor_role: string;
  actor_via: string;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  cancel_requested_at: string | null;
  error_code: string | null;
  error_message: string | null;
  result: string | null;
}

export function taskRecordOf(row: TaskRow): TaskRecord {
  return {
    id: row.id,
    kind: row.kind,
    target: row.target,
    state: row.state,
    progress: { fraction: row.progress, message: row.progress_message },
    requestedBy: { user: row.actor_user, role: row.actor_role, via: row.actor_via },
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    cancelRequestedAt: row.cancel_requested_at,
    error:
      row.error_code === null ? null : { code: row.error_code, message: row.error_message ?? row.error_code },
    result: row.result === null ? null : (JSON.parse(row.result) as unknown),
  };
}
