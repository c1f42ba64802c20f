/** Stable codes for every way building, finding or verifying a guest image can fail. */
export type ImageErrorCode =
  /** An option passed by the caller is malformed (bad image name, relative directory, ...). */
  | 'INVALID_OPTION'
  /** `dpkg-query` could not be run or answered something we cannot parse. */
  | 'DPKG_QUERY_FAILED'
  /** A Debian package the recipe builds from is not installed. */
  | 'PACKAGE_NOT_INSTALLED'
  /** The kernel package is installed but its image is not where Debian puts it. */
  | 'KERNEL_NOT_FOUND'
  /** The kernel lacks a feature the image relies on being built in (serial console, devtmpfs, ...). */
  | 'KERNEL_UNSUITABLE'
  /** A kernel module the image loads is neither built into the kernel nor among its module files. */
  | 'KERNEL_MODULE_NOT_FOUND'
  /** The busybox binary of busybox-static is missing or unusable. */
  | 'BUSYBOX_NOT_FOUND'
  /** A host input file exists but cannot be read (permissions). */
  | 'INPUT_UNREADABLE'
  /** A host input changed between resolving it and copying it into the image. */
  | 'INPUT_CHANGED'
  /** An image directory's manifest is missing, unreadable or malformed. */
  | 'MANIFEST_INVALID'
  /** An image's files no longer match the hashes recorded in its manifest. */
  | 'IMAGE_TAMPERED'
  /** Writing the image into the images directory failed. */
  | 'INSTALL_FAILED'
  /** A program the build runs (debootstrap, mkfs.ext4, qemu-img, ...) is not installed. */
  | 'TOOL_MISSING'
  /** A program the build runs failed; the message quotes its last output. */
  | 'COMMAND_FAILED'
  /** The build needs root (debootstrap, chroot) and runs as another user. */
  | 'BUILD_NEEDS_ROOT'
  /** The caller cancelled the build (its AbortSignal fired). */
  | 'BUILD_CANCELLED'
  /** No recipe has this name. */
  | 'UNKNOWN_IMAGE'
  /** No installed image has this reference (`name@sha256`). */
  | 'IMAGE_NOT_FOUND';

/** The one error type of the image builder: a stable `code`, a message that says what to do next. */
export class ImageError extends Error {
  override readonly name = 'ImageError';

  constructor(
    readonly code: ImageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The errno-style `code` of a Node.js system error (ENOENT, EACCES, ...), if it has one. */
export function systemErrorCode(error: unknown): unknown {
  return typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
