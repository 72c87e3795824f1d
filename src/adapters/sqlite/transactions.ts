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
import type { JobCompletion, JointWrite } from '../../ports/jobs.js';
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
 * `work` in an IMMEDIATE transaction that also marks the jobs `completes` (ports/jobs.ts; or those it names
 * given what `work` returned) completed, when it is the outermost one: the jobs' effect and their
 * completions commit together. Inside another transaction, which may still roll back, the jobs are left
 * for their queue to complete.
 */
export function completingTransaction<T>(
  db: Database,
  work: () => T,
  completes: ReadonlyArray<JobCompletion | undefined> | ((done: T) => ReadonlyArray<JobCompletion | undefined>),
): T {
  const isOutermost = !db.inTransaction;
  const written: JobCompletion[] = [];
  const result = immediateTransaction(db)(() => {
    const done = work();
    if (isOutermost)
      for (const completion of typeof completes === 'function' ? completes(done) : completes) if (completion?.writeWithin(db) === true) written.push(completion);
    return done;
  });
  for (const completion of written) completion.committed();
  return result;
}

/**
 * `write` handed to the claim of the one job it completes (`JobCompletion.writeJointly`, `claim-writes.ts`):
 * resolves once the claim's one transaction has committed it. Undefined when the write completes no job
 * or several, runs inside an open transaction, or the job's queue cannot take it: the caller writes now.
 */
export function jointWrite<T>(db: Database, completes: ReadonlyArray<JobCompletion | undefined>, write: JointWrite<T>): Promise<T> | undefined {
  if (completes.length !== 1 || db.inTransaction) return undefined;
  return completes[0]?.writeJointly?.(db, write);
}
