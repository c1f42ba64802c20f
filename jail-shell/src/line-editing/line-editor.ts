import type { Key } from './key-decoder.js';

/** What the completer offers for the word before the cursor: it starts at `start` in the text given. */
export interface Completion {
  readonly start: number;
  /** Every word the current one can become; each starts with the current word. */
  readonly candidates: readonly string[];
}

export type Completer = (textBeforeCursor: string) => Completion;

export type LineEditorEvent =
  | { readonly kind: 'line'; readonly text: string }
  | { readonly kind: 'eof' }
  /** Ctrl-C, when the editor answers a question (`cancelOnInterrupt`): the user gives up. */
  | { readonly kind: 'cancel' };

export interface LineEditorOptions {
  readonly prompt: string;
  /** The terminal's width now; asked at every redraw, so a resized window is followed. */
  readonly columns: () => number;
  readonly complete?: Completer;
  readonly maxLength?: number;
  readonly historySize?: number;
  /** The line is not shown as it is typed (a secret): only the prompt is drawn. */
  readonly hidden?: boolean;
  /** Ctrl-C ends the edit with a `cancel` event instead of starting a fresh line. */
  readonly cancelOnInterrupt?: boolean;
}

export interface LineEditorStep {
  /** What to write to the terminal. */
  readonly output: string;
  /** Set when a key ended the line; the keys after it are in `rest`, not handled yet. */
  readonly event?: LineEditorEvent;
  readonly rest: readonly Key[];
}

/** What one key did: change the line (draw it later, once), ring, or draw something now. */
type Effect =
  | 'redraw'
  | 'nothing'
  | 'bell'
  | 'redraw+bell'
  | { readonly output: string; readonly event?: LineEditorEvent };

const BELL = '\x07';
const ERASE_TO_END_OF_LINE = '\x1b[K';
const CLEAR_SCREEN = '\x1b[H\x1b[2J';
const DEFAULT_MAX_LENGTH = 4096;
const DEFAULT_HISTORY_SIZE = 500;
const MIN_COLUMNS = 10;

/**
 * An emacs-style line editor (the keys of readline's defaults) as a pure state machine: keys in, the
 * bytes to draw out. It keeps the whole edit on one terminal row — a line wider than the terminal
 * scrolls sideways around the cursor — so a redraw never depends on how the terminal wrapped it.
 */
export class LineEditor {
  /** The line as code points, so the cursor never splits a character. */
  private characters: string[] = [];
  private cursor = 0;
  private readonly history: string[] = [];
  private historyIndex = 0;
  /** The line being typed, kept while the user browses the history. */
  private draft: string[] = [];
  private scroll = 0;
  private killed = '';
  private previousKeyWasTab = false;
  private readonly maxLength: number;
  private readonly historySize: number;

  constructor(private readonly options: LineEditorOptions) {
    this.maxLength = options.maxLength ?? DEFAULT_MAX_LENGTH;
    this.historySize = options.historySize ?? DEFAULT_HISTORY_SIZE;
  }

  get line(): string {
    return this.characters.join('');
  }

  /** The cursor's position in the line, in characters. */
  get cursorPosition(): number {
    return this.cursor;
  }

  get historyEntries(): readonly string[] {
    return this.history;
  }

  /** Starts an empty line and returns the prompt to draw. */
  prompt(): string {
    this.characters = [];
    this.cursor = 0;
    this.scroll = 0;
    this.draft = [];
    this.historyIndex = this.history.length;
    this.previousKeyWasTab = false;
    return this.render();
  }

  /** Handles keys up to the first one that ends the line, and draws the result once. */
  handle(keys: readonly Key[]): LineEditorStep {
    let output = '';
    let changed = false;
    for (let index = 0; index < keys.length; index += 1) {
      const key = keys[index] as Key;
      const effect = this.apply(key);
      this.previousKeyWasTab = key.kind === 'tab';
      if (effect === 'redraw') changed = true;
      else if (effect === 'bell') output += BELL;
      else if (effect === 'redraw+bell') {
        changed = true;
        output += BELL;
      } else if (effect !== 'nothing') {
        // Drawn output starts from the current state, so it replaces any redraw still pending.
        output += effect.output;
        changed = false;
        if (effect.event !== undefined) return { output, event: effect.event, rest: keys.slice(index + 1) };
      }
    }
    return { output: output + (changed ? this.render() : ''), rest: [] };
  }

