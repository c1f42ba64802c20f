export type CommandLineParse = { ok: true; argv: string[] } | { ok: false; reason: string };

const MAX_COMMAND_LINE_LENGTH = 4096;

/**
 * Splits a command line into words: whitespace separates, single and double quotes group.
 * Nothing is expanded or interpreted — `;`, `|`, `$` and backquotes are ordinary characters —
 * because no system shell ever sees the result. Control characters are refused so terminal
 * escape sequences cannot reach verbs or logs.
 */
export function parseCommandLine(line: string): CommandLineParse {
  if (line.length > MAX_COMMAND_LINE_LENGTH) {
    return { ok: false, reason: `command line longer than ${MAX_COMMAND_LINE_LENGTH} characters` };
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/.test(line)) {
    return { ok: false, reason: 'control characters are not allowed in commands' };
  }
  const argv: string[] = [];
  let word = '';
  let inWord = false;
  let quote: "'" | '"' | undefined;
  for (const character of line) {
    if (quote) {
      if (character === quote) quote = undefined;
      else word += character;
    } else if (character === "'" || character === '"') {
      quote = character;
      inWord = true;
    } else if (character === ' ' || character === '\t') {
      if (inWord) argv.push(word);
      word = '';
      inWord = false;
    } else {
      word += character;
      inWord = true;
    }
  }
  if (quote) return { ok: false, reason: `unterminated ${quote} quote` };
  if (inWord) argv.push(word);
  return { ok: true, argv };
}
