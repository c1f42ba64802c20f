import type { CompletableOption } from './line-editing/command-completion.js';
import type { JailRole } from './user-identity.js';

export interface ShellSessionUser {
  readonly name: string;
  readonly role: JailRole;
}

/** A command the interpreter offers: listed by `help`, completed with Tab. */
export interface ShellCommandDescription {
  /** The words that name it, e.g. `['vm', 'start']`. */
  readonly words: readonly string[];
  /** How its arguments read in `help`, e.g. `NAME`. */
  readonly usage: string;
  readonly summary: string;
  readonly options: readonly CompletableOption[];
}

/** Where a command writes: text as it comes, with `\n` line ends. */
export interface ShellCommandOutput {
  stdout(text: string): void;
  stderr(text: string): void;
  /**
   * In the interactive shell only: hands the terminal to the command (a console) — every key goes to
   * it, nothing to the line editor — until it calls `release`.
   */
  takeTerminal?(): TerminalLease;
  /**
   * In the interactive shell only: asks the user for one line on the terminal (its own line editor,
   * without history or completion). Lines typed or pasted ahead — several at once — wait for the next
   * question; what no question took is dropped when the command ends, so it never runs as a command.
   * Resolves `undefined` when the user gives up (Ctrl-C, Ctrl-D on an empty line) or the input ends.
   */
  ask?(question: ShellQuestion): Promise<string | undefined>;
}

/** One line a command asks its user for. */
export interface ShellQuestion {
  readonly prompt: string;
  /** False for a secret: the line is not shown as it is typed. Default true. */
  readonly echo?: boolean;
}

/** The session's terminal, lent to one command. */
export interface TerminalLease {
  readonly input: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  readonly output: NodeJS.WritableStream;
  /** Gives the terminal back to the shell (raw mode and its input restored). */
  release(): void;
}

export type ShellCommandResult = { kind: 'ran'; exitCode: number } | { kind: 'unknown' };

/**
 * The commands of one session's interpreter, for one user. The interpreter owns `help`, `whoami` and
 * `exit`; everything else comes from a handler — hostd's runs mvctl's commands against the session's
 * own API socket, where hostd, not the interpreter, decides what the user's role may do.
 */
export interface ShellCommandHandler {
  /** The commands offered (in help and completion): those the user's role allows. */
  commands(): readonly ShellCommandDescription[];
  /** Runs a parsed command line; `unknown` when it names no command at all. */
  run(argv: readonly string[], output: ShellCommandOutput): Promise<ShellCommandResult>;
}
