import { TorControlError } from './errors.js';

/**
 * Quotes a value as a control-protocol QuotedString. Line breaks and tabs become C escapes, so a value can
 * never end the command line early and smuggle in a second command; NUL is refused because tor's strings
 * are NUL-terminated and would silently cut the value short.
 */
export function quoteString(value: string): string {
  if (value.includes('\0')) {
    throw new TorControlError(
      'TOR_CONTROL_INVALID_ARGUMENT',
      'a value sent to tor must not contain a NUL byte',
    );
  }
  const escaped = value.replace(/[\\"\n\r\t]/g, (char) => ESCAPES[char] as string);
  return `"${escaped}"`;
}

const ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  '"': '\\"',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/** Configuration option names: tor's are letters, digits and underscores (e.g. `__OwningControllerProcess`). */
export function assertConfigKeyword(keyword: string): void {
  if (!/^[A-Za-z0-9_]+$/.test(keyword)) {
    throw new TorControlError(
      'TOR_CONTROL_INVALID_ARGUMENT',
      `${JSON.stringify(keyword)} is not a tor configuration option name (letters, digits and "_" only)`,
    );
  }
}

/** A bare word in a command (GETINFO key, service id, signal): printable ASCII with no space or quote. */
export function assertBareWord(word: string, what: string): void {
  if (!/^[\x21\x23-\x7e]+$/.test(word)) {
    throw new TorControlError(
      'TOR_CONTROL_INVALID_ARGUMENT',
      `${what} ${JSON.stringify(word)} must be printable ASCII without spaces or quotes`,
    );
  }
}

/** The words of a reply line: leading positional words, then `KEY=value` pairs (values possibly quoted). */
export interface ReplyArguments {
  readonly positional: readonly string[];
  readonly keywords: ReadonlyMap<string, string>;
}

/**
 * Splits a reply or event line into positional words and keyword arguments. Quoted values are unescaped
 * the tolerant way control-spec §2.1.1 recommends: \n \t \r and octal escapes as in C, any other
 * backslash-escaped character as itself.
 */
export function parseReplyArguments(text: string): ReplyArguments {
  const positional: string[] = [];
  const keywords = new Map<string, string>();
  let index = 0;
  while (index < text.length) {
    if (text[index] === ' ') {
      index += 1;
      continue;
    }
    const keyword = /^([A-Za-z0-9_]+)=/.exec(text.slice(index, index + 256));
    if (keyword) {
      index += keyword[0].length;
      const value = readValue(text, index);
      keywords.set(keyword[1] as string, value.value);
      index = value.end;
    } else {
      const value = readValue(text, index);
      positional.push(value.value);
      index = value.end;
    }
  }
  return { positional, keywords };
}

function readValue(text: string, start: number): { value: string; end: number } {
  if (text[start] !== '"') {
    const space = text.indexOf(' ', start);
    const end = space === -1 ? text.length : space;
    return { value: text.slice(start, end), end };
  }
  return readQuoted(text, start);
}

/**
 * Reads a quoted string starting at `text[start] === '"'`; returns the unescaped value and the index after it.
 * Octal escapes are bytes (tor escapes each byte of a UTF-8 character separately), so the value is
 * assembled as bytes and decoded as UTF-8 at the end.
 */
export function readQuoted(text: string, start: number): { value: string; end: number } {
  const bytes: number[] = [];
  const appendText = (chars: string): void => {
    for (const byte of Buffer.from(chars, 'utf8')) bytes.push(byte);
  };
  let index = start + 1;
  while (index < text.length) {
    const char = String.fromCodePoint(text.codePointAt(index) as number);
    if (char === '"') return { value: Buffer.from(bytes).toString('utf8'), end: index + 1 };
    if (char !== '\\') {
      appendText(char);
      index += char.length;
      continue;
    }
    const next = text[index + 1];
    if (next === undefined) break;
    const octal = /^[0-7]{1,3}/.exec(text.slice(index + 1, index + 4));
    if (octal) {
      bytes.push(parseInt(octal[0], 8) & 0xff);
      index += 1 + octal[0].length;
      continue;
    }
    appendText(C_ESCAPES[next] ?? next);
    index += 2;
  }
  throw new TorControlError(
    'TOR_CONTROL_PROTOCOL',
    `tor sent an unterminated quoted string: ${JSON.stringify(text.slice(start, start + 80))}`,
  );
}

const C_ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r' };
