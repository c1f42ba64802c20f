import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { XdrDecodeError, XdrReader, XdrWriter } from '../xdr/index.js';
import {
  DomainEventType,
  DomainState,
  ERROR_DOMAIN_NAMES,
  ERROR_NUMBER_NAMES,
  TypedParameterType,
} from '../generated/enums.js';
import { array, charArray, optionalString, struct, uhyper } from './codec.js';
import type { Codec } from './codec.js';
import { describeDomainState, domain } from './domains.js';
import type { Domain } from './domains.js';
import { describeLifecycleEvent } from './events.js';
import { decodeCpuMap, decodeVersion } from './host.js';
import { dhcpLease } from './networks.js';
import { secret } from './secrets.js';
import { domainSnapshot } from './snapshots.js';
import { storageVolume } from './storage.js';
import { typedParameter, typedParamsToObject } from './typed-params.js';
import type { TypedParameter } from './typed-params.js';
import { uuidFromBytes, uuidToBytes } from './uuid.js';

function encode<T>(codec: Codec<T>, value: T): Buffer {
  const writer = new XdrWriter();
  codec.write(writer, value);
  return Buffer.from(writer.toBuffer());
}

function roundTrip<T>(codec: Codec<T>, value: T): T {
  const reader = new XdrReader(encode(codec, value));
  const decoded = codec.read(reader);
  assert.equal(reader.remaining, 0, 'the decoder must consume exactly what the encoder wrote');
  return decoded;
}

const uuidArbitrary = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((bytes) => uuidFromBytes(bytes));
const nameArbitrary = fc.string({ minLength: 1, maxLength: 40 });
const domainArbitrary: fc.Arbitrary<Domain> = fc
  .record({
    name: nameArbitrary,
    uuid: uuidArbitrary,
    id: fc.integer({ min: -1, max: 0x7fffffff }),
  })
  .map((record) => ({ ...record }));

const typedParameterArbitrary: fc.Arbitrary<TypedParameter> = fc
  .oneof(
    fc.record({
      field: nameArbitrary,
      type: fc.constant('int' as const),
      value: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    }),
    fc.record({
      field: nameArbitrary,
      type: fc.constant('uint' as const),
      value: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    }),
    fc.record({
      field: nameArbitrary,
      type: fc.constant('llong' as const),
      value: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    }),
    fc.record({
      field: nameArbitrary,
      type: fc.constant('ullong' as const),
      value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    }),
    fc.record({
      field: nameArbitrary,
      type: fc.constant('double' as const),
      value: fc.double({ noNaN: true }),
    }),
    fc.record({ field: nameArbitrary, type: fc.constant('boolean' as const), value: fc.boolean() }),
    fc.record({
      field: nameArbitrary,
      type: fc.constant('string' as const),
      value: fc.string({ maxLength: 200 }),
    }),
  )
  // fast-check builds null-prototype records; decoded values are plain objects.
  .map((param) => ({ ...param }))
  .filter((param) => Buffer.byteLength(param.field) < 80);

describe('struct codecs', () => {
  it('lays out remote_nonnull_domain as name, 16 raw UUID bytes, id', () => {
    const bytes = encode(domain, { name: 'vm1', uuid: '00112233-4455-6677-8899-aabbccddeeff', id: -1 });
    assert.equal(
      bytes.toString('hex'),
      '00000003' + '766d3100' + '00112233445566778899aabbccddeeff' + 'ffffffff',
    );
  });

  it('round-trips domains, snapshots, volumes and secrets', () => {
    fc.assert(
      fc.property(domainArbitrary, nameArbitrary, (subject, name) => {
        assert.deepEqual(roundTrip(domain, subject), subject);
        assert.deepEqual(roundTrip(domainSnapshot, { name, domain: subject }), { name, domain: subject });
        const volume = { pool: name, name: subject.name, key: `/pool/${subject.name}` };
        assert.deepEqual(roundTrip(storageVolume, volume), volume);
        const usage = { uuid: subject.uuid, usageType: 2, usageId: name };
        assert.deepEqual(roundTrip(secret, usage), usage);
      }),
    );
  });

  it('round-trips DHCP leases with their optional fields present or absent', () => {
    const v4 = {
      iface: 'virbr1',
      expiryTime: 1_700_000_000n,
      type: 0,
      mac: '52:54:00:12:34:56',
      iaid: null,
      ipAddress: '192.168.122.50',
      prefix: 24,
      hostname: 'guest',
      clientId: null,
    };
    assert.deepEqual(roundTrip(dhcpLease, v4), v4);
    const v6 = { ...v4, type: 1, mac: null, iaid: '1234', ipAddress: 'fd00::50', prefix: 64, hostname: null };
    assert.deepEqual(roundTrip(dhcpLease, v6), v6);
  });

  it('keeps optional strings and nested arrays in declaration order', () => {
    const codec = struct({
      first: optionalString,
      list: array(domain, 3),
      size: uhyper,
      last: optionalString,
    });
    const value = {
      first: null,
      list: [{ name: 'a', uuid: '00000000-0000-0000-0000-000000000001', id: 1 }],
      size: 2n ** 64n - 1n,
      last: 'tail',
    };
    assert.deepEqual(roundTrip(codec, value), value);
  });

  it('refuses arrays longer than the protocol allows, in both directions', () => {
    const small = array(domain, 1);
    const two = [
      { name: 'a', uuid: '00000000-0000-0000-0000-000000000001', id: 1 },
      { name: 'b', uuid: '00000000-0000-0000-0000-000000000002', id: 2 },
    ];
    assert.throws(() => encode(small, two), RangeError);
    assert.throws(() => small.read(new XdrReader(encode(array(domain, 2), two))), XdrDecodeError);
  });

  it('sends char[32] as 32 four-byte ints and reads the NUL-terminated text back', () => {
    const model = charArray(32);
    const bytes = encode(model, 'x86_64');
    assert.equal(bytes.length, 128);
    assert.equal(bytes.readInt32BE(0), 'x'.charCodeAt(0));
    assert.equal(roundTrip(model, 'x86_64'), 'x86_64');
    assert.throws(() => encode(model, 'a'.repeat(32)), RangeError);
  });

  it('converts UUIDs between text and bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        assert.deepEqual([...uuidToBytes(uuidFromBytes(bytes))], [...bytes]);
      }),
    );
    assert.throws(() => uuidToBytes('not-a-uuid'), RangeError);
  });
});

