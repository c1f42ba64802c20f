import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LineCounter, isMap, isScalar, parseDocument } from 'yaml';
import type { Document } from 'yaml';
import { TemplateError } from './template-error.js';
import type { TemplateIssue } from './template-error.js';
import { describeIssues, formatPath } from './template-issues.js';
import { checkRoleRules, toVmTemplate } from './template-rules.js';
import { templateFileSchema } from './template-schema.js';
import type { VmTemplate } from './template-schema.js';

export type TemplateFormat = 'yaml' | 'json';

export interface TemplateSource {
  /** How messages name the file (a path as the user typed it, or any label). */
  readonly file: string;
  readonly text: string;
  readonly format: TemplateFormat;
  /** When set, the template's `name` must equal it (the loader passes the file's base name). */
  readonly expectedName?: string;
}

/** Far above any real template; bounds what a hostile file can make the parser do. */
export const MAX_TEMPLATE_BYTES = 64 * 1024;

const FORMAT_BY_EXTENSION: Readonly<Record<string, TemplateFormat>> = {
  '.yaml': 'yaml',
  '.yml': 'yaml',
  '.json': 'json',
};

/** The templates shipped with Multiverse (`vm-templates/templates/`), one per role. */
export function shippedTemplatesDirectory(): string {
  return fileURLToPath(new URL('../../templates/', import.meta.url));
}

export function templateFormatOf(path: string): TemplateFormat | undefined {
  return FORMAT_BY_EXTENSION[extname(path).toLowerCase()];
}

/** Parses and validates one template; throws a TemplateError listing every problem found. */
export function parseTemplate(source: TemplateSource): VmTemplate {
  const { file, text } = source;
  if (Buffer.byteLength(text) > MAX_TEMPLATE_BYTES) {
    throw new TemplateError('TEMPLATE_TOO_LARGE', [
      {
        file,
        line: null,
        field: null,
        message: `larger than ${MAX_TEMPLATE_BYTES} bytes; a template is a few lines`,
      },
    ]);
  }
  const lines = new LineCounter();
  // Also parsed for JSON: it locates fields by line and catches repeated keys, which JSON.parse keeps silently.
  const document = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const syntaxIssues: TemplateIssue[] = document.errors
    .filter((error) => source.format === 'yaml' || error.code === 'DUPLICATE_KEY')
    .map((error) => ({
      file,
      line: lines.linePos(error.pos[0]).line,
      field: null,
      message: `not valid ${source.format === 'yaml' ? 'YAML' : 'JSON'}: ${firstLine(error.message)}`,
    }));
  if (syntaxIssues.length > 0) throw new TemplateError('TEMPLATE_SYNTAX', syntaxIssues);
  const input = source.format === 'json' ? parseJson(file, text) : toPlainData(file, document);

  const locate = (path: readonly PropertyKey[], key: string | null) =>
    lineOfField(document, lines, path, key);
  const parsed = templateFileSchema.safeParse(input);
  if (!parsed.success) {
    const issues = describeIssues(parsed.error, input).map((problem): TemplateIssue => ({
      file,
      line: locate(problem.path, problem.key),
      field: formatPath(problem.path),
      message: problem.message,
    }));
    throw new TemplateError('TEMPLATE_INVALID', issues.sort(byLine));
  }
  const issues: TemplateIssue[] = checkRoleRules(parsed.data).map((violation) => ({
    file,
    line: locate(violation.path, null),
    field: formatPath(violation.path),
    message: violation.message,
  }));
  if (source.expectedName !== undefined && parsed.data.name !== source.expectedName) {
    issues.unshift({
      file,
      line: locate(['name'], null),
      field: 'name',
      message: `must match the file name "${source.expectedName}", got "${parsed.data.name}": templates are found by file name`,
    });
  }
  if (issues.length > 0) throw new TemplateError('TEMPLATE_INVALID', issues.sort(byLine));
  return toVmTemplate(parsed.data);
}

/** Reads `<dir>/<name>.yaml` (or .yml, .json); the template's name must be the file's base name. */
export async function loadTemplateFile(path: string): Promise<VmTemplate> {
  const format = templateFormatOf(path);
  if (format === undefined) {
    throw new TemplateError('TEMPLATE_FORMAT_UNKNOWN', [
      { file: path, line: null, field: null, message: 'a template file name ends in .yaml, .yml or .json' },
    ]);
  }
  const text = await readTemplateText(path);
  return parseTemplate({ file: path, text, format, expectedName: basename(path, extname(path)) });
}

