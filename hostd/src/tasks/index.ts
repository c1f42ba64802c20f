export { TaskManager, HOSTD_STOPPED_CODE } from './task-manager.js';
export type { TaskBody, TaskContext, TaskManagerOptions, TaskSpec } from './task-manager.js';
export { TaskError } from './task-error.js';
export type { TaskErrorCode } from './task-error.js';
export { FINAL_TASK_STATES, TASK_ID_PATTERN, TASK_STATES } from './task-record.js';
export type { TaskRecord, TaskState } from './task-record.js';
