import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AuthThrottle } from './auth-throttle.js';
import { JailShellError } from './errors.js';

const policy = {
  baseDelayMs: 100,
  maxDelayMs: 1000,
  userLockoutAfter: 3,
  sourceLockoutAfter: 5,
  failureWindowMs: 60_000,
};

describe('AuthThrottle', () => {
  it('doubles the delay with each failure up to the cap', () => {
    const throttle = new AuthThrottle({ ...policy, sourceLockoutAfter: 100 });
    const delays = Array.from({ length: 6 }, () => throttle.recordFailure({ source: '192.0.2.1' }));
    assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000]);
  });

  it('locks a user out after the threshold of wrong codes until unlocked', () => {
    const throttle = new AuthThrottle(policy);
    throttle.recordFailure({ source: '192.0.2.1', user: 'alice' });
    throttle.recordFailure({ source: '192.0.2.2', user: 'alice' });
    assert.equal(throttle.isUserLockedOut('alice'), false);
    throttle.recordFailure({ source: '192.0.2.3', user: 'alice' });
    assert.equal(throttle.isUserLockedOut('alice'), true);
    assert.deepEqual(throttle.lockedOut(), { users: ['alice'], sources: [] });
    assert.equal(throttle.unlockUser('alice'), true);
    assert.equal(throttle.isUserLockedOut('alice'), false);
    assert.equal(throttle.unlockUser('alice'), false);
    assert.equal(
      throttle.recordFailure({ source: '192.0.2.4', user: 'alice' }),
      100,
      'unlock also resets the count',
    );
  });

  it('locks a source out after its threshold, whoever it tried', () => {
    const throttle = new AuthThrottle(policy);
    for (const user of ['a', 'b', 'c', 'd']) throttle.recordFailure({ source: '198.51.100.7', user });
    assert.equal(throttle.isSourceLockedOut('198.51.100.7'), false);
    throttle.recordFailure({ source: '198.51.100.7' });
    assert.equal(throttle.isSourceLockedOut('198.51.100.7'), true);
    assert.equal(throttle.isSourceLockedOut('198.51.100.8'), false);
    assert.equal(throttle.unlockSource('198.51.100.7'), true);
    assert.equal(throttle.isSourceLockedOut('198.51.100.7'), false);
  });

  it('forgets failures older than the window and clears counts on success', () => {
    let now = 0;
    const throttle = new AuthThrottle(policy, () => now);
    throttle.recordFailure({ source: 's', user: 'u' });
    throttle.recordFailure({ source: 's', user: 'u' });
    now = 60_000;
    assert.equal(throttle.recordFailure({ source: 's', user: 'u' }), 100);
    assert.equal(throttle.isUserLockedOut('u'), false);
    throttle.recordSuccess('u', 's');
    assert.equal(throttle.recordFailure({ source: 's', user: 'u' }), 100);
  });

  it('rejects a policy it cannot enforce', () => {
    assert.throws(
      () => new AuthThrottle({ ...policy, userLockoutAfter: 0 }),
      (error: unknown) => error instanceof JailShellError && error.code === 'CONFIG_INVALID',
    );
    assert.throws(
      () => new AuthThrottle({ ...policy, baseDelayMs: -1 }),
      (error: unknown) => error instanceof JailShellError && error.code === 'CONFIG_INVALID',
    );
  });
});
