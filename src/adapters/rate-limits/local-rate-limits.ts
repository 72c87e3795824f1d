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
  private readonly perKey: TokenBucketLimits;
  private readonly perAddress: TokenBucketLimits;

  constructor(
    private readonly budgets: RateBudgets,
    private readonly clock: Clock,
  ) {
    this.perKey = bucketLimits(budgets.perKey);
    this.perAddress = bucketLimits(budgets.perAddress);
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  /** Synchronous: the verdict of this node alone (also what the shared limits fall back to). */
  takeNow(subject: RateSubject, cost: number): RateVerdict {
    const now = this.clock.now();
    if (subject.keyId !== null && this.budgets.perKey > 0) {
      const refused = this.takeFrom(this.byKey, subject.keyId, this.perKey, cost, now);
      if (refused !== 0) return { allowed: false, limit: 'key', perSecond: this.budgets.perKey, retryAfterMs: refused };
    }
    if (this.budgets.perAddress > 0) {
      const refused = this.takeFrom(this.byAddress, subject.address, this.perAddress, cost, now);
      if (refused !== 0) return { allowed: false, limit: 'address', perSecond: this.budgets.perAddress, retryAfterMs: refused };
    }
    return ALLOWED;
  }

  take(subject: RateSubject, cost: number): RateVerdict {
    return this.takeNow(subject, cost);
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  /** 0 when taken, else the milliseconds until the bucket has enough. */
  private takeFrom(buckets: Map<string, TokenBucket>, subject: string, limits: TokenBucketLimits, cost: number, now: number): number {
    let bucket = buckets.get(subject);
    if (bucket === undefined) {
      bucket = fullBucket(limits, now);
      buckets.set(subject, bucket);
    }
    return takeTokens(bucket, limits, Math.min(cost, limits.burst), now);
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

/** One verdict for every allowed request: nothing to allocate on the common path. */
const ALLOWED: RateVerdict = Object.freeze({ allowed: true });

function bucketLimits(perSecond: number): TokenBucketLimits {
  return { ratePerSecond: perSecond, burst: Math.max(1, Math.floor(perSecond)) };
}
