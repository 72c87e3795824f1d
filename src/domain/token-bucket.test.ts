import { describe, expect, it } from 'vitest';
import { fullBucket, takeTokens } from './token-bucket.js';

const limits = { ratePerSecond: 10, burst: 20 };

describe('token bucket', () => {
  it('allows a burst, then refuses with the wait until one token is back', () => {
    let bucket = fullBucket(limits, 0);
    for (let index = 0; index < 20; index += 1) {
      const taken = takeTokens(bucket, limits, 1, 0);
      expect(taken.allowed).toBe(true);
      bucket = taken.bucket;
    }
    const refused = takeTokens(bucket, limits, 1, 0);
    expect(refused).toMatchObject({ allowed: false, retryAfterMs: 100 });
  });

  it('refills at the rate, never above the burst', () => {
    const empty = { tokens: 0, updatedAt: 0 };
    expect(takeTokens(empty, limits, 1, 250).bucket.tokens).toBeCloseTo(1.5);
    expect(takeTokens(empty, limits, 1, 60_000).bucket.tokens).toBe(19);
  });

  it('charges a batch its size', () => {
    const bucket = { tokens: 5, updatedAt: 0 };
    expect(takeTokens(bucket, limits, 6, 0)).toMatchObject({ allowed: false, retryAfterMs: 100 });
    expect(takeTokens(bucket, limits, 5, 0)).toMatchObject({ allowed: true });
  });
});
