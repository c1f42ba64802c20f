import { randomBytes } from 'node:crypto';
import { DiskError } from './errors.js';

// Names become single path components (and, for images, part of a qcow2 backing-file string that QEMU parses):
// a leading alphanumeric rules out `.`/`..` and option-like names, and the alphabet has no `/`, `:` or `@`.
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const LAYER_ID_PATTERN = /^[0-9a-f]{16}$/;
const SHA256_PATTERN = /^[0-9a-f]{64}$/;

/** A content-addressed base image: `<name>@<sha256 of the stored qcow2 file>`. */
export interface ImageRef {
  name: string;
  sha256: string;
}

export function assertVmName(value: unknown): string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    throw new DiskError(
      'DISK_NAME_INVALID',
      `invalid VM name ${JSON.stringify(value)}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.`,
    );
  }
  return value;
}

export function assertImageName(value: unknown): string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    throw new DiskError(
      'IMAGE_REF_INVALID',
      `invalid image name ${JSON.stringify(value)}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.`,
    );
  }
  return value;
}

/** Checkpoint ids are layer ids: generated here, never chosen by a caller, so they only need checking on input. */
export function assertCheckpointId(value: unknown): string {
  if (typeof value !== 'string' || !LAYER_ID_PATTERN.test(value)) {
    throw new DiskError(
      'CHECKPOINT_ID_INVALID',
      `invalid checkpoint id ${JSON.stringify(value)}: ids are 16 lowercase hex digits as shown by the checkpoint list.`,
    );
  }
  return value;
}

export function isLayerId(value: string): boolean {
  return LAYER_ID_PATTERN.test(value);
}

export function newLayerId(): string {
  return randomBytes(8).toString('hex');
}

export function parseImageRef(value: unknown): ImageRef {
  if (typeof value === 'string') {
    const at = value.lastIndexOf('@');
    const name = value.slice(0, at);
    const sha256 = value.slice(at + 1);
    if (at > 0 && NAME_PATTERN.test(name) && SHA256_PATTERN.test(sha256)) return { name, sha256 };
  }
  throw new DiskError(
    'IMAGE_REF_INVALID',
    `invalid image reference ${JSON.stringify(value)}: expected NAME@SHA256 (64 lowercase hex digits) as listed by the image store.`,
  );
}

export function formatImageRef(ref: ImageRef): string {
  return `${ref.name}@${ref.sha256}`;
}

/** Virtual disk sizes: whole 512-byte sectors, at least 1 MiB, at most 64 TiB. */
export function assertDiskSize(value: unknown, what: string): number {
  const MIN = 1024 * 1024;
  const MAX = 64 * 1024 ** 4;
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    value < MIN ||
    value > MAX ||
    value % 512 !== 0
  ) {
    throw new DiskError(
      'DISK_SIZE_INVALID',
      `invalid ${what} size ${JSON.stringify(value)}: give a whole number of bytes, a multiple of 512, between 1 MiB and 64 TiB.`,
    );
  }
  return value;
}
