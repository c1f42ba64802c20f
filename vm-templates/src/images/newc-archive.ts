/**
 * Writer of the "newc" cpio format (magic 070701) that the Linux kernel unpacks as an initramfs
 * (Documentation/driver-api/early-userspace/buffer-format.rst).
 *
 * Written in-process rather than with `cpio -o` so the archive never depends on the state of a
 * staging directory: owners are root, every mtime is the same fixed value, inode numbers follow
 * entry order and entries are sorted by path. Device nodes need no privileges to describe.
 */

export type NewcEntry =
  | { readonly kind: 'directory'; readonly path: string; readonly mode: number }
  | { readonly kind: 'file'; readonly path: string; readonly mode: number; readonly contents: Buffer }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string }
  | {
      readonly kind: 'character-device';
      readonly path: string;
      readonly mode: number;
      readonly major: number;
      readonly minor: number;
    };

const MAGIC = '070701';
const TRAILER_NAME = 'TRAILER!!!';
const HEADER_LENGTH = 110;
const FILE_TYPE = { directory: 0o040000, file: 0o100000, symlink: 0o120000, 'character-device': 0o020000 };
const PATH_PATTERN = /^[A-Za-z0-9_.+@[\]-]+(\/[A-Za-z0-9_.+@[\]-]+)*$/;

/** Raised for entries the kernel would reject or unpack somewhere unexpected. */
export class NewcEntryError extends Error {
  override readonly name = 'NewcEntryError';
}

export interface NewcArchiveOptions {
  /** Modification time, in seconds since the epoch, stamped on every entry. */
  readonly mtime: number;
}

/**
 * Serialises entries into one uncompressed newc archive, sorted by path so that parents precede
 * children and equal inputs give byte-identical output.
 */
export function writeNewcArchive(entries: readonly NewcEntry[], options: NewcArchiveOptions): Buffer {
  if (!Number.isInteger(options.mtime) || options.mtime < 0 || options.mtime > 0xffffffff) {
    throw new NewcEntryError(`mtime must be a 32-bit unsigned integer, got ${options.mtime}`);
  }
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const seen = new Set<string>();
  const chunks: Buffer[] = [];
  sorted.forEach((entry, index) => {
    validateEntry(entry, seen);
    chunks.push(...encodeEntry(entry, index + 1, options.mtime));
  });
  chunks.push(
    ...encodeRecord({ name: TRAILER_NAME, ino: 0, mode: 0, nlink: 1, mtime: 0, data: Buffer.alloc(0) }),
  );
  return Buffer.concat(chunks);
}

function validateEntry(entry: NewcEntry, seen: Set<string>): void {
  const { path } = entry;
  if (!PATH_PATTERN.test(path) || path.split('/').some((part) => part === '.' || part === '..')) {
    throw new NewcEntryError(
      `archive path ${JSON.stringify(path)} must be relative, without "." or ".." parts`,
    );
  }
  if (path === TRAILER_NAME) throw new NewcEntryError(`archive path ${TRAILER_NAME} is reserved`);
  if (seen.has(path)) throw new NewcEntryError(`archive path ${JSON.stringify(path)} appears twice`);
  const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : undefined;
  if (parent !== undefined && !seen.has(parent)) {
    throw new NewcEntryError(`archive path ${JSON.stringify(path)} has no directory entry for ${parent}`);
  }
  seen.add(path);
  if (entry.kind !== 'symlink' && (!Number.isInteger(entry.mode) || entry.mode < 0 || entry.mode > 0o7777)) {
    throw new NewcEntryError(`permission bits of ${path} must be within 0o7777, got ${entry.mode}`);
  }
  if (entry.kind === 'symlink' && (entry.target.length === 0 || entry.target.includes('\0'))) {
    throw new NewcEntryError(`symlink ${path} needs a non-empty target without NUL bytes`);
  }
  if (entry.kind === 'character-device') {
    for (const [label, value] of [
      ['major', entry.major],
      ['minor', entry.minor],
    ] as const) {
      if (!Number.isInteger(value) || value < 0 || value > 0xfff) {
        throw new NewcEntryError(`device ${label} of ${path} must be an integer in 0..4095, got ${value}`);
      }
    }
  }
}

function encodeEntry(entry: NewcEntry, ino: number, mtime: number): Buffer[] {
  const type = FILE_TYPE[entry.kind];
  switch (entry.kind) {
    case 'directory':
      return encodeRecord({
        name: entry.path,
        ino,
        mode: type | entry.mode,
        nlink: 2,
        mtime,
        data: Buffer.alloc(0),
      });
    case 'file':
      return encodeRecord({
        name: entry.path,
        ino,
        mode: type | entry.mode,
        nlink: 1,
        mtime,
        data: entry.contents,
      });
    case 'symlink':
      return encodeRecord({
        name: entry.path,
        ino,
        mode: type | 0o777,
        nlink: 1,
        mtime,
        data: Buffer.from(entry.target, 'utf8'),
      });
    case 'character-device':
      return encodeRecord({
        name: entry.path,
        ino,
        mode: type | entry.mode,
        nlink: 1,
        mtime,
        data: Buffer.alloc(0),
        rdev: { major: entry.major, minor: entry.minor },
      });
  }
}

interface NewcRecord {
  readonly name: string;
  readonly ino: number;
  readonly mode: number;
  readonly nlink: number;
  readonly mtime: number;
  readonly data: Buffer;
  readonly rdev?: { readonly major: number; readonly minor: number };
}

function encodeRecord(record: NewcRecord): Buffer[] {
  const name = Buffer.from(`${record.name}\0`, 'utf8');
  const fields = [
    record.ino,
    record.mode,
    0, // uid: root
    0, // gid: root
    record.nlink,
    record.mtime,
    record.data.length,
    0, // devmajor of the archived file system: meaningless inside an initramfs
    0, // devminor
    record.rdev?.major ?? 0,
    record.rdev?.minor ?? 0,
    name.length,
    0, // check: only used by the 070702 "crc" variant
  ];
  const header = Buffer.from(
    MAGIC + fields.map((field) => field.toString(16).padStart(8, '0')).join(''),
    'ascii',
  );
  return [header, name, padding(HEADER_LENGTH + name.length), record.data, padding(record.data.length)];
}

function padding(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}
