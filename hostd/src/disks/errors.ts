/**
 * Every failure of the disk layer is a DiskError with a stable `code` (for the API, the CLI's exit codes and
 * tests) and a message that says what failed and what to do next.
 */
export type DiskErrorCode =
  | 'DISK_NAME_INVALID'
  | 'DISK_SIZE_INVALID'
  | 'IMAGE_REF_INVALID'
  | 'IMAGE_NOT_FOUND'
  | 'IMAGE_SOURCE_INVALID'
  | 'DISK_BASE_HASH_MISMATCH'
  | 'VM_DISKS_NOT_FOUND'
  | 'VM_DISKS_EXIST'
  | 'NO_PRIVATE_VOLUME'
  | 'DISK_OPTIONS_INVALID'
  | 'CHECKPOINT_ID_INVALID'
  | 'CHECKPOINT_OPTIONS_INVALID'
  | 'CHECKPOINT_NOT_FOUND'
  | 'CHECKPOINT_PINNED'
  | 'CHECKPOINT_PINNED_ABOVE'
  | 'CHAIN_DEPTH_LIMIT'
  | 'CHAIN_BUSY'
  | 'CHAIN_INCONSISTENT'
  | 'DISK_IN_USE'
  | 'MANIFEST_INVALID'
  | 'JOURNAL_INVALID'
  | 'QEMU_IMG_FAILED'
  | 'DISK_KEYS_UNAVAILABLE';

export class DiskError extends Error {
  override readonly name = 'DiskError';

  constructor(
    readonly code: DiskErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isNodeError(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
