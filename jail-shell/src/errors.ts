/** Stable error codes: callers branch on `code`, never on the message text. */
export type JailShellErrorCode =
  | 'HOST_KEY_UNREADABLE'
  | 'HOST_KEY_TOO_OPEN'
  | 'HOST_KEY_INVALID'
  | 'USER_INVALID'
  | 'USER_EXISTS'
  | 'USER_UNKNOWN'
  | 'USER_STORE_OPEN_FAILED'
  | 'USER_STORE_SCHEMA_NEWER'
  | 'CONFIG_INVALID'
  | 'SERVER_NOT_LISTENING'
  | 'SANDBOX_USER_UNKNOWN'
  | 'SANDBOX_INVALID'
  | 'INTERPRETER_ARGUMENTS_INVALID';

export class JailShellError extends Error {
  readonly code: JailShellErrorCode;

  constructor(code: JailShellErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'JailShellError';
    this.code = code;
  }
}
