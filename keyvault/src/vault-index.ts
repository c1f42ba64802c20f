import { ByteReader, ByteWriter } from './byte-codec.js';
import { validateEntryName } from './entry-name.js';

/**
 * The index is the encrypted table of contents: entry i of the index describes entry record i of
 * the file. Names live only here, so a sealed vault file does not reveal what it holds.
 */
export interface IndexEntry {
  readonly name: string;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Length of the plaintext value in bytes. */
  readonly size: number;
}

const INDEX_FORMAT = 1;

export function encodeIndex(entries: readonly IndexEntry[]): Buffer {
  const writer = new ByteWriter().u8(INDEX_FORMAT).u32(entries.length);
  for (const entry of entries) {
    writer.short(Buffer.from(entry.name, 'ascii')).f64(entry.createdAt).f64(entry.updatedAt).u32(entry.size);
  }
  return writer.toBuffer();
}

/** Throws (any error) on a malformed index; the caller reports it as index corruption. */
export function decodeIndex(bytes: Buffer, expectedCount: number): IndexEntry[] {
  const reader = new ByteReader(bytes);
  const format = reader.u8();
  if (format !== INDEX_FORMAT) throw new Error(`unknown index format ${format}`);
  const count = reader.u32();
  if (count !== expectedCount) throw new Error(`index lists ${count} entries, the header ${expectedCount}`);
  const entries: IndexEntry[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i += 1) {
    const name = validateEntryName(reader.short().toString('ascii'));
    if (seen.has(name)) throw new Error(`entry ${JSON.stringify(name)} listed twice`);
    seen.add(name);
    entries.push({ name, createdAt: reader.f64(), updatedAt: reader.f64(), size: reader.u32() });
  }
  if (reader.remaining !== 0) throw new Error(`${reader.remaining} unexpected bytes after the index`);
  return entries;
}
