import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { formatCpuSet } from '@multiverse/vm-templates';
import { CpuPlanError } from './cpu-plan-error.js';
import { MAX_CPU_ID, parseCpuSet } from './cpu-set-parser.js';

describe('parseCpuSet', () => {
  it('reads CPUs, ranges and exclusions', () => {
    assert.deepEqual(parseCpuSet('0'), [0]);
    assert.deepEqual(parseCpuSet('0,2'), [0, 2]);
    assert.deepEqual(parseCpuSet('0-3,^2,8'), [0, 1, 3, 8]);
    assert.deepEqual(parseCpuSet('8, 0-1'), [0, 1, 8]);
    assert.deepEqual(parseCpuSet('4095'), [4095]);
  });

  it("reads back whatever vm-templates' formatCpuSet writes", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: MAX_CPU_ID }), { minLength: 1, maxLength: 40 }),
        (cpus) => {
          assert.deepEqual(
            parseCpuSet(formatCpuSet(cpus)),
            [...cpus].sort((a, b) => a - b),
          );
        },
      ),
    );
  });

  for (const [text, why] of [
    ['', 'it is empty'],
    ['1,,2', '"" is not a CPU number'],
    ['a', '"a" is not a CPU number'],
    ['3-1', 'the range "3-1" runs backwards'],
    ['4096', 'CPU 4096 is above 4095'],
    ['^1-3', 'only single CPUs can be excluded'],
    ['-1', '"-1" is not a CPU number'],
  ] as const) {
    it(`refuses ${JSON.stringify(text)}`, () => {
      assert.throws(
        () => parseCpuSet(text),
        (error: unknown) =>
          error instanceof CpuPlanError && error.code === 'CPU_SET_INVALID' && error.message.includes(why),
      );
    });
  }
});
