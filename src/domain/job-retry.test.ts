import { describe, expect, it } from 'vitest';
import { afterFailure, mayRetry, retryDelay } from './job-retry.js';

const policy = { baseMs: 1_000, maxMs: 5_000 };

describe('retryDelay', () => {
  it('doubles per attempt from the base and stops at the cap', () => {
    expect([1, 2, 3, 4].map((attempt) => retryDelay(attempt, 1_000, 5_000))).toEqual([1_000, 2_000, 4_000, 5_000]);
    expect(retryDelay(0, 1_000, 5_000)).toBe(1_000);
  });
});

describe('afterFailure', () => {
  it('retries with backoff until the job has had its attempts, then fails it for good', () => {
    expect(afterFailure({ attempts: 1, maxAttempts: 3 }, 10_000, policy)).toEqual({ status: 'pending', runAfter: 11_000 });
    expect(afterFailure({ attempts: 2, maxAttempts: 3 }, 10_000, policy)).toEqual({ status: 'pending', runAfter: 12_000 });
    expect(afterFailure({ attempts: 3, maxAttempts: 3 }, 10_000, policy).status).toBe('failed');
    expect(afterFailure({ attempts: 7, maxAttempts: 3 }, 10_000, policy).status).toBe('failed');
  });

  it('allows another attempt only below the limit', () => {
    expect([0, 4, 5, 6].map((attempts) => mayRetry(attempts, 5))).toEqual([true, true, false, false]);
  });

  it('fails a job that is gone', () => {
    expect(afterFailure({ attempts: 1, maxAttempts: null }, 0, policy).status).toBe('failed');
  });
});
