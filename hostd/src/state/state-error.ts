export type StateErrorCode =
  /** The database file cannot be opened or given its mode. */
  | 'STATE_DB_OPEN_FAILED'
  /** The database was written by a newer hostd: its schema has steps this build does not know. */
  | 'STATE_SCHEMA_NEWER'
  /** A schema step this build knows differs from the one recorded in the database under the same number. */
  | 'STATE_SCHEMA_MISMATCH'
  /** A migration step failed; nothing of it was applied. */
  | 'STATE_MIGRATION_FAILED';

/** A problem with hostd's SQLite state: the message says what failed and what to do. */
export class StateError extends Error {
  override readonly name = 'StateError';

  constructor(
    readonly code: StateErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
