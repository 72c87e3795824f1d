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
