/**
 * Request rate limits shared by every node (src/ports/rate-limits.ts), counted in Redis with
 * rate-limiter-flexible: a fixed one-second window per API key and per address, timed by Redis (key
 * expiry), so the nodes' clocks do not matter and two nodes give a client one budget, not two.
 *
 * When Redis cannot answer (down, not yet reconnected, or slower than `timeoutMs`) each node falls back to
 * its own limits (LocalRateLimits) and says so once in the log; requests keep being served. The shared
 * budget is used again as soon as Redis answers.
 */
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateBudgets, RateSubject, RateVerdict, RequestRateLimits } from '../../ports/rate-limits.js';
import type { LocalRateLimits } from '../rate-limits/local-rate-limits.js';
import type { RedisConnection } from './connection.js';

export interface SharedRateLimitsOptions {
  budgets: RateBudgets;
  /** Answers while Redis does not. */
  fallback: LocalRateLimits;
  /** Longest wait for Redis before a request is judged by the node's own limits. */
  timeoutMs?: number;
  /** Told when the limits stop being shared (with why) and when they are shared again. */
  onShared?: (shared: boolean, error?: unknown) => void;
}

export class SharedRateLimits implements RequestRateLimits {
  private readonly perKey: RateLimiterRedis | null;
  private readonly perAddress: RateLimiterRedis | null;
  private readonly timeoutMs: number;
  private shared = true;

  constructor(
    redis: RedisConnection,
    private readonly options: SharedRateLimitsOptions,
  ) {
    const limiter = (name: string, perSecond: number): RateLimiterRedis | null =>
      perSecond > 0
        ? new RateLimiterRedis({
            storeClient: redis.commands,
            keyPrefix: redis.key(`rate:${name}`),
            points: perSecond,
            duration: 1,
            // Not ready (reconnecting): refuse at once, so the node's own limits answer without waiting.
            rejectIfRedisNotReady: true,
          })
        : null;
    this.perKey = limiter('key', options.budgets.perKey);
    this.perAddress = limiter('address', options.budgets.perAddress);
    this.timeoutMs = options.timeoutMs ?? 250;
  }

  async take(subject: RateSubject, cost: number): Promise<RateVerdict> {
    const { budgets } = this.options;
    const checks: Array<Promise<RateVerdict>> = [];
    if (this.perKey !== null && subject.keyId !== null) checks.push(consume(this.perKey, subject.keyId, cost, budgets.perKey, 'key'));
    if (this.perAddress !== null) checks.push(consume(this.perAddress, subject.address, cost, budgets.perAddress, 'address'));
    if (checks.length === 0) return { allowed: true };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      const verdicts = await Promise.race([Promise.all(checks), timeout]);
      if (!this.shared) {
        this.shared = true;
        this.options.onShared?.(true);
      }
      return verdicts.find((verdict) => !verdict.allowed) ?? { allowed: true };
    } catch (error) {
      if (this.shared) {
        this.shared = false;
        this.options.onShared?.(false, error);
      }
      return this.options.fallback.takeNow(subject, cost);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.options.fallback.close();
  }
}

/** A verdict from one limiter; rejects only when Redis failed (an exhausted budget is a verdict). */
async function consume(limiter: RateLimiterRedis, subject: string, cost: number, perSecond: number, limit: 'key' | 'address'): Promise<RateVerdict> {
  try {
    // A batch larger than a whole second's budget passes when the budget is untouched (else it never could).
    await limiter.consume(subject, Math.max(1, Math.min(Math.ceil(cost), perSecond)));
    return { allowed: true };
  } catch (outcome) {
    if (outcome instanceof RateLimiterRes) return { allowed: false, limit, perSecond, retryAfterMs: Math.max(1, outcome.msBeforeNext) };
    throw outcome;
  }
}
