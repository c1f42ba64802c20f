import { JailShellError } from './errors.js';

export interface AuthThrottlePolicy {
  /** Delay before answering the first failure; doubles with each further failure. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Failed verification codes for one user before that user is locked out. */
  readonly userLockoutAfter: number;
  /** Failures of any kind from one address before that address is locked out. */
  readonly sourceLockoutAfter: number;
  /** Failures older than this are forgotten. */
  readonly failureWindowMs: number;
}

export const DEFAULT_AUTH_THROTTLE_POLICY: AuthThrottlePolicy = {
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  userLockoutAfter: 5,
  sourceLockoutAfter: 20,
  failureWindowMs: 15 * 60_000,
};

export function validateAuthThrottlePolicy(policy: AuthThrottlePolicy): AuthThrottlePolicy {
  for (const [name, value] of Object.entries(policy) as [string, unknown][]) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw new JailShellError(
        'CONFIG_INVALID',
        `Throttle setting ${name} must be a non-negative integer, got ${String(value)}`,
      );
    }
  }
  if (policy.userLockoutAfter < 1 || policy.sourceLockoutAfter < 1) {
    throw new JailShellError('CONFIG_INVALID', 'Lockout thresholds must be at least 1');
  }
  return policy;
}

/**
 * Counts authentication failures per user and per source address, turns them into a growing
 * delay, and locks a user or address out once it reaches its threshold, until an owner lifts it.
 * A user is charged only for wrong verification codes (reaching that step needs the user's key),
 * so a stranger cannot lock a user out; a source is charged for every failure.
 */
export class AuthThrottle {
  private readonly userFailures = new Map<string, number[]>();
  private readonly sourceFailures = new Map<string, number[]>();
  private readonly lockedUsers = new Set<string>();
  private readonly lockedSources = new Set<string>();

  constructor(
    private readonly policy: AuthThrottlePolicy = DEFAULT_AUTH_THROTTLE_POLICY,
    private readonly now: () => number = Date.now,
  ) {
    validateAuthThrottlePolicy(policy);
  }

  isUserLockedOut(user: string): boolean {
    return this.lockedUsers.has(user);
  }

  isSourceLockedOut(source: string): boolean {
    return this.lockedSources.has(source);
  }

  /** Records a failure and returns how long to wait before answering it. */
  recordFailure(failure: { source: string; user?: string }): number {
    const sourceCount = this.append(this.sourceFailures, failure.source);
    if (sourceCount >= this.policy.sourceLockoutAfter) this.lockedSources.add(failure.source);
    let userCount = 0;
    if (failure.user !== undefined) {
      userCount = this.append(this.userFailures, failure.user);
      if (userCount >= this.policy.userLockoutAfter) this.lockedUsers.add(failure.user);
    }
    const exponent = Math.max(sourceCount, userCount) - 1;
    return Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** Math.min(exponent, 30));
  }

  recordSuccess(user: string, source: string): void {
    this.userFailures.delete(user);
    this.sourceFailures.delete(source);
  }

  unlockUser(user: string): boolean {
    this.userFailures.delete(user);
    return this.lockedUsers.delete(user);
  }

  unlockSource(source: string): boolean {
    this.sourceFailures.delete(source);
    return this.lockedSources.delete(source);
  }

  lockedOut(): { users: string[]; sources: string[] } {
    return { users: [...this.lockedUsers].sort(), sources: [...this.lockedSources].sort() };
  }

  private append(failures: Map<string, number[]>, key: string): number {
    const now = this.now();
    const recent = (failures.get(key) ?? []).filter((at) => now - at < this.policy.failureWindowMs);
    recent.push(now);
    failures.set(key, recent);
    return recent.length;
  }
}
