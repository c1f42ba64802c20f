import { randomBytes } from 'node:crypto';
import type { Database, Statement } from 'better-sqlite3';
import { HOSTD_ACTOR } from '../audit/index.js';
import type { AuditActor, AuditLog } from '../audit/index.js';
import { TaskError } from './task-error.js';
import { FINAL_TASK_STATES, taskRecordOf } from './task-record.js';
import type { TaskRecord, TaskRow, TaskState } from './task-record.js';

/** What a task body gets: the signal that says the task was cancelled, and a way to say how far it is. */
export interface TaskContext {
  readonly signal: AbortSignal;
  /** `fraction` in 0..1; the message says what is happening now ("copying base image"). */
  reportProgress(fraction: number, message: string): void;
}

/** Resolves with JSON data (kept as the task's result) or rejects; an error's `code` is kept when it has one. */
export type TaskBody = (context: TaskContext) => Promise<unknown>;

export interface TaskSpec {
  readonly kind: string;
  readonly target: string;
  readonly requestedBy: AuditActor;
}

export interface TaskManagerOptions {
  /** Progress reaches SQLite at most this often per task (each write is an fsync). Default 250 ms. */
  readonly progressWriteIntervalMs?: number;
  readonly now?: () => Date;
}

export const HOSTD_STOPPED_CODE = 'HOSTD_STOPPED';
const HOSTD_STOPPED_MESSAGE = 'hostd stopped while it ran';
const HOSTD_STOPPED_QUEUED_MESSAGE = 'hostd stopped before it started (it was queued)';

interface LiveTask {
  readonly spec: TaskSpec;
  readonly controller: AbortController;
  stopReason: 'cancel' | 'shutdown' | undefined;
  /** The body has been called (the task left `queued`). */
  started: boolean;
  progress: { fraction: number; message: string };
  progressTimer: NodeJS.Timeout | undefined;
  readonly done: Promise<TaskRecord>;
  readonly settle: (record: TaskRecord) => void;
  /** Long-polling callers of {@link TaskManager.nextChange}, woken at each change of state or progress. */
  readonly watchers: Set<() => void>;
}

function wakeWatchers(live: LiveTask): void {
  for (const wake of [...live.watchers]) wake();
}

const ERROR_CODE_PATTERN = /^[A-Z][A-Z0-9_]{1,63}$/;

function errorCodeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && ERROR_CODE_PATTERN.test(code) ? code : 'TASK_FAILED';
}

/**
 * Runs long operations as tasks recorded in the `tasks` table: queued, then running, then succeeded, failed
 * or cancelled. Tasks on the same target run one after another (a VM is never changed by two at once);
 * tasks on different targets run side by side. Every start and finish goes to the audit log.
 */
export class TaskManager {
  private readonly live = new Map<string, LiveTask>();
  /** The last task queued per target: the next one on that target starts after it. */
  private readonly tailByTarget = new Map<string, Promise<unknown>>();
  private readonly now: () => Date;
  private readonly progressWriteIntervalMs: number;
  private stopping = false;
  private readonly statements: {
    insert: Statement;
    select: Statement;
    markRunning: Statement;
    writeProgress: Statement;
    markCancelRequested: Statement;
    finish: Statement;
  };

  constructor(
    private readonly db: Database,
    private readonly audit: AuditLog,
    options: TaskManagerOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.progressWriteIntervalMs = options.progressWriteIntervalMs ?? 250;
    this.statements = {
      insert: db.prepare(`INSERT INTO tasks
        (id, kind, target, state, progress, progress_message, actor_user, actor_role, actor_via, created_at)
        VALUES (?, ?, ?, 'queued', 0, 'queued', ?, ?, ?, ?)`),
      select: db.prepare('SELECT * FROM tasks WHERE id = ?'),
      markRunning: db.prepare(
        `UPDATE tasks SET state = 'running', started_at = ?, progress_message = 'started' WHERE id = ?`,
      ),
      writeProgress: db.prepare('UPDATE tasks SET progress = ?, progress_message = ? WHERE id = ?'),
      markCancelRequested: db.prepare('UPDATE tasks SET cancel_requested_at = ? WHERE id = ?'),
      finish: db.prepare(`UPDATE tasks SET state = @state, finished_at = @finishedAt, progress = @fraction,
        progress_message = @message, error_code = @errorCode, error_message = @errorMessage, result = @result
        WHERE id = @id`),
    };
  }

