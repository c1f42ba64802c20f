import { z } from 'zod';
import { TASK_ID_PATTERN, TASK_STATES, TaskError } from '../tasks/index.js';
import type { TaskRecord } from '../tasks/index.js';
import { ServiceError } from './service-error.js';
import { defineVerb } from './verb.js';

const taskId = z.string().regex(TASK_ID_PATTERN, 'a task id: 16 lowercase hex digits');

function notFound(id: string): ServiceError {
  return new ServiceError(
    'not-found',
    'TASK_NOT_FOUND',
    `no task has the id ${id}`,
    'list tasks with `mvctl task list`',
  );
}

export const taskVerbs = {
  'task.list': defineVerb({
    summary: 'recent tasks, newest first, optionally only those in one state',
    input: z.strictObject({
      state: z.enum(TASK_STATES).optional(),
      limit: z.number().int().min(1).max(500).default(50),
    }),
    target: () => 'tasks',
    run: ({ tasks }, input): Promise<{ tasks: TaskRecord[] }> =>
      Promise.resolve({ tasks: tasks.list({ limit: input.limit, state: input.state }) }),
  }),
  'task.show': defineVerb({
    summary: 'one task: state, progress, times, error or result',
    input: z.strictObject({ id: taskId }),
    target: (input) => input.id,
    run({ tasks }, input): Promise<{ task: TaskRecord }> {
      const task = tasks.get(input.id);
      if (task === undefined) throw notFound(input.id);
      return Promise.resolve({ task });
    },
  }),
  'task.wait': defineVerb({
    summary: 'the task once its state or progress message differs from the given ones, or after timeoutMs',
    input: z.strictObject({
      id: taskId,
      state: z.enum(TASK_STATES),
      message: z.string().max(500),
      timeoutMs: z.number().int().min(0).max(30_000).default(10_000),
    }),
    target: (input) => input.id,
    async run({ tasks }, input): Promise<{ task: TaskRecord }> {
      if (tasks.get(input.id) === undefined) throw notFound(input.id);
      return { task: await tasks.nextChange(input.id, input, input.timeoutMs) };
    },
  }),
  'task.cancel': defineVerb({
    summary: 'ask a queued or running task to stop',
    input: z.strictObject({ id: taskId }),
    target: (input) => input.id,
    run({ tasks }, input): Promise<{ task: TaskRecord }> {
      try {
        return Promise.resolve({ task: tasks.cancel(input.id) });
      } catch (error) {
        if (!(error instanceof TaskError)) throw error;
        if (error.code === 'TASK_NOT_FOUND') throw notFound(input.id);
        throw new ServiceError(
          'conflict',
          error.code,
          error.message,
          error.code === 'TASK_FINISHED'
            ? 'nothing to do: `mvctl task show ID` tells how it ended'
            : 'hostd is stopping; start it again and retry',
          { cause: error },
        );
      }
    },
  }),
};
