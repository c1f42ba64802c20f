/** The command line is wrong: mvctl prints the message and how to get help, and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';

  constructor(
    message: string,
    /** The command whose help to point at, e.g. `task show`; empty for mvctl's own. */
    readonly command: string,
  ) {
    super(message);
  }
}