  /**
   * Call once at start, before any task runs: tasks a previous hostd left queued or running have no body
   * any more (it lived in that process), so they are marked failed, and the audit log says so.
   */
  recoverInterrupted(): TaskRecord[] {
    const rows = this.db
      .prepare(`SELECT * FROM tasks WHERE state IN ('queued', 'running') ORDER BY rowid`)
      .all() as TaskRow[];
    const at = this.now().toISOString();
    const recovered: TaskRecord[] = [];
    for (const row of rows) {
      const message = row.state === 'running' ? HOSTD_STOPPED_MESSAGE : HOSTD_STOPPED_QUEUED_MESSAGE;
      this.db.transaction(() => {
        this.statements.finish.run({
          id: row.id,
          state: 'failed',
          finishedAt: at,
          fraction: row.progress,
          message: row.progress_message,
          errorCode: HOSTD_STOPPED_CODE,
          errorMessage: message,
          result: null,
        });
        this.audit.append({
          actor: HOSTD_ACTOR,
          action: 'task.finish',
          target: row.target,
          result: 'failed',
          details: {
            taskId: row.id,
            kind: row.kind,
            requestedBy: row.actor_user,
            error: { code: HOSTD_STOPPED_CODE, message },
          },
        });
      })();
      recovered.push(this.require(row.id));
    }
    return recovered;
  }

