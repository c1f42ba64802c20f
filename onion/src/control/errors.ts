/** Stable codes of every failure the control-port client reports. */
export type TorControlErrorCode =
  /** Tor answered a command with a 4xx or 5xx reply; `status` and `replyText` carry it. */
  | 'TOR_CONTROL_REPLY'
  /** Tor sent bytes that are not a control-protocol reply; the connection is closed. */
  | 'TOR_CONTROL_PROTOCOL'
  /** The control connection closed (or could not be opened) before the command was answered. */
  | 'TOR_CONTROL_CLOSED'
  /** Tor did not answer within the client's time limit. */
  | 'TOR_CONTROL_TIMEOUT'
  /** A command argument would not be safe or valid to send (e.g. a NUL byte, a line break in a keyword). */
  | 'TOR_CONTROL_INVALID_ARGUMENT'
  /** None of tor's offered authentication methods can be used with the credentials given. */
  | 'TOR_CONTROL_AUTH_UNAVAILABLE'
  /** SAFECOOKIE: tor's proof of knowing the cookie did not match; the peer may not be the tor we expect. */
  | 'TOR_CONTROL_AUTH_SERVER_MISMATCH'
  /** Tor's answer was a well-formed reply but not of the shape this command expects. */
  | 'TOR_CONTROL_UNEXPECTED_REPLY';

export class TorControlError extends Error {
  override readonly name = 'TorControlError';

  constructor(
    readonly code: TorControlErrorCode,
    message: string,
    /** The reply status (e.g. 552) when `code` is TOR_CONTROL_REPLY. */
    readonly status?: number,
    /** Tor's reply text, verbatim, when `code` is TOR_CONTROL_REPLY. */
    readonly replyText?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
