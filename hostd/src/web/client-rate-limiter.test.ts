import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClientRateLimiter } from './client-rate-limiter.js';

describe('ClientRateLimiter', () => {
  it('allows a burst, then one per refill interval, per client', () => {
    let now = 1_000_000;
    const limiter = new ClientRateLimiter({ burst: 3, refillEveryMs: 10_000 }, () => now);
    assert.deepEqual(
      [1, 2, 3].map(() => limiter.take('10.0.0.1')),
      [0, 0, 0],
    );
    assert.equal(limiter.take('10.0.0.1'), 10_000);
    assert.equal(limiter.take('10.0.0.2'), 0, 'another client has its own allowance');
    now += 4_000;
    assert.equal(limiter.take('10.0.0.1'), 6_000, 'a refused try costs nothing but waits the rest');
    now += 6_000;
    assert.equal(limiter.take('10.0.0.1'), 0);
    assert.equal(limiter.take('10.0.0.1'), 10_000);
    now += 60_000;
    assert.deepEqual(
      [1, 2, 3, 4].map(() => limiter.take('10.0.0.1')),
      [0, 0, 0, 10_000],
      'an idle client earns back its burst, never more',
    );
  });
});
