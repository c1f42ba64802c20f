import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { DiskError, isNodeError } from './errors.js';
import type { DiskErrorCode } from './errors.js';

/**
 * Reads one of the disk layer's small JSON records (manifest, journal): null when the file does not exist,
 * otherwise the schema-checked value. Both are written atomically, so a file that does not parse is damage
 * from outside and is reported with `code` and `remedy` rather than guessed at.
 */
export async function readJsonRecord<Schema extends z.ZodType>(
  path: string,
  schema: Schema,
  failure: { code: DiskErrorCode; what: string; remedy: string },
): Promise<z.infer<Schema> | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if (isNodeError(error, 'ENOENT')) return null;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new DiskError(failure.code, `${path} is not valid JSON. ${failure.remedy}`, { cause: error });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
      .join('; ');
    throw new DiskError(
      failure.code,
      `${path} is not a valid ${failure.what} (${problems}). ${failure.remedy}`,
    );
  }
  return parsed.data;
}
