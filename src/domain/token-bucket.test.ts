import { describe, expect, it } from 'vitest';
import { fullBucket, takeTokens } from './token-bucket.js';

const limits = { ratePerSecond: 10, burst: 20 };

describe('token bucket', () => {
  it('allows a burst, then refuses with the wait until one token is back', () => {
    const bucket = fullBucket(limits, 0);
    for (let index = 0; index < 20; index += 1) expect(takeTokens(bucket, limits, 1, 0)).toBe(0);
    expect(takeTokens(bucket, limits, 1, 0)).toBe(100);
  });

  it('refills at the rate, never above the burst', () => {
    const empty = { tokens: 0, updatedAt: 0 };
    takeTokens(empty, limits, 1, 250);
    expect(empty.tokens).toBeCloseTo(1.5);
    const later = { tokens: 0, updatedAt: 0 };
    takeTokens(later, limits, 1, 60_000);
    expect(later.tokens).toBe(19);
  });

  it('charges a batch its size', () => {
    const bucket = { tokens: 5, updatedAt: 0 };
    expect(takeTokens(bucket, limits, 6, 0)).toBe(100);
    expect(takeTokens(bucket, limits, 5, 0)).toBe(0);
    expect(bucket.tokens).toBe(0);
  });

  it('never says "retry in 0 ms" when refusing, and refuses for good at a rate of 0', () => {
    expect(takeTokens({ tokens: 0.99999, updatedAt: 0 }, { ratePerSecond: 1e9, burst: 1 }, 1, 0)).toBe(1);
    expect(takeTokens({ tokens: 0, updatedAt: 0 }, { ratePerSecond: 0, burst: 1 }, 1, 5)).toBe(Number.POSITIVE_INFINITY);
  });
});