describe('typed parameters', () => {
  it('round-trips every type, 64-bit values as exact bigints', () => {
    fc.assert(
      fc.property(fc.array(typedParameterArbitrary, { maxLength: 8 }), (params) => {
        assert.deepEqual(roundTrip(array(typedParameter, 16), params), params);
      }),
    );
  });

  it('puts the virTypedParameterType discriminant between field and value', () => {
    const bytes = encode(typedParameter, { field: 'cpu', type: 'ullong', value: 2n ** 64n - 1n });
    assert.equal(bytes.readUInt32BE(0), 3);
    assert.equal(bytes.readInt32BE(8), TypedParameterType.ULLONG);
    assert.equal(bytes.readBigUInt64BE(12), 2n ** 64n - 1n);
  });

  it('rejects an unknown discriminant instead of misreading what follows', () => {
    const writer = new XdrWriter().writeString('x').writeInt(99).writeInt(0);
    assert.throws(() => typedParameter.read(new XdrReader(writer.toBuffer())), XdrDecodeError);
  });

  it('refuses to encode out-of-range or unnamed values', () => {
    assert.throws(() => encode(typedParameter, { field: 'x', type: 'ullong', value: -1n }), RangeError);
    assert.throws(() => encode(typedParameter, { field: '', type: 'int', value: 1 }), RangeError);
    assert.throws(() => encode(typedParameter, { field: 'f'.repeat(80), type: 'int', value: 1 }), RangeError);
  });

  it('flattens to an object keyed by field', () => {
    assert.deepEqual(
      typedParamsToObject([
        { field: 'state.state', type: 'int', value: 1 },
        { field: 'balloon.current', type: 'ullong', value: 1024n },
      ]),
      { 'state.state': 1, 'balloon.current': 1024n },
    );
  });
});

describe('naming from the generated enums', () => {
  it('names error codes and domains as libvirt does', () => {
    assert.equal(ERROR_NUMBER_NAMES[42], 'VIR_ERR_NO_DOMAIN');
    assert.equal(ERROR_NUMBER_NAMES[27], 'VIR_ERR_XML_ERROR');
    assert.equal(ERROR_DOMAIN_NAMES[10], 'VIR_FROM_QEMU');
    assert.equal(ERROR_NUMBER_NAMES[1_000_000], undefined);
  });

  it('names domain states with the reason enum of that state', () => {
    assert.deepEqual(describeDomainState(DomainState.SHUTOFF, 2), {
      state: DomainState.SHUTOFF,
      stateName: 'shutoff',
      reason: 2,
      reasonName: 'destroyed',
    });
    assert.equal(describeDomainState(DomainState.RUNNING, 1).reasonName, 'booted');
    assert.equal(describeDomainState(99, 0).stateName, 'unknown');
  });

  it('names lifecycle events and their details', () => {
    const subject = { name: 'vm', uuid: '00000000-0000-0000-0000-000000000001', id: 3 };
    const started = describeLifecycleEvent(subject, DomainEventType.STARTED, 0);
    assert.equal(started.event, 'started');
    assert.equal(started.detail, 'booted');
    assert.equal(describeLifecycleEvent(subject, DomainEventType.STOPPED, 1).detail, 'destroyed');
    assert.equal(describeLifecycleEvent(subject, 42, 0).event, 'unknown');
  });

  it('decodes versions and CPU bitmaps', () => {
    assert.deepEqual(decodeVersion(9_000_000n), { major: 9, minor: 0, release: 0 });
    assert.deepEqual(decodeVersion(7_002_022n), { major: 7, minor: 2, release: 22 });
    assert.deepEqual(decodeCpuMap(Uint8Array.from([0b101, 0b1]), 9), [
      true,
      false,
      true,
      false,
      false,
      false,
      false,
      false,
      true,
    ]);
  });
});
