export interface RateLimit {
  /** Submissions a client may make at once. */
  readonly burst: number;
  /** One more submission is allowed every this many milliseconds, up to `burst`. */
  readonly refillEveryMs: number;
}

/** Clients tracked at most; beyond it the ones whose allowance has refilled are forgotten (they lose nothing). */
const MAX_TRACKED_CLIENTS = 10_000;

interface Allowance {
  tokens: number;
  updatedAt: number;
}

/**
 * A token bucket per client address: `burst` submissions at once, then one per `refillEveryMs`. Kept in memory:
 * a restarted hostd forgets it, which costs an attacker a restart they cannot cause from the page.
 */
export class ClientRateLimiter {
  readonly #allowances = new Map<string, Allowance>();

  constructor(
    readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one submission from the client's allowance: 0 if allowed, else the milliseconds until the next one. */
  take(client: string): number {
    const now = this.now();
    const allowance = this.#refilled(client, now);
    if (allowance.tokens >= 1) {
      allowance.tokens -= 1;
      this.#allowances.set(client, allowance);
      this.#forgetIdleClients(now);
      return 0;
    }
    this.#allowances.set(client, allowance);
    return Math.ceil((1 - allowance.tokens) * this.limit.refillEveryMs);
  }

  #refilled(client: string, now: number): Allowance {
    const known = this.#allowances.get(client);
    if (known === undefined) return { tokens: this.limit.burst, updatedAt: now };
    const earned = (now - known.updatedAt) / this.limit.refillEveryMs;
    return { tokens: Math.min(this.limit.burst, known.tokens + earned), updatedAt: now };
  }

  #forgetIdleClients(now: number): void {
    if (this.#allowances.size <= MAX_TRACKED_CLIENTS) return;
    for (const [client, allowance] of this.#allowances) {
      if (this.#refilled(client, now).tokens >= this.limit.burst || allowance.updatedAt < now - 86_400_000) {
        this.#allowances.delete(client);
      }
    }
  }
}
