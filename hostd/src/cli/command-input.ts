/** One line a command asks its user for on a terminal. */
export interface TerminalQuestion {
  readonly prompt: string;
  /** False for a secret: not shown as it is typed. Default true. */
  readonly echo?: boolean;
}

/**
 * A front end where mvctl's commands have no local files (an SSH jail session, in its sandbox): commands
 * refuse file arguments, and take what they would read from a file on stdin — or, where the user has a
 * terminal, by asking there.
 */
export interface FilelessFrontEnd {
  /**
   * Asks the user one line on their terminal; `undefined` when they give up. Absent for an exec line,
   * whose stdin is then the input.
   */
  readonly ask?: (question: TerminalQuestion) => Promise<string | undefined>;
}

/** What a command's `input` may use besides its arguments. */
export interface CommandInputContext {
  readonly stderr: (text: string) => void;
  readonly fileless?: FilelessFrontEnd;
}
