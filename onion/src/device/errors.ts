/** Stable codes of every failure the onion device reports. */
export type OnionDeviceErrorCode =
  /** An option is not valid (interface name, subnet, namespace name, port); the message names it. */
  | 'ONION_DEVICE_INVALID_OPTIONS'
  /** `ip`, `nft` or `sysctl` is not installed (Debian packages iproute2, nftables, procps). */
  | 'ONION_DEVICE_TOOL_MISSING'
  /** A system command failed; the message carries the command and its stderr. */
  | 'ONION_DEVICE_COMMAND_FAILED'
  /** An interface of that name already exists: run `down()` first, or pick another name. */
  | 'ONION_DEVICE_EXISTS'
  /** The network namespace given does not exist (`ip netns add NAME` creates one). */
  | 'ONION_DEVICE_NAMESPACE_MISSING'
  /** tor did not open the TransPort/DNSPort listeners on the device address. */
  | 'ONION_DEVICE_TOR_REFUSED';

export class OnionDeviceError extends Error {
  override readonly name = 'OnionDeviceError';

  constructor(
    readonly code: OnionDeviceErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
