import { StringDecoder } from 'node:string_decoder';

/** Keys that are not text: editing keys, and any sequence the decoder does not know (`unknown`). */
export type NamedKeyKind =
  | 'enter'
  | 'tab'
  | 'backspace'
  | 'delete'
  | 'left'
  | 'right'
  | 'up'
  | 'down'
  | 'home'
  | 'end'
  | 'word-left'
  | 'word-right'
  | 'kill-word-right'
  | 'kill-word-left'
  | 'unknown';

/** A key the line editor acts on, decoded from the bytes a terminal sends. */
export type Key =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: NamedKeyKind }
  /** A control character, by its letter: Ctrl-A is `a`. */
  | { readonly kind: 'control'; readonly letter: string };

const ESCAPE = '\x1b';

/** CSI and SS3 final bytes for the cursor keys, in both the normal and the application cursor mode. */
const CURSOR_KEYS: Readonly<Record<string, NamedKeyKind>> = {
  A: 'up',
  B: 'down',
  C: 'right',
  D: 'left',
  H: 'home',
  F: 'end',
};

/** `ESC [ n ~` sequences (vt220 editing keys). */
const TILDE_KEYS: Readonly<Record<string, NamedKeyKind>> = {
  '1': 'home',
  '7': 'home',
  '4': 'end',
  '8': 'end',
  '3': 'delete',
};

/**
 * Turns the bytes a terminal sends into keys. Stateful: an escape sequence or a UTF-8 character split
 * across two reads is completed by the next one. Printable text comes out in runs, so a paste is one
 * key; every other control character, and any escape sequence it does not know, is a key of its own
 * so the editor can ignore it — nothing undecoded ever reaches the line.
 */
export class KeyDecoder {
  private readonly utf8 = new StringDecoder('utf8');
  private pending = '';
  private lastWasCarriageReturn = false;

  decode(chunk: Buffer | string): Key[] {
    this.pending += typeof chunk === 'string' ? chunk : this.utf8.write(chunk);
    const keys: Key[] = [];
    let text = '';
    const flushText = (): void => {
      if (text.length > 0) keys.push({ kind: 'text', text });
      text = '';
    };
    let index = 0;
    while (index < this.pending.length) {
      const character = this.pending[index] as string;
      if (character === ESCAPE) {
        const sequence = readEscapeSequence(this.pending, index);
        if (sequence === undefined) break; // incomplete: wait for the rest
        flushText();
        keys.push(sequence.key);
        index += sequence.length;
        this.lastWasCarriageReturn = false;
        continue;
      }
      const code = character.codePointAt(0) ?? 0;
      // A terminal sends CR for Enter; a paste may carry CR LF, which is one line break, not two.
      if (character === '\n' && this.lastWasCarriageReturn) {
        this.lastWasCarriageReturn = false;
        index += 1;
        continue;
      }
      this.lastWasCarriageReturn = character === '\r';
      if (code >= 0x20 && code !== 0x7f && !(code >= 0x80 && code <= 0x9f)) {
        text += character;
      } else {
        flushText();
        keys.push(controlKey(code));
      }
      index += 1;
    }
    flushText();
    this.pending = this.pending.slice(index);
    return keys;
  }
}

function controlKey(code: number): Key {
  if (code === 0x0d || code === 0x0a) return { kind: 'enter' };
  if (code === 0x09) return { kind: 'tab' };
  if (code === 0x7f || code === 0x08) return { kind: 'backspace' };
  if (code >= 0x01 && code <= 0x1a) return { kind: 'control', letter: String.fromCharCode(0x60 + code) };
  return { kind: 'unknown' };
}

/** Reads the escape sequence starting at `start`, or returns undefined when the input ends inside it. */
function readEscapeSequence(input: string, start: number): { key: Key; length: number } | undefined {
  const introducer = input[start + 1];
  if (introducer === undefined) return undefined;
  if (introducer === '[') {
    // CSI: parameter and intermediate bytes (0x20-0x3f), then one final byte (0x40-0x7e).
    let end = start + 2;
    while (end < input.length) {
      const code = input.charCodeAt(end);
      if (code >= 0x40 && code <= 0x7e) break;
      if (code < 0x20 || code > 0x3f) return { key: { kind: 'unknown' }, length: end - start };
      end += 1;
    }
    if (end >= input.length) return undefined;
    const parameters = input.slice(start + 2, end);
    const final = input[end] as string;
    const length = end - start + 1;
    if (final === '~') return { key: { kind: TILDE_KEYS[parameters] ?? 'unknown' }, length };
    const cursor = CURSOR_KEYS[final];
    if (cursor === undefined) return { key: { kind: 'unknown' }, length };
    // Ctrl or Alt with an arrow (`ESC [ 1 ; 5 D`) moves by words.
    const modified = /^1;[35]$/.test(parameters);
    if (modified && cursor === 'left') return { key: { kind: 'word-left' }, length };
    if (modified && cursor === 'right') return { key: { kind: 'word-right' }, length };
    return { key: { kind: parameters === '' || modified ? cursor : 'unknown' }, length };
  }
  if (introducer === 'O') {
    const final = input[start + 2];
    if (final === undefined) return undefined;
    return { key: { kind: CURSOR_KEYS[final] ?? 'unknown' }, length: 3 };
  }
  // Alt (Meta) sends ESC before the key.
  const altKeys: Readonly<Record<string, NamedKeyKind>> = {
    b: 'word-left',
    f: 'word-right',
    d: 'kill-word-right',
    '\x7f': 'kill-word-left',
  };
  const introducerLength = (input.codePointAt(start + 1) ?? 0) > 0xffff ? 2 : 1;
  return { key: { kind: altKeys[introducer] ?? 'unknown' }, length: 1 + introducerLength };
}
