/**
 * One reusable transaction wrapper per SQLite connection. better-sqlite3's `db.transaction(fn)` builds
 * four wrapper functions and defines their properties on every call (~5 µs, measured in a loop); the
 * stores called it for every write, several times per chat turn. A wrapper made once, taking the work
 * as its argument, does the same: BEGIN IMMEDIATE … COMMIT, or a savepoint when a transaction is
 * already open, rolled back when the work throws (and the error rethrown).
 *
 * An outermost transaction on a connection whose caches follow other connections (connection-follow.ts)
 * first applies what others committed, and once committed steps past the change-log rows it wrote itself.
 */
import type { JobCompletion } from '../../ports/jobs.js';
import { ConnectionFollow } from './connection-follow.js';
import type { Database } from './database.js';

/** Runs `work` in an IMMEDIATE transaction (a savepoint inside an open one); throws what it throws, after the rollback. */
export type ImmediateTransaction = <T>(work: () => T) => T;

const transactions = new WeakMap<Database, ImmediateTransaction>();

/** The connection's one reusable transaction wrapper (see the module comment). */
export function immediateTransaction(db: Database): ImmediateTransaction {
  let run = transactions.get(db);
  if (run === undefined) {
    const wrapper = db.transaction((work: () => unknown) => work());
    run = <T>(work: () => T): T => {
      const follow = db.inTransaction ? undefined : ConnectionFollow.existing(db);
      if (follow === undefined) return wrapper.immediate(work) as T;
      const result = wrapper.immediate(() => {
        follow.ownBegun();
        const done = work();
        follow.ownEnding();
        return done;
      }) as T;
      follow.ownCommitted();
      return result;
    };
    transactions.set(db, run);
  }
  return run;
}

/**
 * `work` in an IMMEDIATE transaction that also marks the job `completes` (ports/jobs.ts) completed, when it
 * is the outermost one: the job's effect and its completion commit together. Inside another transaction,
 * which may still roll back, the job is left for its queue to complete.
 */
export function completingTransaction<T>(db: Database, work: () => T, completes: JobCompletion | undefined): T {
  const completion = db.inTransaction ? undefined : completes;
  let isCompletionWritten = false;
  const result = immediateTransaction(db)(() => {
    const done = work();
    isCompletionWritten = completion?.writeWithin(db) ?? false;
    return done;
  });
  if (isCompletionWritten) completion!.committed();
  return result;
}
