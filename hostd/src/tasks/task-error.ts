export type TaskErrorCode =
  /** No task has this id. */
  | 'TASK_NOT_FOUND'
  /** The task already ended: it can no longer be cancelled. */
  | 'TASK_FINISHED'
  /** hostd is shutting down and takes no new tasks. */
  | 'TASKS_STOPPING';

export class TaskError extends Error {
  override readonly name = 'TaskError';

  constructor(
    readonly code: TaskErrorCode,
    message: string,
  ) {
    super(message);
  }
}
