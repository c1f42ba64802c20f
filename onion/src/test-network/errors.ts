export type TestTorNetworkErrorCode =
  /** `tor` or `tor-gencert` is not installed (Debian package `tor`). */
  | 'TOR_NETWORK_TOR_MISSING'
  /** Generating authority keys or fingerprints failed. */
  | 'TOR_NETWORK_KEYGEN_FAILED'
  /** A tor node exited while the network was starting or in use; the message carries its log tail. */
  | 'TOR_NETWORK_NODE_EXITED'
  /** The network did not reach consensus and full client bootstrap within the time limit. */
  | 'TOR_NETWORK_BOOTSTRAP_TIMEOUT'
  /** An onion service was not published, or not reachable, within the time limit. */
  | 'TOR_NETWORK_ONION_TIMEOUT'
  /** An option passed to the harness is not valid (e.g. a duplicate client nickname). */
  | 'TOR_NETWORK_INVALID_OPTIONS'
  /** The network was used after stop(). */
  | 'TOR_NETWORK_STOPPED';

export class TestTorNetworkError extends Error {
  override readonly name = 'TestTorNetworkError';

  constructor(
    readonly code: TestTorNetworkErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
