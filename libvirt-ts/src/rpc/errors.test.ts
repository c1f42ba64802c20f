import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { XdrDecodeError, XdrReader, XdrWriter } from '../xdr/index.js';
import { LibvirtError, readRemoteError } from './errors.js';

const optionalString = (w: XdrWriter, value: string | null): void => {
  w.writeOptional(value, (w2, s) => w2.writeString(s));
};

describe('readRemoteError', () => {
  it('decodes every field of virNetMessageError and skips the unused domain and network', () => {
    const w = new XdrWriter();
    w.writeInt(42).writeInt(10);
    optionalString(w, "Domain not found: no domain with matching name 'ghost'");
    w.writeInt(2);
    w.writeOptional({}, (w2) => w2.writeString('ghost').writeFixedOpaque(Buffer.alloc(16, 7)).writeInt(-1));
    optionalString(w, 'Domain not found');
    optionalString(w, null);
    optionalString(w, 'ghost');
    w.writeInt(-1).writeInt(0x7fffffff);
    w.writeOptional({}, (w2) => w2.writeString('default').writeFixedOpaque(Buffer.alloc(16)));
    const reader = new XdrReader(w.toBuffer());

    const error = readRemoteError(reader);
    assert.equal(reader.remaining, 0);
    assert.ok(error instanceof LibvirtError);
    assert.equal(error.code, 42);
    assert.equal(error.codeName, 'VIR_ERR_NO_DOMAIN');
    assert.equal(error.domain, 10);
    assert.equal(error.domainName, 'VIR_FROM_QEMU');
    assert.equal(error.level, 2);
    assert.equal(error.message, "Domain not found: no domain with matching name 'ghost'");
    assert.equal(error.libvirtMessage, error.message);
    assert.deepEqual([error.str1, error.str2, error.str3], ['Domain not found', null, 'ghost']);
    assert.deepEqual([error.int1, error.int2], [-1, 0x7fffffff]);
  });

  it('still says what happened when the daemon sent no message', () => {
    const w = new XdrWriter().writeInt(1).writeInt(13).writeBool(false).writeInt(2).writeBool(false);
    w.writeBool(false).writeBool(false).writeBool(false).writeInt(0).writeInt(0).writeBool(false);
    const error = readRemoteError(new XdrReader(w.toBuffer()));
    assert.equal(error.libvirtMessage, '');
    assert.match(error.message, /libvirt error 1 from domain 13/);
  });

  it('refuses a truncated error instead of inventing fields', () => {
    const w = new XdrWriter().writeInt(42).writeInt(10).writeBool(true).writeUint(100);
    assert.throws(() => readRemoteError(new XdrReader(w.toBuffer())), XdrDecodeError);
  });
});
