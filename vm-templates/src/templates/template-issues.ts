import type { z } from 'zod';

/** A problem with a field, before it is located in a file. */
export interface FieldProblem {
  readonly path: readonly PropertyKey[];
  /** For an unknown key: the key, so the problem points at its line. */
  readonly key: string | null;
  readonly message: string;
}

/**
 * Turns zod's issues into sentences. Every schema in `schema-fields.ts` phrases its issues as the
 * field's rule, so each becomes "must be <rule>, got <what the file holds>".
 */
export function describeIssues(error: z.ZodError, input: unknown): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const seen = new Set<string>();
  for (const issue of error.issues) {
    const problem: FieldProblem =
      issue.code === 'unrecognized_keys'
        ? { path: issue.path, key: issue.keys[0] ?? null, message: issue.message }
        : { path: issue.path, key: null, message: mustBe(issue.message, valueAt(input, issue.path)) };
    // One problem per field: each field's messages already state its whole rule.
    const identity = JSON.stringify(problem.path.map(String));
    if (seen.has(identity)) continue;
    seen.add(identity);
    problems.push(problem);
  }
  return problems;
}

function mustBe(rule: string, value: unknown): string {
  return value === undefined ? `required: must be ${rule}` : `must be ${rule}, got ${describeValue(value)}`;
}

const SHOWN_STRING_LENGTH = 60;

/** A value as the user wrote it, quoted and escaped so control characters cannot reach a terminal. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    const shown = value.length > SHOWN_STRING_LENGTH ? `${value.slice(0, SHOWN_STRING_LENGTH)}…` : value;
    return JSON.stringify(shown).replace(
      /[\u007f-\u009f\u202a-\u202e\u2066-\u2069]/gu,
      (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
  }
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Uint8Array) return 'binary data';
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}

/** `disks.root`, `interfaces[1].mac`; null for the document itself. */
export function formatPath(path: readonly PropertyKey[]): string | null {
  if (path.length === 0) return null;
  return path
    .map((segment, index) =>
      typeof segment === 'number' ? `[${segment}]` : index === 0 ? String(segment) : `.${String(segment)}`,
    )
    .join('');
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const segment of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[segment];
  }
  return value;
}