  private apply(key: Key): Effect {
    switch (key.kind) {
      case 'text':
        return this.insert([...key.text]);
      case 'enter':
        return this.submit();
      case 'tab':
        return this.completeWord();
      case 'backspace':
        return this.deleteRange(this.cursor - 1, this.cursor);
      case 'delete':
        return this.deleteRange(this.cursor, this.cursor + 1);
      case 'left':
        return this.moveTo(this.cursor - 1);
      case 'right':
        return this.moveTo(this.cursor + 1);
      case 'home':
        return this.moveTo(0);
      case 'end':
        return this.moveTo(this.characters.length);
      case 'word-left':
        return this.moveTo(this.wordStartBefore(this.cursor));
      case 'word-right':
        return this.moveTo(this.wordEndAfter(this.cursor));
      case 'kill-word-left':
        return this.kill(this.wordStartBefore(this.cursor), this.cursor);
      case 'kill-word-right':
        return this.kill(this.cursor, this.wordEndAfter(this.cursor));
      case 'up':
        return this.recall(this.historyIndex - 1);
      case 'down':
        return this.recall(this.historyIndex + 1);
      case 'control':
        return this.applyControl(key.letter);
      case 'unknown':
        return 'nothing';
    }
  }

  private applyControl(letter: string): Effect {
    switch (letter) {
      case 'a':
        return this.moveTo(0);
      case 'e':
        return this.moveTo(this.characters.length);
      case 'b':
        return this.moveTo(this.cursor - 1);
      case 'f':
        return this.moveTo(this.cursor + 1);
      case 'p':
        return this.recall(this.historyIndex - 1);
      case 'n':
        return this.recall(this.historyIndex + 1);
      case 'u':
        return this.kill(0, this.cursor);
      case 'k':
        return this.kill(this.cursor, this.characters.length);
      case 'w':
        return this.kill(this.unixWordStartBefore(this.cursor), this.cursor);
      case 'y':
        return this.insert([...this.killed]);
      case 'h':
        return this.deleteRange(this.cursor - 1, this.cursor);
      case 'd':
        if (this.characters.length === 0) return { output: `${this.render()}\r\n`, event: { kind: 'eof' } };
        return this.deleteRange(this.cursor, this.cursor + 1);
      case 'c': {
        if (this.options.cancelOnInterrupt === true) {
          return { output: `${this.render(this.characters.length)}^C\r\n`, event: { kind: 'cancel' } };
        }
        // Drop the line: show it was interrupted and start a fresh one below.
        const shown = this.render(this.characters.length);
        return { output: `${shown}^C\r\n${this.prompt()}` };
      }
      case 'l':
        return { output: CLEAR_SCREEN + this.render() };
      default:
        return 'nothing';
    }
  }

  private insert(inserted: readonly string[]): Effect {
    const room = this.maxLength - this.characters.length;
    const accepted = inserted.slice(0, Math.max(0, room));
    if (accepted.length === 0) return inserted.length === 0 ? 'nothing' : 'bell';
    this.characters.splice(this.cursor, 0, ...accepted);
    this.cursor += accepted.length;
    return accepted.length < inserted.length ? 'redraw+bell' : 'redraw';
  }

  private submit(): Effect {
    const text = this.line;
    const shown = this.render(this.characters.length);
    const remembered = this.options.hidden !== true && text.trim() !== '';
    if (remembered && this.history[this.history.length - 1] !== text) {
      this.history.push(text);
      if (this.history.length > this.historySize) this.history.shift();
    }
    this.historyIndex = this.history.length;
    return { output: `${shown}\r\n`, event: { kind: 'line', text } };
  }

  private deleteRange(from: number, to: number): Effect {
    const start = Math.max(0, from);
    const end = Math.min(this.characters.length, to);
    if (end <= start) return 'nothing';
    this.characters.splice(start, end - start);
    this.cursor = start;
    return 'redraw';
  }

  private kill(from: number, to: number): Effect {
    if (to <= from) return 'nothing';
    this.killed = this.characters.slice(from, to).join('');
    return this.deleteRange(from, to);
  }

  private moveTo(position: number): Effect {
    const target = Math.min(Math.max(0, position), this.characters.length);
    if (target === this.cursor) return 'nothing';
    this.cursor = target;
    return 'redraw';
  }

  private recall(index: number): Effect {
    if (index < 0 || index > this.history.length || index === this.historyIndex) return 'nothing';
    if (this.historyIndex === this.history.length) this.draft = [...this.characters];
    this.historyIndex = index;
    this.characters = index === this.history.length ? [...this.draft] : [...(this.history[index] ?? '')];
    this.cursor = this.characters.length;
    return 'redraw';
  }

