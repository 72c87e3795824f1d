/**
 * One reusable transaction wrapper per SQLite connection. better-sqlite3's `db.transaction(fn)` builds
 * four wrapper functions and defines their properties on every call (~5 µs, measured in a loop); the
 * stores called it for every write, several times per chat turn. A wrapper made once, taking the work
 * as its argument, does the same: BEGIN IMMEDIATE … COMMIT, or a savepoint when a transaction is
 * already open, rolled back when the work throws (and the error rethrown).
 */
import type { Database } from './database.js';

/** Runs `work` in an IMMEDIATE transaction (a savepoint inside an open one); throws what it throws, after the rollback. */
export type ImmediateTransaction = <T>(work: () => T) => T;

const transactions = new WeakMap<Database, ImmediateTransaction>();

/** The connection's one reusable transaction wrapper (see the module comment). */
export function immediateTransaction(db: Database): ImmediateTransaction {
  let run = transactions.get(db);
  if (run === undefined) {
    const wrapper = db.transaction((work: () => unknown) => work());
    run = <T>(work: () => T): T => wrapper.immediate(work) as T;
    transactions.set(db, run);
  }
  return run;
}
