/**
 * The request rate limits of one node (src/ports/rate-limits.ts): a token bucket per API key and per
 * address, refilled at the budget's rate and holding at most one second of it, timed by the clock port.
 * Buckets of subjects that have been quiet long enough to be full again are forgotten.
 */
import { fullBucket, takeTokens, type TokenBucket, type TokenBucketLimits } from '../../domain/token-bucket.js';
import type { Clock } from '../../ports/clock.js';
import type { RateBudgets, RateSubject, RateVerdict, RequestRateLimits } from '../../ports/rate-limits.js';

/** How often full buckets are dropped. */
const SWEEP_MS = 10_000;

export class LocalRateLimits implements RequestRateLimits {
  private readonly byKey = new Map<string, TokenBucket>();
  private readonly byAddress = new Map<string, TokenBucket>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly budgets: RateBudgets,
    private readonly clock: Clock,
  ) {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  /** Synchronous: the verdict of this node alone (also what the shared limits fall back to). */
  takeNow(subject: RateSubject, cost: number): RateVerdict {
    const now = this.clock.now();
    if (subject.keyId !== null && this.budgets.perKey > 0) {
      const refused = this.takeFrom(this.byKey, subject.keyId, this.budgets.perKey, cost, now);
      if (refused !== null) return { allowed: false, limit: 'key', perSecond: this.budgets.perKey, retryAfterMs: refused };
    }
    if (this.budgets.perAddress > 0) {
      const refused = this.takeFrom(this.byAddress, subject.address, this.budgets.perAddress, cost, now);
      if (refused !== null) return { allowed: false, limit: 'address', perSecond: this.budgets.perAddress, retryAfterMs: refused };
    }
    return { allowed: true };
  }

  take(subject: RateSubject, cost: number): RateVerdict {
    return this.takeNow(subject, cost);
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  /** Null when taken, else the milliseconds until the bucket has enough. */
  private takeFrom(buckets: Map<string, TokenBucket>, subject: string, perSecond: number, cost: number, now: number): number | null {
    const limits = bucketLimits(perSecond);
    const taken = takeTokens(buckets.get(subject) ?? fullBucket(limits, now), limits, Math.min(cost, limits.burst), now);
    buckets.set(subject, taken.bucket);
    return taken.allowed ? null : taken.retryAfterMs;
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const [buckets, perSecond] of [
      [this.byKey, this.budgets.perKey],
      [this.byAddress, this.budgets.perAddress],
    ] as const) {
      // A bucket untouched for a second is full again: the same as no bucket.
      for (const [subject, bucket] of buckets) if (now - bucket.updatedAt >= 1_000 || perSecond <= 0) buckets.delete(subject);
    }
  }
}

function bucketLimits(perSecond: number): TokenBucketLimits {
  return { ratePerSecond: perSecond, burst: Math.max(1, Math.floor(perSecond)) };
}