  /** Records the task (queued) and runs it when no earlier task on its target is left. */
  start(spec: TaskSpec, body: TaskBody): { task: TaskRecord; done: Promise<TaskRecord> } {
    if (this.stopping) throw new TaskError('TASKS_STOPPING', 'hostd is stopping and takes no new tasks');
    const id = randomBytes(8).toString('hex');
    this.statements.insert.run(
      id,
      spec.kind,
      spec.target,
      spec.requestedBy.user,
      spec.requestedBy.role,
      spec.requestedBy.via,
      this.now().toISOString(),
    );
    let settle!: (record: TaskRecord) => void;
    let fail!: (error: unknown) => void;
    const done = new Promise<TaskRecord>((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
    const live: LiveTask = {
      spec,
      controller: new AbortController(),
      stopReason: undefined,
      started: false,
      progress: { fraction: 0, message: 'queued' },
      progressTimer: undefined,
      done,
      settle,
      watchers: new Set(),
    };
    this.live.set(id, live);
    const previous = this.tailByTarget.get(spec.target) ?? Promise.resolve();
    // The next task on this target waits for this one however it ends. `done` rejects only when the
    // database fails; callers that await it see that.
    const tail: Promise<void> = previous
      .then(() => this.run(id, live, body))
      .then(settle, fail)
      .finally(() => {
        if (this.tailByTarget.get(spec.target) === tail) this.tailByTarget.delete(spec.target);
      });
    this.tailByTarget.set(spec.target, tail);
    return { task: this.require(id), done };
  }

  get(id: string): TaskRecord | undefined {
    const row = this.statements.select.get(id) as TaskRow | undefined;
    return row === undefined ? undefined : this.withLiveProgress(taskRecordOf(row));
  }

  /** Newest first. */
  list(options: { state?: TaskState; limit: number }): TaskRecord[] {
    const rows = (
      options.state === undefined
        ? this.db.prepare('SELECT * FROM tasks ORDER BY rowid DESC LIMIT ?').all(options.limit)
        : this.db
            .prepare('SELECT * FROM tasks WHERE state = ? ORDER BY rowid DESC LIMIT ?')
            .all(options.state, options.limit)
    ) as TaskRow[];
    return rows.map((row) => this.withLiveProgress(taskRecordOf(row)));
  }

  /**
   * Asks the task to stop. A queued task is cancelled at once; a running one is signalled and ends as
   * `cancelled` when its body gives up — or `succeeded` if it finished its work before noticing.
   */
  cancel(id: string): TaskRecord {
    const task = this.get(id);
    if (task === undefined) throw new TaskError('TASK_NOT_FOUND', `no task has the id ${id}`);
    const live = this.live.get(id);
    if (FINAL_TASK_STATES.has(task.state) || live === undefined) {
      throw new TaskError(
        'TASK_FINISHED',
        `task ${id} already ended (${task.state}); there is nothing to cancel`,
      );
    }
    if (live.stopReason === undefined) {
      live.stopReason = 'cancel';
      this.statements.markCancelRequested.run(this.now().toISOString(), id);
      live.controller.abort();
      if (!live.started) {
        // Its body never ran: it ends now, and is skipped when its turn on the target comes.
        this.live.delete(id);
        const record = this.finish(id, live, { state: 'cancelled' });
        live.settle(record);
        return record;
      }
    }
    return this.require(id);
  }

  /**
   * The task as soon as it differs from what the caller last saw (state or progress message), or as it is
   * after `timeoutMs`: a long poll, so a follower hears of each step and of the end when it happens rather
   * than at its next poll.
   */
  async nextChange(
    id: string,
    seen: { state: TaskState; message: string },
    timeoutMs: number,
  ): Promise<TaskRecord> {
    const current = this.require(id);
    const live = this.live.get(id);
    if (live === undefined || current.state !== seen.state || current.progress.message !== seen.message) {
      return current;
    }
    await new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        live.watchers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, timeoutMs);
      live.watchers.add(wake);
    });
    return this.require(id);
  }

  /** Waits for a task to end; resolves with its final record. */
  async waitFor(id: string): Promise<TaskRecord> {
    const live = this.live.get(id);
    if (live !== undefined) return live.done;
    const task = this.get(id);
    if (task === undefined) throw new TaskError('TASK_NOT_FOUND', `no task has the id ${id}`);
    return task;
  }

  /**
   * Stops taking tasks, ends the queued ones, and signals the running ones; those that end within
   * `graceMs` are recorded as failed ("hostd stopped while it ran"), the others are marked so by
   * {@link recoverInterrupted} at the next start.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.stopping = true;
    const running: Promise<TaskRecord>[] = [];
    for (const [id, live] of this.live) {
      live.stopReason ??= 'shutdown';
      live.controller.abort();
      if (live.started) {
        running.push(live.done);
      } else {
        this.live.delete(id);
        live.settle(this.finish(id, live, { state: 'failed' }));
      }
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(running),
      new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
    ]);
    clearTimeout(timer);
  }

  private async run(id: string, live: LiveTask, body: TaskBody): Promise<TaskRecord> {
    if (this.live.get(id) !== live) return this.require(id); // cancelled while queued
    const { spec } = live;
    try {
      if (live.controller.signal.aborted) {
        return this.finish(id, live, {
          state: this.stoppedState(live),
          error: live.controller.signal.reason,
        });
      }
      live.started = true;
      this.db.transaction(() => {
        this.statements.markRunning.run(this.now().toISOString(), id);
        this.audit.append({
          actor: spec.requestedBy,
          action: 'task.start',
          target: spec.target,
          result: 'ok',
          details: { taskId: id, kind: spec.kind },
        });
      })();
      live.progress = { fraction: 0, message: 'started' };
      wakeWatchers(live);
      const context: TaskContext = {
        signal: live.controller.signal,
        reportProgress: (fraction, message) => this.reportProgress(id, live, fraction, message),
      };
      let result: unknown;
      try {
        result = await body(context);
      } catch (error) {
        const state = live.controller.signal.aborted ? this.stoppedState(live) : 'failed';
        return this.finish(id, live, { state, error });
      }
      return this.finish(id, live, { state: 'succeeded', result });
    } finally {
      clearTimeout(live.progressTimer);
      this.live.delete(id);
    }
  }

  private stoppedState(live: LiveTask): TaskState {
    return live.stopReason === 'cancel' ? 'cancelled' : 'failed';
  }

  private reportProgress(id: string, live: LiveTask, fraction: number, message: string): void {
    if (!(fraction >= 0 && fraction <= 1)) {
      throw new RangeError(`task progress must be within 0..1, got ${fraction}`);
    }
    live.progress = { fraction, message: message.slice(0, 500) };
    wakeWatchers(live);
    live.progressTimer ??= setTimeout(() => {
      live.progressTimer = undefined;
      if (this.live.get(id) === live) {
        this.statements.writeProgress.run(live.progress.fraction, live.progress.message, id);
      }
    }, this.progressWriteIntervalMs);
  }

  private finish(
    id: string,
    live: LiveTask,
    outcome: { state: TaskState; error?: unknown; result?: unknown },
  ): TaskRecord {
    let { state } = outcome;
    let error: { code: string; message: string } | null = null;
    let resultJson: string | null = null;
    if (state === 'succeeded') {
      try {
        resultJson = JSON.stringify(outcome.result ?? null);
      } catch (cause) {
        state = 'failed';
        error = {
          code: 'TASK_RESULT_INVALID',
          message: `the task's result is not JSON: ${(cause as Error).message}`,
        };
      }
    } else if (state === 'cancelled') {
      error = { code: 'TASK_CANCELLED', message: 'cancelled on request' };
    } else if (live.stopReason === 'shutdown') {
      error = {
        code: HOSTD_STOPPED_CODE,
        message: live.started ? HOSTD_STOPPED_MESSAGE : HOSTD_STOPPED_QUEUED_MESSAGE,
      };
    } else {
      error = {
        code: errorCodeOf(outcome.error),
        message: (outcome.error as Error | undefined)?.message ?? 'failed',
      };
    }
    const { spec } = live;
    const progress = state === 'succeeded' ? { fraction: 1, message: 'done' } : live.progress;
    this.db.transaction(() => {
      this.statements.finish.run({
        id,
        state,
        finishedAt: this.now().toISOString(),
        fraction: progress.fraction,
        message: progress.message,
        errorCode: error?.code ?? null,
        errorMessage: error?.message ?? null,
        result: resultJson,
      });
      this.audit.append({
        actor: spec.requestedBy,
        action: 'task.finish',
        target: spec.target,
        result: state === 'succeeded' ? 'ok' : state === 'cancelled' ? 'cancelled' : 'failed',
        details: { taskId: id, kind: spec.kind, state, error: error ?? undefined },
      });
    })();
    const record = this.require(id);
    wakeWatchers(live);
    return record;
  }

  private withLiveProgress(task: TaskRecord): TaskRecord {
    const live = this.live.get(task.id);
    return live === undefined || task.state !== 'running'
      ? task
      : { ...task, progress: { ...live.progress } };
  }

  private require(id: string): TaskRecord {
    const task = this.get(id);
    if (task === undefined) throw new TaskError('TASK_NOT_FOUND', `no task has the id ${id}`);
    return task;
  }
}
