/** Raised when a byte buffer is shorter than its contents claim. Callers map it to the part being read. */
export class TruncatedError extends Error {
  override readonly name = 'TruncatedError';
}

/** Big-endian writer for the vault's binary formats. */
export class ByteWriter {
  private readonly chunks: Buffer[] = [];

  u8(value: number): this {
    return this.fixed(Buffer.of(checkRange(value, 0xff)));
  }

  u16(value: number): this {
    const chunk = Buffer.alloc(2);
    chunk.writeUInt16BE(checkRange(value, 0xffff));
    return this.fixed(chunk);
  }

  u32(value: number): this {
    const chunk = Buffer.alloc(4);
    chunk.writeUInt32BE(checkRange(value, 0xffffffff));
    return this.fixed(chunk);
  }

  f64(value: number): this {
    const chunk = Buffer.alloc(8);
    chunk.writeDoubleBE(value);
    return this.fixed(chunk);
  }

  fixed(bytes: Uint8Array): this {
    this.chunks.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    return this;
  }

  /** A u16 length followed by the bytes. */
  short(bytes: Uint8Array): this {
    return this.u16(bytes.byteLength).fixed(bytes);
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function checkRange(value: number, max: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`value ${value} does not fit in 0..${max}`);
  }
  return value;
}

/** Big-endian reader; every read is bounds-checked and throws TruncatedError past the end. */
export class ByteReader {
  private offset = 0;

  constructor(private readonly buffer: Buffer) {}

  get position(): number {
    return this.offset;
  }

  get remaining(): number {
    return this.buffer.length - this.offset;
  }

  private take(length: number): number {
    if (length > this.remaining) {
      throw new TruncatedError(`needed ${length} bytes at offset ${this.offset}, ${this.remaining} left`);
    }
    const start = this.offset;
    this.offset += length;
    return start;
  }

  u8(): number {
    return this.buffer.readUInt8(this.take(1));
  }

  u16(): number {
    return this.buffer.readUInt16BE(this.take(2));
  }

  u32(): number {
    return this.buffer.readUInt32BE(this.take(4));
  }

  f64(): number {
    return this.buffer.readDoubleBE(this.take(8));
  }

  /** A view (not a copy) of the next `length` bytes. */
  fixed(length: number): Buffer {
    const start = this.take(length);
    return this.buffer.subarray(start, start + length);
  }

  short(): Buffer {
    return this.fixed(this.u16());
  }
}
