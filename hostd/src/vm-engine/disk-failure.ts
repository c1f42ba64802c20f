import { DiskError } from '../disks/index.js';
import type { DiskErrorCode } from '../disks/index.js';
import { ServiceError } from '../service/service-error.js';
import type { ServiceErrorKind } from '../service/service-error.js';

const KIND_OF: Readonly<Record<DiskErrorCode, ServiceErrorKind>> = {
  DISK_NAME_INVALID: 'invalid-input',
  DISK_SIZE_INVALID: 'invalid-input',
  IMAGE_REF_INVALID: 'invalid-input',
  DISK_OPTIONS_INVALID: 'invalid-input',
  CHECKPOINT_ID_INVALID: 'invalid-input',
  CHECKPOINT_OPTIONS_INVALID: 'invalid-input',
  IMAGE_NOT_FOUND: 'not-found',
  VM_DISKS_NOT_FOUND: 'not-found',
  CHECKPOINT_NOT_FOUND: 'not-found',
  IMAGE_SOURCE_INVALID: 'conflict',
  DISK_BASE_HASH_MISMATCH: 'conflict',
  VM_DISKS_EXIST: 'conflict',
  NO_PRIVATE_VOLUME: 'conflict',
  CHECKPOINT_PINNED: 'conflict',
  CHECKPOINT_PINNED_ABOVE: 'conflict',
  CHAIN_DEPTH_LIMIT: 'conflict',
  CHAIN_BUSY: 'conflict',
  DISK_IN_USE: 'conflict',
  CHAIN_INCONSISTENT: 'internal',
  MANIFEST_INVALID: 'internal',
  JOURNAL_INVALID: 'internal',
  QEMU_IMG_FAILED: 'upstream',
  DISK_KEYS_UNAVAILABLE: 'unavailable',
};

/**
 * A disk store failure as the service layer reports it: the disk code is kept (scripts and tests match on it)
 * and its message already says what to do, so the hint only points there.
 */
export function diskFailure(what: string, error: unknown): unknown {
  if (!(error instanceof DiskError)) return error;
  return new ServiceError(
    KIND_OF[error.code],
    error.code,
    `${what} failed: ${error.message}`,
    'do what the message says, then retry',
    {
      cause: error,
    },
  );
}
