/**
 * What becomes of a durable job (memory formation, relationship judgements) when an attempt fails or its
 * worker disappears: the one rule both job queues (SQLite's and PostgreSQL's) apply, so they cannot drift.
 *
 * - A failed attempt is retried with exponential backoff — base · 2^(attempts−1), capped — until the
 *   job has had its `maxAttempts`; then it fails for good.
 * - A job whose lease ran out (its worker died or hung) is claimed again by any worker, unless that was
 *   its last attempt: then it fails ("the worker died during the last attempt") rather than running a
 *   job that may be what kills its workers forever.
 */

export interface RetryPolicy {
  /** First retry delay (ms); doubles per attempt. */
  baseMs: number;
  /** Longest retry delay (ms). */
  maxMs: number;
}

/** Delay before retry number `attempts` (1 after the first failure): base · 2^(attempts−1), capped. */
export function retryDelay(attempts: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempts - 1));
}

/**
 * Whether a job that has had `attempts` attempts may have another. The queues' claim SQL applies the same
 * rule to a job whose lease ran out (`attempts >= max_attempts` fails it).
 */
export function mayRetry(attempts: number, maxAttempts: number): boolean {
  return attempts < maxAttempts;
}

export interface FailedAttempt {
  /** Attempts made, this one included. */
  attempts: number;
  /** The job's limit; null when the job is gone (deleted meanwhile): nothing to retry then. */
  maxAttempts: number | null;
}

/** After a failed attempt at `now`: pending again from `runAfter`, or failed for good. */
export function afterFailure(attempt: FailedAttempt, now: number, policy: RetryPolicy): { status: 'pending' | 'failed'; runAfter: number } {
  const isFinal = attempt.maxAttempts === null || !mayRetry(attempt.attempts, attempt.maxAttempts);
  return { status: isFinal ? 'failed' : 'pending', runAfter: now + retryDelay(attempt.attempts, policy.baseMs, policy.maxMs) };
}
