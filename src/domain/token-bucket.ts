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
 * Takes `cost` tokens if the bucket has them. Returns the new bucket and, when refused, how many
 * milliseconds until enough tokens have been refilled.
 */
export function takeTokens(
  bucket: TokenBucket,
  limits: TokenBucketLimits,
  cost: number,
  now: number,
): { bucket: TokenBucket; allowed: boolean; retryAfterMs: number } {
  const elapsed = Math.max(0, now - bucket.updatedAt);
  const tokens = Math.min(limits.burst, bucket.tokens + (elapsed * limits.ratePerSecond) / 1000);
  if (tokens >= cost) return { bucket: { tokens: tokens - cost, updatedAt: now }, allowed: true, retryAfterMs: 0 };
  const missing = cost - tokens;
  const retryAfterMs = limits.ratePerSecond > 0 ? Math.ceil((missing * 1000) / limits.ratePerSecond) : Number.POSITIVE_INFINITY;
  return { bucket: { tokens, updatedAt: now }, allowed: false, retryAfterMs };
}
