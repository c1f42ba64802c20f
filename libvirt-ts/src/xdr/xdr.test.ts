import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { XdrReader, XdrWriter, XdrDecodeError } from './index.js';

describe('XDR', () => {
  it('pads opaque data and strings to four bytes', () => {
    const bytes = new XdrWriter().writeString('abcde').toBuffer();
    assert.deepEqual([...bytes], [0, 0, 0, 5, 97, 98, 99, 100, 101, 0, 0, 0]);
    assert.equal(new XdrReader(bytes).readString(), 'abcde');
  });

  it('writes 64-bit values as BigInt, big-endian', () => {
    const bytes = new XdrWriter()
      .writeUhyper(2n ** 63n + 5n)
      .writeHyper(-2n)
      .toBuffer();
    const reader = new XdrReader(bytes);
    assert.equal(reader.readUhyper(), 2n ** 63n + 5n);
    assert.equal(reader.readHyper(), -2n);
    assert.equal(reader.remaining, 0);
  });

  it('round-trips arrays of optional values', () => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.string(), { nil: null })), (values) => {
        const bytes = new XdrWriter(1)
          .writeArray(values, (w, v) => w.writeOptional(v, (w2, s) => w2.writeString(s)))
          .toBuffer();
        const decoded = new XdrReader(bytes).readArray((r) => r.readOptional((r2) => r2.readString()));
        assert.deepEqual(decoded, values);
      }),
    );
  });

  it('round-trips every scalar type', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -0x80000000, max: 0x7fffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        fc.boolean(),
        fc.double({ noNaN: true }),
        fc.uint8Array({ maxLength: 40 }),
        (int, uint, hyper, bool, double, opaque) => {
          const bytes = new XdrWriter()
            .writeInt(int)
            .writeUint(uint)
            .writeHyper(hyper)
            .writeBool(bool)
            .writeDouble(double)
            .writeOpaque(opaque)
            .writeFixedOpaque(opaque)
            .toBuffer();
          assert.equal(bytes.length % 4, 0);
          const reader = new XdrReader(bytes);
          assert.equal(reader.readInt(), int);
          assert.equal(reader.readUint(), uint);
          assert.equal(reader.readHyper(), hyper);
          assert.equal(reader.readBool(), bool);
          assert.equal(reader.readDouble(), double);
          assert.deepEqual([...reader.readOpaque()], [...opaque]);
          assert.deepEqual([...reader.readFixedOpaque(opaque.length)], [...opaque]);
          assert.equal(reader.remaining, 0);
        },
      ),
    );
  });

  it('reads fixed opaque data as a view or as a copy', () => {
    const bytes = new XdrWriter()
      .writeFixedOpaque(Buffer.from([1, 2, 3]))
      .writeInt(7)
      .toBuffer();
    const view = new XdrReader(bytes).readFixedOpaqueView(3);
    const copy = new XdrReader(bytes).readFixedOpaque(3);
    bytes[0] = 9;
    assert.deepEqual([...view], [9, 2, 3]);
    assert.deepEqual([...copy], [1, 2, 3]);
  });

  it('refuses values that do not fit', () => {
    assert.throws(() => new XdrWriter().writeInt(2 ** 31), RangeError);
    assert.throws(() => new XdrWriter().writeUint(-1), RangeError);
    assert.throws(() => new XdrWriter().writeString('abc', 2), RangeError);
    assert.throws(() => new XdrWriter().writeFixedOpaque(new Uint8Array(3), 4), RangeError);
  });

  it('names truncation and impossible values instead of reading garbage', () => {
    assert.throws(() => new XdrReader(Buffer.from([0, 0, 0, 9, 1, 2])).readString(), XdrDecodeError);
    assert.throws(() => new XdrReader(Buffer.from([0, 0, 0, 2])).readBool(), XdrDecodeError);
    assert.throws(
      () => new XdrReader(Buffer.from([0xff, 0xff, 0xff, 0xff])).readArray((r) => r.readInt()),
      XdrDecodeError,
    );
    assert.throws(
      () => new XdrReader(Buffer.from([0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8])).readOpaque(4),
      XdrDecodeError,
    );
  });
});
