import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { AEAD_OVERHEAD, KEY_BYTES } from './aead.js';
import { ByteReader, ByteWriter, TruncatedError } from './byte-codec.js';
import { corruptPart, VaultError, type VaultFilePart } from './errors.js';
import { KEY_CHECK_BYTES } from './key-schedule.js';

/*
 * Vault file, format version 1 (all integers big-endian):
 *
 *   magic        8   "MV-VAULT"
 *   version      2   1
 *   headerLength 4
 *   header       headerLength bytes:
 *     vaultId 10 · generation u32 · shareSet u16 · shareCount u8 · threshold u8
 *     keyCheck 16 · wrappedMasterKey 60 (AES-GCM record: nonce 12, key 32, tag 16)
 *     indexLength u32 · indexDigest 32
 *     entryCount u32 · entryCount × (entryLength u32 · entryDigest 32)
 *   checksum     32  SHA-256(magic … header)               — checkable while sealed
 *   headerMac    32  HMAC-SHA256(headerMacKey, magic … header) — checkable once unsealed
 *   index        indexLength bytes (AES-GCM record)
 *   entries      each entryLength bytes (AES-GCM record)
 *
 * The checksum catches accidental damage to the header before anyone gathers custodians; the
 * digests it covers do the same for every record, so a flipped byte anywhere but the MAC is
 * found and named while sealed. The MAC (keyed) makes the header, and through its digests every
 * record, tamper-evident. The magic, version, header length and checksum placement are the
 * envelope every future version keeps, so a newer file is told apart from a damaged one.
 */
const VAULT_MAGIC = Buffer.from('MV-VAULT', 'ascii');
const VAULT_FORMAT_VERSION = 1;
export const VAULT_ID_BYTES = 10;
const WRAPPED_MASTER_KEY_BYTES = KEY_BYTES + AEAD_OVERHEAD;
/** A vault holds small secrets; refusing larger files bounds memory on a hostile input. */
export const MAX_VAULT_FILE_BYTES = 64 * 1024 * 1024;
const MAX_ENTRIES = 100_000;

const DIGEST_BYTES = 32;
const PREAMBLE_BYTES = VAULT_MAGIC.length + 2 + 4;

export interface VaultHeader {
  readonly vaultId: Buffer;
  /** Incremented by every write; binds the index to this header and lets hostd notice a rollback. */
  readonly generation: number;
  /** Incremented by every rekey; shares carry it so a share from an older set is named as such. */
  readonly shareSet: number;
  readonly shareCount: number;
  readonly threshold: number;
  readonly keyCheck: Buffer;
  readonly wrappedMasterKey: Buffer;
}

export interface LayoutRange {
  readonly part: VaultFilePart;
  readonly start: number;
  readonly end: number;
}

export interface ParsedVaultFile {
  readonly header: VaultHeader;
  /** magic … header: the bytes the header MAC covers. */
  readonly authenticatedHeader: Buffer;
  readonly headerMac: Buffer;
  readonly index: Buffer;
  readonly entries: readonly Buffer[];
  /** Where each part lies in the file, for error reports and tests. */
  readonly layout: readonly LayoutRange[];
}

export function encodeVaultFile(
  header: VaultHeader,
  index: Buffer,
  entries: readonly Buffer[],
  headerMacKey: Buffer,
): Buffer {
  const body = new ByteWriter()
    .fixed(header.vaultId)
    .u32(header.generation)
    .u16(header.shareSet)
    .u8(header.shareCount)
    .u8(header.threshold)
    .fixed(header.keyCheck)
    .fixed(header.wrappedMasterKey)
    .u32(index.length)
    .fixed(sha256(index))
    .u32(entries.length);
  for (const entry of entries) body.u32(entry.length).fixed(sha256(entry));
  const headerBytes = body.toBuffer();
  const authenticatedHeader = new ByteWriter()
    .fixed(VAULT_MAGIC)
    .u16(VAULT_FORMAT_VERSION)
    .u32(headerBytes.length)
    .fixed(headerBytes)
    .toBuffer();
  return Buffer.concat([
    authenticatedHeader,
    sha256(authenticatedHeader),
    headerMac(headerMacKey, authenticatedHeader),
    index,
    ...entries,
  ]);
}

/**
 * Parses a vault file and checks everything that can be checked without a key: magic, version,
 * header checksum, length, and the digest of every record. Throws VAULT_CORRUPT naming the part.
 */