  private completeWord(): Effect {
    const complete = this.options.complete;
    if (complete === undefined) return 'bell';
    const before = this.characters.slice(0, this.cursor).join('');
    const { start, candidates } = complete(before);
    const startIndex = [...before.slice(0, start)].length;
    const current = this.characters.slice(startIndex, this.cursor).join('');
    if (candidates.length === 0) return 'bell';
    if (candidates.length === 1) {
      return this.replaceWord(startIndex, `${candidates[0] ?? ''} `);
    }
    const prefix = commonPrefix(candidates);
    if (prefix.length > current.length) return this.replaceWord(startIndex, prefix);
    if (!this.previousKeyWasTab) return 'bell';
    const listing = formatCandidates(candidates, this.columns());
    return { output: `${this.render(this.characters.length)}\r\n${listing}${this.render()}` };
  }

  private replaceWord(startIndex: number, replacement: string): Effect {
    const inserted = [...replacement];
    if (this.characters.length - (this.cursor - startIndex) + inserted.length > this.maxLength) return 'bell';
    this.characters.splice(startIndex, this.cursor - startIndex, ...inserted);
    this.cursor = startIndex + inserted.length;
    return 'redraw';
  }

  /** Start of the word before `position`, words being runs of letters and digits (readline's Alt-B). */
  private wordStartBefore(position: number): number {
    let index = position;
    while (index > 0 && !isWordCharacter(this.characters[index - 1])) index -= 1;
    while (index > 0 && isWordCharacter(this.characters[index - 1])) index -= 1;
    return index;
  }

  private wordEndAfter(position: number): number {
    let index = position;
    while (index < this.characters.length && !isWordCharacter(this.characters[index])) index += 1;
    while (index < this.characters.length && isWordCharacter(this.characters[index])) index += 1;
    return index;
  }

  /** Start of the whitespace-separated word before `position` (Ctrl-W, as in a Unix terminal). */
  private unixWordStartBefore(position: number): number {
    let index = position;
    while (index > 0 && this.characters[index - 1] === ' ') index -= 1;
    while (index > 0 && this.characters[index - 1] !== ' ') index -= 1;
    return index;
  }

  private columns(): number {
    const columns = this.options.columns();
    return Number.isFinite(columns) && columns >= MIN_COLUMNS ? Math.floor(columns) : 80;
  }

  /**
   * Redraws the row: carriage return, the visible part of prompt and line, erase the rest, then back to
   * the cursor. The last column stays empty so the terminal never wraps.
   */
  private render(cursor: number = this.cursor): string {
    const width = this.columns() - 1;
    const shown = this.options.hidden === true ? [] : this.characters;
    const text = [...this.options.prompt, ...shown];
    const position = [...this.options.prompt].length + (this.options.hidden === true ? 0 : cursor);
    if (text.length < width) this.scroll = 0;
    // Moving left past the window jumps back half a width, so the view does not crawl a column a key.
    if (position < this.scroll) this.scroll = Math.max(0, position - Math.floor(width / 2));
    if (position - this.scroll > width - 1) this.scroll = position - width + 1;
    const visible = text.slice(this.scroll, this.scroll + width);
    const back = visible.length - (position - this.scroll);
    return `\r${visible.join('')}${ERASE_TO_END_OF_LINE}${back > 0 ? `\x1b[${back}D` : ''}`;
  }
}

function isWordCharacter(character: string | undefined): boolean {
  return character !== undefined && /[\p{L}\p{N}]/u.test(character);
}

export function commonPrefix(words: readonly string[]): string {
  const [first = '', ...others] = words;
  let length = first.length;
  for (const word of others) {
    let index = 0;
    while (index < length && index < word.length && word[index] === first[index]) index += 1;
    length = index;
  }
  return first.slice(0, length);
}

/** Candidates in columns, as a shell lists them on a second Tab; each row ends with CR LF. */
function formatCandidates(candidates: readonly string[], columns: number): string {
  const sorted = [...candidates].sort();
  const cellWidth = Math.max(...sorted.map((word) => word.length)) + 2;
  const perRow = Math.max(1, Math.floor((columns - 1) / cellWidth));
  const rows = Math.ceil(sorted.length / perRow);
  let output = '';
  for (let row = 0; row < rows; row += 1) {
    const cells: string[] = [];
    for (let column = 0; column < perRow; column += 1) {
      const word = sorted[column * rows + row];
      if (word !== undefined) cells.push(word.padEnd(cellWidth));
    }
    output += `${cells.join('').trimEnd()}\r\n`;
  }
  return output;
}
