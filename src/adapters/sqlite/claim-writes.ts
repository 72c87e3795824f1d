/**
 * The last writes of the jobs one claim took, committed together (`JobCompletion.writeJointly`, ports/jobs.ts).
 *
 * A chat turn's formation and relationship jobs are claimed together; each wrote its effect with its
 * completion in a transaction of its own, two WAL commits a turn that rewrote the same pages twice (the
 * jobs table and its indexes, FTS5's structure record, index roots). Now a job that comes to its write
 * hands it over and waits; the queue starts the claim's next job meanwhile, and once every job of the
 * claim has come to its write or ended, the writes run in one transaction: each with its job's completion,
 * in a savepoint of its own after the first (one that throws is rolled back alone, its job retried), then
 * one commit.
 * A kill -9 before that commit leaves every job of the claim to run again, none half-written.
 */
import type { JointWrite } from '../../ports/jobs.js';
import type { Database } from './database.js';
import { immediateTransaction } from './transactions.js';

/** A job's write waiting for the rest of its claim. */
interface WaitingWrite {
  jobId: number;
  write: JointWrite<unknown>;
  /** Marks the job's completion committed, so its queue writes none of its own. */
  committed: () => void;
  resolve: (done: unknown) => void;
  reject: (error: unknown) => void;
}

export class ClaimWrites {
  private waiting: WaitingWrite[] = [];

  constructor(
    private readonly db: Database,
    /** Inside the write transaction: marks job `id` completed. */
    private readonly markCompleted: (jobId: number) => void,
  ) {}

  /** Writes waiting for the rest of their claim (each holds a running job). */
  get size(): number {
    return this.waiting.length;
  }

  /** Takes job `jobId`'s write; it resolves once {@link writeAll} has committed it. */
  add<T>(jobId: number, write: JointWrite<T>, committed: () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ jobId, write: write as JointWrite<unknown>, committed, resolve: resolve as (done: unknown) => void, reject });
    });
  }

  /**
   * Runs the waiting writes in one transaction, each in a savepoint with its completion, and settles
   * each. The first needs no savepoint: nothing is written before it, so when it throws the transaction
   * is rolled back whole and the others go on in the next. (A savepoint copies each page it changes
   * aside first: ~0.1 ms for a formation's memories, about what the commit saved costs.)
   */
  writeAll(): void {
    const writes = this.waiting;
    this.waiting = [];
    const outcomes: Array<PromiseSettledResult<unknown>> = [];
    const transaction = immediateTransaction(this.db);
    const written = (entry: WaitingWrite): unknown => {
      const done = entry.write.write();
      this.markCompleted(entry.jobId);
      return done;
    };
    while (outcomes.length < writes.length) {
      const first = outcomes.length;
      let isFirstFailed = false;
      try {
        const settled = transaction(() => {
          let value: unknown;
          try {
            value = written(writes[first]!);
          } catch (error) {
            isFirstFailed = true;
            throw error;
          }
          const rest = writes.slice(first + 1).map((entry): PromiseSettledResult<unknown> => {
            try {
              return { status: 'fulfilled', value: transaction(() => written(entry)) };
            } catch (error) {
              return { status: 'rejected', reason: error };
            }
          });
          return [{ status: 'fulfilled', value } as const, ...rest];
        });
        outcomes.push(...settled);
      } catch (error) {
        // The first write failed (its transaction, nothing else in it, rolled back), or the commit did: nothing was written.
        if (isFirstFailed) outcomes.push({ status: 'rejected', reason: error });
        else while (outcomes.length < writes.length) outcomes.push({ status: 'rejected', reason: error });
      }
    }
    for (const [index, entry] of writes.entries()) {
      const outcome = outcomes[index]!;
      if (outcome.status === 'rejected') {
        entry.write.rolledBack();
        entry.reject(outcome.reason);
        continue;
      }
      entry.committed();
      try {
        entry.write.committed(outcome.value);
        entry.resolve(outcome.value);
      } catch (error) {
        entry.reject(error);
      }
    }
  }
}
