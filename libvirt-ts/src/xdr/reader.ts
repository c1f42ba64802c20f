/** Raised when an XDR message is shorter than its contents claim or holds an impossible value. */
export class XdrDecodeError extends Error {
  override readonly name = 'XdrDecodeError';
}

/** XDR (RFC 4506) decoder over one complete message body. */
export class XdrReader {
  private offset: number;

  constructor(
    private readonly buffer: Buffer,
    offset = 0,
  ) {
    this.offset = offset;
  }

  get position(): number {
    return this.offset;
  }

  get remaining(): number {
    return this.buffer.length - this.offset;
  }

  private take(bytes: number): number {
    const start = this.offset;
    if (bytes < 0 || start + bytes > this.buffer.length) {
      throw new XdrDecodeError(
        `XDR message truncated: needed ${bytes} bytes at offset ${start}, only ${this.buffer.length - start} left`,
      );
    }
    this.offset = start + bytes;
    return start;
  }

  readInt(): number {
    return this.buffer.readInt32BE(this.take(4));
  }

  readUint(): number {
    return this.buffer.readUInt32BE(this.take(4));
  }

  readHyper(): bigint {
    return this.buffer.readBigInt64BE(this.take(8));
  }

  readUhyper(): bigint {
    return this.buffer.readBigUInt64BE(this.take(8));
  }

  readBool(): boolean {
    const value = this.readInt();
    if (value !== 0 && value !== 1) throw new XdrDecodeError(`XDR bool must be 0 or 1, got ${value}`);
    return value === 1;
  }

  readFloat(): number {
    return this.buffer.readFloatBE(this.take(4));
  }

  readDouble(): number {
    return this.buffer.readDoubleBE(this.take(8));
  }

  /** Returns a copy, so the caller may keep it after the packet buffer is reused. */
  readFixedOpaque(length: number): Buffer {
    const start = this.take((length + 3) & ~3);
    return Buffer.from(this.buffer.subarray(start, start + length));
  }

  /** Like readFixedOpaque but without the copy: the view is only valid while the packet buffer is. */
  readFixedOpaqueView(length: number): Buffer {
    const start = this.take((length + 3) & ~3);
    return this.buffer.subarray(start, start + length);
  }

  readOpaque(maxLength = 0xffffffff): Buffer {
    const length = this.readUint();
    if (length > maxLength)
      throw new XdrDecodeError(`XDR opaque of ${length} bytes exceeds its limit of ${maxLength}`);
    return this.readFixedOpaque(length);
  }

  readString(maxLength = 0xffffffff): string {
    const length = this.readUint();
    if (length > maxLength)
      throw new XdrDecodeError(`XDR string of ${length} bytes exceeds its limit of ${maxLength}`);
    const start = this.take((length + 3) & ~3);
    return this.buffer.toString('utf8', start, start + length);
  }

  readOptional<T>(readValue: (reader: this) => T): T | null {
    return this.readBool() ? readValue(this) : null;
  }

  readArray<T>(readItem: (reader: this) => T, maxLength = 0xffffffff): T[] {
    const count = this.readUint();
    if (count > maxLength)
      throw new XdrDecodeError(`XDR array of ${count} elements exceeds its limit of ${maxLength}`);
    // Each element takes at least 4 bytes: refuse counts the message cannot hold before allocating.
    if (count * 4 > this.remaining) {
      throw new XdrDecodeError(`XDR array claims ${count} elements but only ${this.remaining} bytes remain`);
    }
    const items: T[] = [];
    for (let index = 0; index < count; index++) items.push(readItem(this));
    return items;
  }

  readFixedArray<T>(length: number, readItem: (reader: this) => T): T[] {
    const items: T[] = [];
    for (let index = 0; index < length; index++) items.push(readItem(this));
    return items;
  }
}
