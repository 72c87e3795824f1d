/**
 * What the two write batches (`sqlite/write-batch.ts`, `postgres/write-batch.ts`) share: how each deferred
 * write learns what became of it once its batch's transaction has ended.
 */

/** A deferred write's promise, as a batch holds it. */
export interface WriteSettlement {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** What one write of a committed batch gave: its result, or the error its savepoint was rolled back for. */
export type WriteOutcome = { value: unknown } | { error: unknown };

/** Settles each write of a committed batch with its own outcome (same index). */
export function settleEach(batch: readonly WriteSettlement[], outcomes: readonly WriteOutcome[]): void {
  batch.forEach((write, index) => {
    const outcome = outcomes[index]!;
    if ('error' in outcome) write.reject(outcome.error);
    else write.resolve(outcome.value);
  });
}

/** Fails every write of a batch that was never committed (the database closed first). */
export function rejectClosed(batch: readonly WriteSettlement[]): void {
  const closed = new Error('the database was closed before these writes were committed');
  for (const write of batch) write.reject(closed);
}