export function parseVaultFile(file: Buffer): ParsedVaultFile {
  if (file.length < VAULT_MAGIC.length || !file.subarray(0, VAULT_MAGIC.length).equals(VAULT_MAGIC)) {
    throw corruptPart({ section: 'magic' }, 'this is not a Multiverse vault file (magic bytes differ)');
  }
  if (file.length < PREAMBLE_BYTES) throw truncated(file.length, PREAMBLE_BYTES);
  const headerLength = file.readUInt32BE(VAULT_MAGIC.length + 2);
  const checksumStart = PREAMBLE_BYTES + headerLength;
  const macStart = checksumStart + DIGEST_BYTES;
  const bodyStart = macStart + DIGEST_BYTES;
  if (bodyStart > file.length) {
    // A damaged length field and a cut-off file look alike here; the checksum over what is
    // present cannot be computed, so say both.
    throw corruptPart({ section: 'header' }, `header length ${headerLength} runs past the end of the file`);
  }
  const authenticatedHeader = file.subarray(0, checksumStart);
  if (!sha256(authenticatedHeader).equals(file.subarray(checksumStart, macStart))) {
    throw corruptPart({ section: 'header' }, 'header checksum mismatch');
  }
  const version = file.readUInt16BE(VAULT_MAGIC.length);
  if (version !== VAULT_FORMAT_VERSION) {
    throw new VaultError(
      'VAULT_VERSION_UNSUPPORTED',
      `Vault file format version ${version} is not supported (this keyvault reads version ` +
        `${VAULT_FORMAT_VERSION}). Upgrade Multiverse to open it.`,
    );
  }

  const { header, indexLength, indexDigest, records } = readHeader(
    file.subarray(PREAMBLE_BYTES, checksumStart),
  );
  const layout: LayoutRange[] = [
    { part: { section: 'magic' }, start: 0, end: VAULT_MAGIC.length },
    { part: { section: 'header' }, start: VAULT_MAGIC.length, end: macStart },
    { part: { section: 'header-mac' }, start: macStart, end: bodyStart },
  ];
  let offset = bodyStart;
  const expectedLength = records.reduce((sum, record) => sum + record.length, bodyStart + indexLength);
  if (expectedLength !== file.length) {
    throw corruptPart(
      { section: 'length' },
      `the file is ${file.length} bytes but its header describes ${expectedLength} ` +
        `(${file.length < expectedLength ? 'cut off' : 'bytes appended'})`,
    );
  }
  const index = file.subarray(offset, offset + indexLength);
  layout.push({ part: { section: 'index' }, start: offset, end: offset + indexLength });
  if (!sha256(index).equals(indexDigest)) throw corruptPart({ section: 'index' }, 'index digest mismatch');
  offset += indexLength;
  const entries = records.map((record, position) => {
    const entry = file.subarray(offset, offset + record.length);
    const part: VaultFilePart = { section: 'entry', entry: position };
    layout.push({ part, start: offset, end: offset + record.length });
    if (!sha256(entry).equals(record.digest)) throw corruptPart(part, 'entry digest mismatch');
    offset += record.length;
    return entry;
  });
  return {
    header,
    authenticatedHeader,
    headerMac: file.subarray(macStart, bodyStart),
    index,
    entries,
    layout,
  };
}

interface RecordDescriptor {
  length: number;
  digest: Buffer;
}

function readHeader(bytes: Buffer): {
  header: VaultHeader;
  indexLength: number;
  indexDigest: Buffer;
  records: RecordDescriptor[];
} {
  // The checksum already matched, so a malformed header here was written that way: still
  // reported as header corruption rather than crashing on it.
  try {
    const reader = new ByteReader(bytes);
    const header: VaultHeader = {
      vaultId: Buffer.from(reader.fixed(VAULT_ID_BYTES)),
      generation: reader.u32(),
      shareSet: reader.u16(),
      shareCount: reader.u8(),
      threshold: reader.u8(),
      keyCheck: Buffer.from(reader.fixed(KEY_CHECK_BYTES)),
      wrappedMasterKey: Buffer.from(reader.fixed(WRAPPED_MASTER_KEY_BYTES)),
    };
    const indexLength = reader.u32();
    const indexDigest = reader.fixed(DIGEST_BYTES);
    const entryCount = reader.u32();
    if (entryCount > MAX_ENTRIES)
      throw new TruncatedError(`entry count ${entryCount} exceeds ${MAX_ENTRIES}`);
    const records: RecordDescriptor[] = [];
    for (let i = 0; i < entryCount; i += 1)
      records.push({ length: reader.u32(), digest: reader.fixed(DIGEST_BYTES) });
    if (reader.remaining !== 0)
      throw new TruncatedError(`${reader.remaining} unexpected bytes after the header`);
    if (header.threshold < 2 || header.shareCount < header.threshold) {
      throw new TruncatedError(`impossible threshold ${header.threshold} of ${header.shareCount}`);
    }
    return { header, indexLength, indexDigest, records };
  } catch (error) {
    if (error instanceof TruncatedError) throw corruptPart({ section: 'header' }, error.message);
    throw error;
  }
}

export function headerMac(key: Buffer, authenticatedHeader: Buffer): Buffer {
  return createHmac('sha256', key).update(authenticatedHeader).digest();
}

export function headerMacMatches(key: Buffer, file: ParsedVaultFile): boolean {
  return timingSafeEqual(headerMac(key, file.authenticatedHeader), file.headerMac);
}

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

function truncated(actual: number, needed: number): VaultError {
  return corruptPart(
    { section: 'length' },
    `the file is ${actual} bytes, shorter than the ${needed}-byte preamble`,
  );
}
