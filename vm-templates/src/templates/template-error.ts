/** Stable codes for every way reading a template can fail. */
export type TemplateErrorCode =
  /** The file or directory cannot be read (missing, permissions). */
  | 'TEMPLATE_UNREADABLE'
  /** The file name does not end in .yaml, .yml or .json. */
  | 'TEMPLATE_FORMAT_UNKNOWN'
  /** The file is larger than a template can reasonably be. */
  | 'TEMPLATE_TOO_LARGE'
  /** The file is not well-formed YAML or JSON (or repeats a key). */
  | 'TEMPLATE_SYNTAX'
  /** The file parses but a field is missing, unknown, out of range or breaks a rule of its role. */
  | 'TEMPLATE_INVALID'
  /** Two files in one directory define the same template name. */
  | 'TEMPLATE_DUPLICATE';

/** One problem in one template file, located as precisely as the format allows. */
export interface TemplateIssue {
  /** The file as the caller named it. */
  readonly file: string;
  /** 1-based line of the offending key (or of the syntax error), when known. */
  readonly line: number | null;
  /** The field as written in the file (`disks.root`), or null for the file as a whole. */
  readonly field: string | null;
  readonly message: string;
}

/** `templates/app.yaml:5: vcpus: must be an integer from 1 to 64, got "four"` */
export function formatTemplateIssue(issue: TemplateIssue): string {
  const where = issue.line === null ? issue.file : `${issue.file}:${issue.line}`;
  return issue.field === null ? `${where}: ${issue.message}` : `${where}: ${issue.field}: ${issue.message}`;
}

/** The one error type of the template loader: every problem found, one per line of the message. */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';

  constructor(
    readonly code: TemplateErrorCode,
    readonly issues: readonly TemplateIssue[],
    options?: { cause?: unknown },
  ) {
    super(issues.map(formatTemplateIssue).join('\n'), options);
  }
}
