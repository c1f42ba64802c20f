import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { DiskError } from './errors.js';
import { assertCheckpointId, assertVmName, formatImageRef, newLayerId, parseImageRef } from './names.js';

describe('disk names', () => {
  it('keeps every accepted VM name a single path component inside its directory', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (name) => {
        let accepted: string;
        try {
          accepted = assertVmName(name);
        } catch (error) {
          assert.ok(error instanceof DiskError && error.code === 'DISK_NAME_INVALID');
          return;
        }
        assert.equal(resolve('/vms', accepted), join('/vms', accepted));
        assert.ok(!accepted.includes('/') && !accepted.includes('@') && !accepted.includes(':'));
        assert.ok(accepted !== '.' && accepted !== '..' && !accepted.startsWith('-'));
      }),
      { numRuns: 2000 },
    );
  });

  it('generates checkpoint ids that validate, and rejects anything else', () => {
    for (let i = 0; i < 100; i++) assertCheckpointId(newLayerId());
    for (const id of ['..', '0123456789abcdeg', '0123456789ABCDEF', '0123456789abcdef0', '']) {
      assert.throws(() => assertCheckpointId(id), { code: 'CHECKPOINT_ID_INVALID' });
    }
  });

  it('round-trips image references and rejects malformed ones', () => {
    const ref = { name: 'debian-12', sha256: 'a'.repeat(64) };
    assert.deepEqual(parseImageRef(formatImageRef(ref)), ref);
    for (const text of [
      'debian',
      `@${'a'.repeat(64)}`,
      `../x@${'a'.repeat(64)}`,
      `x@${'A'.repeat(64)}`,
      42,
    ]) {
      assert.throws(() => parseImageRef(text), { code: 'IMAGE_REF_INVALID' });
    }
  });
});