/**
 * Loads every template file of a directory, sorted by name. Every file is read before failing, so
 * one error lists the problems of all of them.
 */
export async function loadTemplateDirectory(directory: string): Promise<VmTemplate[]> {
  let entries: string[];
  try {
    entries = await readdir(directory);
  } catch (error) {
    throw unreadable(directory, error);
  }
  const files = entries.filter((entry) => templateFormatOf(entry) !== undefined).sort();
  const templates: VmTemplate[] = [];
  const issues: TemplateIssue[] = [];
  let firstCode: TemplateError['code'] | undefined;
  const fileByName = new Map<string, string>();
  for (const entry of files) {
    const path = join(directory, entry);
    try {
      const template = await loadTemplateFile(path);
      const other = fileByName.get(template.name);
      if (other !== undefined) {
        firstCode ??= 'TEMPLATE_DUPLICATE';
        issues.push({
          file: path,
          line: null,
          field: 'name',
          message: `template "${template.name}" is also defined by ${other}: keep one of the two files`,
        });
        continue;
      }
      fileByName.set(template.name, path);
      templates.push(template);
    } catch (error) {
      if (!(error instanceof TemplateError)) throw error;
      firstCode ??= error.code;
      issues.push(...error.issues);
    }
  }
  if (firstCode !== undefined) throw new TemplateError(firstCode, issues);
  return templates.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function readTemplateText(path: string): Promise<string> {
  try {
    const info = await stat(path);
    if (!info.isFile()) {
      throw new TemplateError('TEMPLATE_UNREADABLE', [
        {
          file: path,
          line: null,
          field: null,
          message: 'is not a regular file: a template is one YAML or JSON file',
        },
      ]);
    }
    if (info.size > MAX_TEMPLATE_BYTES) {
      throw new TemplateError('TEMPLATE_TOO_LARGE', [
        {
          file: path,
          line: null,
          field: null,
          message: `${info.size} bytes, larger than ${MAX_TEMPLATE_BYTES}; a template is a few lines`,
        },
      ]);
    }
    return await readFile(path, 'utf8');
  } catch (error) {
    if (error instanceof TemplateError) throw error;
    throw unreadable(path, error);
  }
}

function unreadable(path: string, error: unknown): TemplateError {
  const reason = error instanceof Error ? error.message : String(error);
  return new TemplateError(
    'TEMPLATE_UNREADABLE',
    [
      {
        file: path,
        line: null,
        field: null,
        message: `cannot be read (${reason}): check the path and its permissions`,
      },
    ],
    { cause: error },
  );
}

function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    // V8 quotes the offending text, newlines included; keep the message on one line.
    const message = (error instanceof Error ? error.message : String(error)).replace(/\r?\n/g, '\\n');
    const position = /at position (\d+)/.exec(message);
    const line = position === null ? null : text.slice(0, Number(position[1])).split('\n').length;
    throw new TemplateError('TEMPLATE_SYNTAX', [
      { file, line, field: null, message: `not valid JSON: ${message}` },
    ]);
  }
}

/** YAML's plain data. Anchors are fine, but aliases may not blow a few lines up into gigabytes. */
function toPlainData(file: string, document: Document): unknown {
  try {
    return document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new TemplateError('TEMPLATE_SYNTAX', [
      { file, line: null, field: null, message: `not usable YAML: ${message}` },
    ]);
  }
}

/** Issues in file order; those not tied to a line (the document as a whole) first. */
function byLine(a: TemplateIssue, b: TemplateIssue): number {
  return (a.line ?? 0) - (b.line ?? 0);
}

function firstLine(message: string): string {
  return message.split('\n', 1)[0] ?? message;
}

/** The line of the key at `path` (or of `key` inside it), or of the closest enclosing key found. */
function lineOfField(
  document: Document,
  lines: LineCounter,
  path: readonly PropertyKey[],
  key: string | null,
): number | null {
  let node: unknown = document.contents;
  let offset: number | undefined;
  for (const segment of key === null ? path : [...path, key]) {
    if (!isMap(node)) break;
    const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
    if (pair === undefined || !isScalar(pair.key)) break;
    offset = pair.key.range?.[0];
    node = pair.value;
  }
  return offset === undefined ? null : lines.linePos(offset).line;
}
