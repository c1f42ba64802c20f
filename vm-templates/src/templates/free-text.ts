/**
 * Free text (descriptions, checkpoint messages, paths) reaches terminals through `mvctl` and XML
 * through libvirt. Controls other than tab and newline can rewrite a terminal's screen, XML 1.0
 * cannot carry most of them nor lone surrogates, and bidirectional overrides make text read
 * differently from what it is; all are refused at the edge rather than escaped later.
 */
/* eslint-disable no-control-regex -- matching these control characters is the point */
const FORBIDDEN_IN_TEXT =
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]/u;
const FORBIDDEN_IN_LINE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]/u;
/* eslint-enable no-control-regex */

export const TEXT_RULE =
  'text without control characters other than tab and newline, and without bidirectional overrides';
export const LINE_RULE = 'a single line without control characters or bidirectional overrides';

export function isSingleLine(value: string): boolean {
  return !FORBIDDEN_IN_LINE.test(value);
}

/** Where the first refused character is, as `U+000D at index 12`; undefined when there is none. */
export function firstForbiddenCharacter(value: string, singleLine: boolean): string | undefined {
  const found = (singleLine ? FORBIDDEN_IN_LINE : FORBIDDEN_IN_TEXT).exec(value);
  if (found === null) return undefined;
  const code = (found[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0');
  return `U+${code} at index ${found.index}`;
}
