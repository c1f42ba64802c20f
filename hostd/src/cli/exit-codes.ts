/** mvctl's exit codes, for scripts. Documented in the README and in `mvctl --help`. */
export const EXIT_CODES = {
  /** The operation succeeded. */
  ok: 0,
  /** hostd answered, and the operation failed or found a problem (a task not found, a broken audit chain). */
  failed: 1,
  /** The command line is wrong (unknown verb or option, missing or malformed argument), or hostd refused the input. */
  usage: 2,
  /** hostd cannot be reached: not running, or its socket is not accessible to this user. */
  unreachable: 3,
} as const;

export type ExitCode = (typeof EXIT_CODES)[keyof typeof EXIT_CODES];
