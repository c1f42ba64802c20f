import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AuditLog } from '../audit/index.js';
import { openStateDatabase } from '../state/index.js';
import type { StateDatabase } from '../state/index.js';
import { TaskError } from './task-error.js';
import { TaskManager } from './task-manager.js';
import type { TaskContext } from './task-manager.js';

const bob = { user: 'bob', role: 'operator', via: 'ssh' };

/** A body that runs until its task is cancelled, then rejects the way an aborted operation does. */
function untilCancelled(context: TaskContext): Promise<never> {
  return new Promise((_resolve, reject) => {
    context.signal.addEventListener('abort', () => reject(new Error('stopped on request')), { once: true });
  });
}

describe('task manager', () => {
  let root: string;
  const opened: StateDatabase[] = [];
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mv-tasks-'));
  });
  after(async () => {
    for (const state of opened) if (state.db.open) state.close();
    await rm(root, { recursive: true, force: true });
  });

  async function setUp(stateDir?: string) {
    const state = openStateDatabase(stateDir ?? (await mkdtemp(join(root, 'db-'))));
    opened.push(state);
    const audit = new AuditLog(state.db);
    return { state, audit, tasks: new TaskManager(state.db, audit, { progressWriteIntervalMs: 10 }) };
  }

  it('answers a long poll when the task moves, and with the unchanged task when the wait runs out', async () => {
    const { tasks } = await setUp();
    let step!: () => void;
    let finish!: () => void;
    const stepped = new Promise<void>((resolve) => (step = resolve));
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const { task, done } = tasks.start(
      { kind: 'vm.checkpoint', target: 'polled', requestedBy: bob },
      async (context) => {
        await stepped;
        context.reportProgress(0.5, 'halfway');
        await finished;
        return { ok: true };
      },
    );
    await sleep(20);
    const running = { state: 'running' as const, message: 'started' };
    assert.deepEqual(tasks.get(task.id)?.progress.message, running.message);

    const quiet = await tasks.nextChange(task.id, running, 30);
    assert.deepEqual([quiet.state, quiet.progress.message], ['running', 'started']);

    const waitingForStep = tasks.nextChange(task.id, running, 60_000);
    step();
    const moved = await waitingForStep;
    assert.deepEqual([moved.state, moved.progress.message], ['running', 'halfway']);

    const waitingForEnd = tasks.nextChange(task.id, { state: 'running', message: 'halfway' }, 60_000);
    finish();
    const ended = await waitingForEnd;
    assert.deepEqual([ended.state, ended.result], ['succeeded', { ok: true }]);
    assert.equal((await done).state, 'succeeded');

    // A caller that saw an older state is answered at once, also once the task has ended.
    const stale = await tasks.nextChange(task.id, running, 60_000);
    assert.equal(stale.state, 'succeeded');
  });

  it('records a task from queued through running to succeeded, with progress, result and audit rows', async () => {
    const { state, audit, tasks } = await setUp();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const { task, done } = tasks.start(
      { kind: 'vm.create', target: 'work', requestedBy: bob },
      async (context) => {
        context.reportProgress(0.5, 'copying');
        await released;
        return { disk: 'work.qcow2' };
      },
    );
    assert.match(task.id, /^[0-9a-f]{16}$/);
    assert.equal(task.state, 'queued');
    assert.deepEqual(task.requestedBy, bob);
    await sleep(30);
    const running = tasks.get(task.id);
    assert.equal(running?.state, 'running');
    assert.deepEqual(running?.progress, { fraction: 0.5, message: 'copying' });
    const stored = state.db.prepare('SELECT progress, progress_message FROM tasks WHERE id = ?').get(task.id);
    assert.deepEqual(stored, { progress: 0.5, progress_message: 'copying' }, 'progress reached SQLite');
    release();
    const finished = await done;
    assert.equal(finished.state, 'succeeded');
    assert.deepEqual(finished.result, { disk: 'work.qcow2' });
    assert.deepEqual(finished.progress, { fraction: 1, message: 'done' });
    assert.ok(finished.startedAt && finished.finishedAt && finished.finishedAt >= finished.startedAt);
    const rows = audit.list({ limit: 10 });
    assert.deepEqual(
      rows.map((row) => [row.action, row.target, row.result, row.actor.user]),
      [
        ['task.start', 'work', 'ok', 'bob'],
        ['task.finish', 'work', 'ok', 'bob'],
      ],
    );
    assert.deepEqual(rows[1]!.details, { taskId: task.id, kind: 'vm.create', state: 'succeeded' });
    assert.equal(audit.verify().ok, true);
  });

  it('keeps the code of a failing body’s error, and a generic one for errors without a code', async () => {
    const { tasks, audit } = await setUp();
    const coded = Object.assign(new Error('base image hash mismatch'), { code: 'DISK_BASE_HASH_MISMATCH' });
    const first = await tasks.start({ kind: 'vm.start', target: 'a', requestedBy: bob }, () =>
      Promise.reject(coded),
    ).done;
    assert.equal(first.state, 'failed');
    assert.deepEqual(first.error, { code: 'DISK_BASE_HASH_MISMATCH', message: 'base image hash mismatch' });
    const second = await tasks.start({ kind: 'vm.start', target: 'b', requestedBy: bob }, () =>
      Promise.reject(new Error('boom')),
    ).done;
    assert.deepEqual(second.error, { code: 'TASK_FAILED', message: 'boom' });
    assert.deepEqual(
      audit
        .list({ limit: 10 })
        .filter((row) => row.action === 'task.finish')
        .map((row) => row.result),
      ['failed', 'failed'],
    );
  });

  it('cancels a running task through its AbortSignal, and refuses to cancel an ended or unknown one', async () => {
    const { tasks, audit } = await setUp();
    const { task, done } = tasks.start(
      { kind: 'image.build', target: 'tiny', requestedBy: bob },
      untilCancelled,
    );
    await sleep(20);
    const requested = tasks.cancel(task.id);
    assert.ok(requested.cancelRequestedAt);
    const finished = await done;
    assert.equal(finished.state, 'cancelled');
    assert.deepEqual(finished.error, { code: 'TASK_CANCELLED', message: 'cancelled on request' });
    assert.equal(audit.list({ limit: 1 })[0]?.result, 'cancelled');
    assert.throws(
      () => tasks.cancel(task.id),
      (error: unknown) => (error as TaskError).code === 'TASK_FINISHED',
    );
    assert.throws(
      () => tasks.cancel('0123456789abcdef'),
      (error: unknown) => error instanceof TaskError && error.code === 'TASK_NOT_FOUND',
    );
  });

  it('runs tasks on one target one after another; a queued task cancelled never runs its body', async () => {
    const { tasks } = await setUp();
    const order: string[] = [];
    let releaseFirst!: () => void;
    const first = tasks.start({ kind: 'vm.checkpoint', target: 'work', requestedBy: bob }, async () => {
      order.push('first started');
      await new Promise<void>((resolve) => (releaseFirst = resolve));
      order.push('first ended');
    });
    const second = tasks.start({ kind: 'vm.revert', target: 'work', requestedBy: bob }, () => {
      order.push('second started');
      return Promise.resolve();
    });
    const skipped = tasks.start({ kind: 'vm.stop', target: 'work', requestedBy: bob }, () => {
      order.push('skipped ran');
      return Promise.resolve();
    });
    const elsewhere = tasks.start({ kind: 'vm.start', target: 'other', requestedBy: bob }, () => {
      order.push('other target ran');
      return Promise.resolve();
    });
    await elsewhere.done;
    await sleep(20);
    assert.equal(tasks.get(second.task.id)?.state, 'queued');
    const cancelledAtOnce = tasks.cancel(skipped.task.id);
    assert.equal(cancelledAtOnce.state, 'cancelled', 'a queued task is cancelled at once');
    assert.equal((await skipped.done).state, 'cancelled', 'its waiter does not wait for the task ahead');
    assert.equal(tasks.get(first.task.id)?.state, 'running');
    releaseFirst();
    assert.equal((await skipped.done).state, 'cancelled');
    assert.equal((await second.done).state, 'succeeded');
    assert.equal((await first.done).state, 'succeeded');
    assert.deepEqual(order, ['first started', 'other target ran', 'first ended', 'second started']);
    assert.deepEqual(
      tasks.list({ limit: 10, state: 'cancelled' }).map((task) => task.id),
      [skipped.task.id],
    );
    assert.equal(tasks.list({ limit: 2 }).length, 2);
  });

  it('on shutdown signals running tasks, ends queued ones, and records both as stopped with hostd', async () => {
    const { tasks } = await setUp();
    const { done } = tasks.start({ kind: 'vm.create', target: 'x', requestedBy: bob }, untilCancelled);
    const queued = tasks.start({ kind: 'vm.start', target: 'x', requestedBy: bob }, () => Promise.resolve());
    await sleep(20);
    await tasks.shutdown(1000);
    const finished = await done;
    assert.equal(finished.state, 'failed');
    assert.deepEqual(finished.error, { code: 'HOSTD_STOPPED', message: 'hostd stopped while it ran' });
    assert.deepEqual((await queued.done).error, {
      code: 'HOSTD_STOPPED',
      message: 'hostd stopped before it started (it was queued)',
    });
    assert.throws(
      () => tasks.start({ kind: 'vm.create', target: 'y', requestedBy: bob }, () => Promise.resolve()),
      (error: unknown) => error instanceof TaskError && error.code === 'TASKS_STOPPING',
    );
  });

  it('marks tasks a killed hostd left running as failed when the next one starts, and audits it', async () => {
    const stateDir = await mkdtemp(join(root, 'crash-'));
    const moduleUrl = (name: string) => new URL(name, import.meta.url).href;
    // A separate process plays the hostd that dies: it starts a task that never ends, then gets SIGKILL.
    const script = `
      import { openStateDatabase } from ${JSON.stringify(moduleUrl('../state/index.js'))};
      import { AuditLog } from ${JSON.stringify(moduleUrl('../audit/index.js'))};
      import { TaskManager } from ${JSON.stringify(moduleUrl('./index.js'))};
      const state = openStateDatabase(process.argv[1]);
      const tasks = new TaskManager(state.db, new AuditLog(state.db), { progressWriteIntervalMs: 1 });
      const who = { user: 'bob', role: 'operator', via: 'ssh' };
      tasks.start({ kind: 'vm.create', target: 'work', requestedBy: who }, (context) => {
        context.reportProgress(0.25, 'copying');
        return new Promise(() => {});
      });
      tasks.start({ kind: 'vm.start', target: 'work', requestedBy: who }, () => Promise.resolve());
      setTimeout(() => process.stdout.write('running\\n'), 50);
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, stateDir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const [line] = (await once(child.stdout, 'data')) as [Buffer];
      assert.equal(line.toString(), 'running\n');
    } finally {
      child.kill('SIGKILL');
    }
    await once(child, 'exit');

    const { tasks, audit } = await setUp(stateDir);
    const recovered = tasks.recoverInterrupted();
    assert.deepEqual(
      recovered.map((task) => [
        task.kind,
        task.state,
        task.error?.code,
        task.error?.message,
        task.progress.fraction,
      ]),
      [
        ['vm.create', 'failed', 'HOSTD_STOPPED', 'hostd stopped while it ran', 0.25],
        ['vm.start', 'failed', 'HOSTD_STOPPED', 'hostd stopped before it started (it was queued)', 0],
      ],
    );
    const finishes = audit.list({ limit: 10 }).filter((row) => row.action === 'task.finish');
    assert.deepEqual(
      finishes.map((row) => [row.actor.user, row.result, (row.details as { taskId: string }).taskId]),
      recovered.map((task) => ['hostd', 'failed', task.id]),
    );
    assert.deepEqual(tasks.recoverInterrupted(), [], 'recovery is done once');
    assert.equal(audit.verify().ok, true);
  });
});
