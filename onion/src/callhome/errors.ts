/** Stable codes of every failure onion call-home reports. */
export type CallHomeErrorCode =
  /** An option, client name or stored value is not valid; the message names it. */
  | 'CALLHOME_INVALID_OPTIONS'
  /** Publishing would make the service reachable by anyone: add a client, or pass allowWithoutClientAuth. */
  | 'CALLHOME_NO_CLIENTS'
  /** A client of that name is already authorized. */
  | 'CALLHOME_CLIENT_EXISTS'
  /** No client of that name is authorized. */
  | 'CALLHOME_CLIENT_UNKNOWN'
  /** The key store failed to load or save the service key; the cause says why. */
  | 'CALLHOME_KEY_STORE_FAILED'
  /** tor published the stored key under another address than the one stored with it. */
  | 'CALLHOME_KEY_MISMATCH'
  /** start() was called twice, or a call needs a running service. */
  | 'CALLHOME_STATE'
  /** The service was stopped while the call waited. */
  | 'CALLHOME_STOPPED'
  /** The descriptor was not uploaded within the time limit. */
  | 'CALLHOME_PUBLISH_TIMEOUT';

export class CallHomeError extends Error {
  override readonly name = 'CallHomeError';

  constructor(
    readonly code: CallHomeErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
