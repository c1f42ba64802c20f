import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectListAllDomainsFlags, DomainDestroyFlagsValues } from '../generated/enums.js';
import { requireDomain } from './domains.js';
import { requireSecret } from './secrets.js';
import {
  InvalidArgumentError,
  requireFlags,
  requireName,
  requireUnsigned64,
  requireUuid,
  requireXml,
} from './validate.js';

describe('argument validation', () => {
  it('combines flags given as a list and keeps numbers as they are', () => {
    assert.equal(requireFlags(undefined), 0);
    assert.equal(
      requireFlags([ConnectListAllDomainsFlags.ACTIVE, ConnectListAllDomainsFlags.PERSISTENT]),
      ConnectListAllDomainsFlags.ACTIVE | ConnectListAllDomainsFlags.PERSISTENT,
    );
    assert.equal(requireFlags(DomainDestroyFlagsValues.GRACEFUL), DomainDestroyFlagsValues.GRACEFUL);
    assert.equal(requireFlags([0x80000000, 1]), 0x80000001);
  });

  it('refuses flags that are not unsigned 32-bit integers, naming the argument', () => {
    for (const bad of [-1, 1.5, 2 ** 32, '1', [1, -2], null]) {
      assert.throws(
        () => requireFlags(bad),
        (error: unknown) => {
          assert.ok(error instanceof InvalidArgumentError);
          assert.equal(error.code, 'LIBVIRT_INVALID_ARGUMENT');
          assert.match(error.message, /^flags/);
          return true;
        },
      );
    }
  });

  it('accepts only non-empty names, canonical UUIDs and XML with content', () => {
    assert.equal(requireName('vm1', 'name'), 'vm1');
    assert.throws(() => requireName('', 'name'), /name must be a non-empty string/);
    assert.throws(() => requireName('a\0b', 'name'), InvalidArgumentError);
    assert.throws(() => requireName(7, 'name'), InvalidArgumentError);
    assert.equal(
      requireUuid('6695EB01-F6A4-8304-79AA-97F2502E193F', 'uuid'),
      '6695eb01-f6a4-8304-79aa-97f2502e193f',
    );
    assert.throws(() => requireUuid('6695eb01f6a4830479aa97f2502e193f', 'uuid'), InvalidArgumentError);
    assert.throws(() => requireXml('   ', 'xml'), InvalidArgumentError);
  });

  it('takes 64-bit quantities as bigints or safe integers', () => {
    assert.equal(requireUnsigned64(5, 'offset'), 5n);
    assert.equal(requireUnsigned64(2n ** 64n - 1n, 'offset'), 2n ** 64n - 1n);
    assert.throws(() => requireUnsigned64(2 ** 53, 'offset'), InvalidArgumentError);
    assert.throws(() => requireUnsigned64(2n ** 64n, 'offset'), InvalidArgumentError);
    assert.throws(() => requireUnsigned64(-1, 'offset'), InvalidArgumentError);
  });

  it('checks every field of a handle and says which one is wrong', () => {
    const good = { name: 'vm', uuid: '6695eb01-f6a4-8304-79aa-97f2502e193f', id: -1 };
    assert.deepEqual(requireDomain({ ...good, extra: true }), good);
    assert.throws(() => requireDomain({ ...good, uuid: 'x' }), /domain\.uuid must be a UUID/);
    assert.throws(() => requireDomain({ ...good, id: 1.5 }), /domain\.id must be an integer/);
    assert.throws(() => requireDomain('vm'), /domain must be an object/);
    assert.throws(
      () => requireSecret({ uuid: good.uuid, usageType: 0, usageId: 3 }),
      /secret\.usageId must be a string/,
    );
  });
});
