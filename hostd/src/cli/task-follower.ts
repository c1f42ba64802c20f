import { setTimeout as sleep } from 'node:timers/promises';
import { FINAL_TASK_STATES } from '../tasks/index.js';
import type { TaskRecord } from '../tasks/index.js';
import { callHostd } from './hostd-client.js';

/** Often enough that a guest-ready start is reported promptly; each poll is one small local request. */
const POLL_INTERVAL_MS = 200;

/**
 * Polls hostd until the task has ended and returns its final record. `onProgress` hears each new progress
 * message once.
 */
export async function followTask(
  socketPath: string,
  id: string,
  onProgress: (task: TaskRecord) => void,
): Promise<TaskRecord> {
  let lastMessage = '';
  for (;;) {
    const { task } = (await callHostd(socketPath, 'task.show', { id })) as { task: TaskRecord };
    if (task.progress.message !== lastMessage) {
      lastMessage = task.progress.message;
      onProgress(task);
    }
    if (FINAL_TASK_STATES.has(task.state)) return task;
    await sleep(POLL_INTERVAL_MS);
  }
}
