import type { Completion } from './line-editor.js';

export interface CompletableOption {
  /** Without the dashes: `json` for `--json`. */
  readonly name: string;
  readonly takesValue: boolean;
  /** Values offered after the option, when it has a fixed set. */
  readonly choices?: readonly string[];
}

export interface CompletableCommand {
  /** The words that name it: `['vm', 'start']`, `['help']`. */
  readonly words: readonly string[];
  readonly options?: readonly CompletableOption[];
}

const NOTHING = (start: number): Completion => ({ start, candidates: [] });

/**
 * Tab completion over a table of commands: command words first (`v` → `vm`, `vm st` → `start`,
 * `stop`), then, once a whole command is typed, its `--options` and the fixed values an option takes.
 * Free arguments (a VM's name) are not guessed. A word inside quotes is left alone.
 */
export function completeCommandLine(
  textBeforeCursor: string,
  commands: readonly CompletableCommand[],
): Completion {
  const split = splitTypedWords(textBeforeCursor);
  if (split === undefined) return NOTHING(textBeforeCursor.length);
  const { done, current } = split;
  const start = textBeforeCursor.length - current.length;
  const offer = (words: Iterable<string>): Completion => ({
    start,
    candidates: [...new Set(words)].filter((word) => word.startsWith(current)).sort(),
  });

  const nextWords = commands
    .filter(
      (command) =>
        command.words.length > done.length && done.every((word, index) => command.words[index] === word),
    )
    .map((command) => command.words[done.length] as string);
  if (nextWords.length > 0) return offer(nextWords);

  const command = commands.find(
    (candidate) =>
      candidate.words.length <= done.length && candidate.words.every((word, index) => done[index] === word),
  );
  if (command === undefined) return NOTHING(start);
  const options = command.options ?? [];
  const previous = done.length > command.words.length ? done[done.length - 1] : undefined;
  const previousOption = options.find((option) => `--${option.name}` === previous && option.takesValue);
  if (previousOption !== undefined) return offer(previousOption.choices ?? []);
  if (!current.startsWith('-')) return NOTHING(start);
  const used = new Set(done.slice(command.words.length));
  return offer(options.map((option) => `--${option.name}`).filter((name) => !used.has(name)));
}

/**
 * The words typed before the cursor (unquoted the way the command-line parser does) and the raw word
 * being typed; undefined inside an open quote or when the word being typed has quotes.
 */
function splitTypedWords(text: string): { done: string[]; current: string } | undefined {
  const done: string[] = [];
  let word = '';
  let raw = '';
  let quote: string | undefined;
  for (const character of text) {
    if (quote !== undefined) {
      if (character === quote) quote = undefined;
      else word += character;
      raw += character;
    } else if (character === '"' || character === "'") {
      quote = character;
      raw += character;
    } else if (character === ' ' || character === '\t') {
      if (raw !== '') done.push(word);
      word = '';
      raw = '';
    } else {
      word += character;
      raw += character;
    }
  }
  if (quote !== undefined || raw !== word) return undefined;
  return { done, current: raw };
}
