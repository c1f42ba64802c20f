import type { z } from 'zod';

/**
 * Validates `input` with `schema`. On failure every problem is named in one line (`path: message; …`, the
 * whole value called `whole`) and handed to `refuse`, which makes the caller's own coded error to throw.
 */
export function parseInput<Schema extends z.ZodType>(
  schema: Schema,
  input: unknown,
  whole: string,
  refuse: (problems: string) => Error,
): z.output<Schema> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues
    .map((issue) => `${issue.path.join('.') || whole}: ${issue.message}`)
    .join('; ');
  throw refuse(problems);
}
