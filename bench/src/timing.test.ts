import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { allAtOnce, costPerCall, geometricMean, median, oneAfterAnother, settle } from './timing.js';

describe('median', () => {
  it('takes the middle value of an odd count and the mean of the two middle values of an even count', () => {
    assert.equal(median([5, 1, 3]), 3);
    assert.equal(median([4, 1, 3, 2]), 2.5);
  });

  it('refuses an empty list', () => {
    assert.throws(() => median([]), RangeError);
  });
});

describe('geometricMean', () => {
  it('weighs ratios multiplicatively', () => {
    assert.ok(Math.abs(geometricMean([2, 8]) - 4) < 1e-12);
    assert.ok(Math.abs(geometricMean([10]) - 10) < 1e-12);
  });

  it('refuses zero, negative and empty input', () => {
    assert.throws(() => geometricMean([]), RangeError);
    assert.throws(() => geometricMean([1, 0]), RangeError);
    assert.throws(() => geometricMean([-1]), RangeError);
  });
});

describe('oneAfterAnother and allAtOnce', () => {
  const track = () => {
    const state = { running: 0, mostAtOnce: 0, indexes: [] as number[] };
    const call = async (index: number) => {
      state.indexes.push(index);
      state.mostAtOnce = Math.max(state.mostAtOnce, ++state.running);
      await sleep(2);
      state.running--;
    };
    return { state, call };
  };

  it('oneAfterAnother never has two calls running', async () => {
    const { state, call } = track();
    await oneAfterAnother(5, call);
    assert.deepEqual(state, { running: 0, mostAtOnce: 1, indexes: [0, 1, 2, 3, 4] });
  });

  it('allAtOnce has every call running before the first finishes', async () => {
    const { state, call } = track();
    await allAtOnce(5, call);
    assert.deepEqual(state, { running: 0, mostAtOnce: 5, indexes: [0, 1, 2, 3, 4] });
  });
});

describe('costPerCall', () => {
  it('divides the wall time by the count', async () => {
    const cost = await costPerCall(4, (count) => allAtOnce(count, () => sleep(20)));
    // four 20 ms sleeps side by side take about 20 ms in all: about 5 ms each, far from the 20 ms of one.
    assert.ok(cost.wallMicros >= 4_000 && cost.wallMicros < 15_000, `got ${cost.wallMicros} µs`);
  });

  it('counts CPU time spent, and not time spent waiting', async () => {
    const waiting = await costPerCall(1, () => sleep(50));
    assert.ok(waiting.cpuMicros < 25_000, `waiting cost ${waiting.cpuMicros} µs of CPU`);
    const busy = await costPerCall(1, () => {
      const until = process.hrtime.bigint() + 50_000_000n;
      while (process.hrtime.bigint() < until);
      return Promise.resolve();
    });
    assert.ok(busy.cpuMicros > 25_000, `spinning cost ${busy.cpuMicros} µs of CPU`);
  });
});

describe('settle', () => {
  it('lets unreachable objects be collected', async () => {
    let garbage: object | undefined = { payload: new Array(1000).fill(0) };
    const reference = new WeakRef(garbage);
    garbage = undefined;
    await settle();
    assert.equal(reference.deref(), undefined);
    assert.equal(garbage, undefined);
  });
});
