/**
 * XDR (RFC 4506) encoder. Every item is padded to a multiple of four bytes and written big-endian.
 * The buffer grows geometrically so encoding a large message costs amortised O(n).
 */
export class XdrWriter {
  private buffer: Buffer;
  private length = 0;

  constructor(initialCapacity = 256) {
    this.buffer = Buffer.allocUnsafe(initialCapacity);
  }

  get byteLength(): number {
    return this.length;
  }

  /** The bytes written so far (a view, not a copy). */
  toBuffer(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  private reserve(bytes: number): number {
    const offset = this.length;
    const needed = offset + bytes;
    if (needed > this.buffer.length) {
      let capacity = this.buffer.length * 2;
      while (capacity < needed) capacity *= 2;
      const grown = Buffer.allocUnsafe(capacity);
      this.buffer.copy(grown, 0, 0, offset);
      this.buffer = grown;
    }
    this.length = needed;
    return offset;
  }

  writeInt(value: number): this {
    if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) {
      throw new RangeError(`XDR int out of range: ${value}`);
    }
    const offset = this.reserve(4);
    this.buffer.writeInt32BE(value, offset);
    return this;
  }

  writeUint(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new RangeError(`XDR unsigned int out of range: ${value}`);
    }
    const offset = this.reserve(4);
    this.buffer.writeUInt32BE(value, offset);
    return this;
  }

  writeHyper(value: bigint | number): this {
    const offset = this.reserve(8);
    this.buffer.writeBigInt64BE(BigInt(value), offset);
    return this;
  }

  writeUhyper(value: bigint | number): this {
    const offset = this.reserve(8);
    this.buffer.writeBigUInt64BE(BigInt(value), offset);
    return this;
  }

  writeBool(value: boolean): this {
    return this.writeInt(value ? 1 : 0);
  }

  writeFloat(value: number): this {
    const offset = this.reserve(4);
    this.buffer.writeFloatBE(value, offset);
    return this;
  }

  writeDouble(value: number): this {
    const offset = this.reserve(8);
    this.buffer.writeDoubleBE(value, offset);
    return this;
  }

  /** Fixed-length opaque: exactly `length` bytes plus padding; no length prefix. */
  writeFixedOpaque(bytes: Uint8Array, length: number = bytes.length): this {
    if (bytes.length !== length) {
      throw new RangeError(`XDR fixed opaque needs exactly ${length} bytes, got ${bytes.length}`);
    }
    const padded = (length + 3) & ~3;
    const offset = this.reserve(padded);
    this.buffer.set(bytes, offset);
    this.buffer.fill(0, offset + length, offset + padded);
    return this;
  }

  /** Variable-length opaque: a uint length, the bytes, padding. */
  writeOpaque(bytes: Uint8Array, maxLength = 0xffffffff): this {
    if (bytes.length > maxLength) {
      throw new RangeError(`XDR opaque of ${bytes.length} bytes exceeds its limit of ${maxLength}`);
    }
    this.writeUint(bytes.length);
    return this.writeFixedOpaque(bytes);
  }

  writeString(value: string, maxLength = 0xffffffff): this {
    return this.writeOpaque(Buffer.from(value, 'utf8'), maxLength);
  }

  /** Optional data (`type *name`): a bool discriminant, then the value when present. */
  writeOptional<T>(value: T | null | undefined, writeValue: (writer: this, item: T) => void): this {
    if (value === null || value === undefined) return this.writeBool(false);
    this.writeBool(true);
    writeValue(this, value);
    return this;
  }

  /** Variable-length array: a uint count, then each element. */
  writeArray<T>(
    items: readonly T[],
    writeItem: (writer: this, item: T) => void,
    maxLength = 0xffffffff,
  ): this {
    if (items.length > maxLength) {
      throw new RangeError(`XDR array of ${items.length} elements exceeds its limit of ${maxLength}`);
    }
    this.writeUint(items.length);
    for (const item of items) writeItem(this, item);
    return this;
  }

  /** Fixed-length array: each element, no count. */
  writeFixedArray<T>(items: readonly T[], length: number, writeItem: (writer: this, item: T) => void): this {
    if (items.length !== length) {
      throw new RangeError(`XDR fixed array needs exactly ${length} elements, got ${items.length}`);
    }
    for (const item of items) writeItem(this, item);
    return this;
  }
}
