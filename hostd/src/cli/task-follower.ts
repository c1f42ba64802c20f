import { FINAL_TASK_STATES } from '../tasks/task-record.js';
import type { TaskRecord } from '../tasks/task-record.js';
import { callHostd } from './hostd-client.js';

/** How long one request waits for a change; hostd answers sooner whenever the task moves. */
const WAIT_MS = 10_000;

/**
 * Follows the task until it has ended and returns its final record, hearing of each change when it happens
 * (hostd holds each request until the task's state or progress message changes). `onProgress` hears each new
 * progress message once.
 */
export async function followTask(
  socketPath: string,
  id: string,
  onProgress: (task: TaskRecord) => void,
): Promise<TaskRecord> {
  let { task } = (await callHostd(socketPath, 'task.show', { id })) as { task: TaskRecord };
  let lastMessage = '';
  for (;;) {
    if (task.progress.message !== lastMessage) {
      lastMessage = task.progress.message;
      onProgress(task);
    }
    if (FINAL_TASK_STATES.has(task.state)) return task;
    ({ task } = (await callHostd(socketPath, 'task.wait', {
      id,
      state: task.state,
      message: task.progress.message,
      timeoutMs: WAIT_MS,
    })) as { task: TaskRecord });
  }
}
