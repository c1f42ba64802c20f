import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { revertPhases } from './lifecycle-timeline.js';
import type { TimedLifecycleEvent } from './lifecycle-timeline.js';

const at = (event: string, detail: string, atMs: number): TimedLifecycleEvent => ({ event, detail, atMs });

describe('revertPhases', () => {
  it("splits a running VM's revert at the stop and at the first redefinition after it", () => {
    const events = [
      at('defined', 'updated', 900), // before the task: not this revert's
      at('stopped', 'destroyed', 2_250),
      at('defined', 'updated', 2_400),
      at('defined', 'updated', 2_500),
      at('started', 'booted', 2_600),
      at('resumed', 'unpaused', 2_650),
    ];
    const phases = revertPhases(events, { startedMs: 1_000, finishedMs: 5_400 });
    assert.equal(phases.cutOff, 1.25);
    assert.equal(phases.withoutRestart, 1.4);
    assert.equal(phases.restart, 3);
  });

  it('gives null for what no event marked', () => {
    assert.deepEqual(revertPhases([], { startedMs: 0, finishedMs: 1_000 }), {
      cutOff: null,
      withoutRestart: null,
      restart: null,
    });
    assert.deepEqual(revertPhases([at('stopped', 'destroyed', 300)], { startedMs: 0, finishedMs: 1_000 }), {
      cutOff: 0.3,
      withoutRestart: null,
      restart: null,
    });
  });

  it('ignores a stop before the task started', () => {
    const phases = revertPhases([at('stopped', 'destroyed', 500), at('defined', 'updated', 600)], {
      startedMs: 1_000,
      finishedMs: 2_000,
    });
    assert.deepEqual(phases, { cutOff: null, withoutRestart: null, restart: null });
  });
});
