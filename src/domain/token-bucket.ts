/**
 * A token bucket (the classic rate limiter): a connection may send `burst` requests at once and
 * `ratePerSecond` on average. Pure: the caller passes the time in milliseconds.
 */
export interface TokenBucket {
  tokens: number;
  updatedAt: number;
}

export interface TokenBucketLimits {
  ratePerSecond: number;
  burst: number;
}

export function fullBucket(limits: TokenBucketLimits, now: number): TokenBucket {
  return { tokens: limits.burst, updatedAt: now };
}

/**
 * Refills the bucket up to `now` and takes `cost` tokens if it has them. Returns 0 when taken, else
 * how many milliseconds until enough tokens are back (Infinity at a rate of 0). Updates the bucket in
 * place: it runs for every request, and a new bucket object each time was garbage for the collector.
 */
export function takeTokens(bucket: TokenBucket, limits: TokenBucketLimits, cost: number, now: number): number {
  const elapsed = Math.max(0, now - bucket.updatedAt);
  const tokens = Math.min(limits.burst, bucket.tokens + (elapsed * limits.ratePerSecond) / 1000);
  bucket.updatedAt = now;
  if (tokens >= cost) {
    bucket.tokens = tokens - cost;
    return 0;
  }
  bucket.tokens = tokens;
  const missing = cost - tokens;
  return limits.ratePerSecond > 0 ? Math.max(1, Math.ceil((missing * 1000) / limits.ratePerSecond)) : Number.POSITIVE_INFINITY;
}
