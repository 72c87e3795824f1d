/**
 * Writes that may wait a moment, committed together on PostgreSQL: the counterpart of
 * `../sqlite/write-batch.ts`. A chat turn's writes after its reply — the topic filing, the mood's
 * reaction, the mood sample, the job enqueues, the clearing of the reply's `after_reply_pending` record —
 * were one transaction (one WAL flush, one round trip to the server for its COMMIT) each. Asked for in the
 * same turn of the event loop (or within `windowMs`), they are now one transaction on one pooled
 * connection, each in its own savepoint: a failing write rolls back alone and rejects its own promise;
 * the others commit. Each promise settles once the transaction that holds it has committed.
 *
 * Batches commit one after another (a batch asked for while the previous one commits waits for it), so a
 * node's deferred writes land in the order they were asked for. A crash before a commit loses that
 * batch: a reply's writes are found again by its `after_reply_pending` record (`PostgresStore`), and a
 * write named with `kind` in a reply's scope is done once for that reply whoever redoes it
 * (`after-reply-fence.ts`).
 */
import { replyWrite, type ReplyWrite } from '../after-reply-scope.js';
import { writeOnce } from './after-reply-fence.js';
import type { PostgresDatabase, TransactionClient } from './database.js';
import { translatePgError } from './errors.js';
import { rejectClosed, settleEach, type WriteOutcome, type WriteSettlement } from '../write-outcomes.js';

interface DeferredWrite extends WriteSettlement {
  work: (tx: TransactionClient) => Promise<unknown>;
  /** The reply whose after-reply write this is, when asked for in its scope with a kind. */
  reply: ReplyWrite | null;
}

export class PgWriteBatch {
  private pending: DeferredWrite[] = [];
  private timer: NodeJS.Timeout | null = null;
  private isScheduled = false;
  /** The batch committing now (the next one starts after it). */
  private committing: Promise<void> = Promise.resolve();

  /** @param windowMs how long writes gather before their commit; 0 (default): the next turn of the event loop. */
  constructor(
    private readonly db: PostgresDatabase,
    private windowMs = 0,
  ) {
    db.onClose(() => this.flush());
  }

  /** Changes how long writes gather (`database.writeBatchMs`); applies from the next batch. */
  setWindow(ms: number): void {
    this.windowMs = ms;
  }

  /** Writes waiting for their commit. */
  get size(): number {
    return this.pending.length;
  }

  /**
   * Runs `work` in the next batch's transaction (its statements on `tx` only: what it writes is not
   * visible to the pool's other connections before the commit); resolves once that has committed.
   * `kind` names the write among a reply's after-reply writes, so it is done once per reply
   * (`after-reply-fence.ts`; its result then is JSON).
   */
  defer<T>(work: (tx: TransactionClient) => Promise<T>, kind?: string): Promise<T> {
    const reply = kind === undefined ? null : replyWrite(kind);
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ work, reply, resolve: resolve as (value: unknown) => void, reject });
      if (this.isScheduled) return;
      this.isScheduled = true;
      // As in the SQLite batch: scheduled from the check phase (the after-reply writes wait for pending
      // I/O with setImmediate), the flush runs after that phase's other callbacks, so they join it.
      if (this.windowMs > 0) {
        this.timer = setTimeout(() => void this.flush(), this.windowMs);
        this.timer.unref();
      } else setImmediate(() => void this.flush());
    });
  }

  /** Commits the waiting writes now (after the batch committing, if any); resolves once they are settled. */
  flush(): Promise<void> {
    this.isScheduled = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    if (batch.length === 0) return this.committing;
    this.pending = [];
    const commit = this.committing.then(() => this.commit(batch));
    this.committing = commit;
    return commit;
  }

  private async commit(batch: DeferredWrite[]): Promise<void> {
    if (this.db.isClosed) {
      rejectClosed(batch);
      return;
    }
    const outcomes: WriteOutcome[] = [];
    try {
      await this.db.transaction(async (tx) => {
        // One write: its failure is the transaction's, no savepoint needed (two round trips fewer).
        if (batch.length === 1) {
          outcomes.push({ value: await this.run(tx, batch[0]!) });
          return;
        }
        for (const write of batch) {
          await tx.query('SAVEPOINT deferred_write');
          try {
            outcomes.push({ value: await this.run(tx, write) });
            await tx.query('RELEASE SAVEPOINT deferred_write');
          } catch (error) {
            // A failed statement aborts the transaction until this rollback; the other writes go on.
            await tx.query('ROLLBACK TO SAVEPOINT deferred_write');
            await tx.query('RELEASE SAVEPOINT deferred_write');
            outcomes.push({ error: translatePgError(error, this.db.label) });
          }
        }
      });
    } catch (error) {
      // BEGIN, a rollback to a savepoint or COMMIT failed (the connection lost): nothing was written.
      for (const write of batch) write.reject(error);
      return;
    }
    settleEach(batch, outcomes);
  }

  private run(tx: TransactionClient, write: DeferredWrite): Promise<unknown> {
    return writeOnce(this.db, tx, write.reply, () => write.work(tx));
  }
}

const batches = new WeakMap<PostgresDatabase, PgWriteBatch>();

/** The database's one write batch (see the module comment). */
export function pgWriteBatch(db: PostgresDatabase): PgWriteBatch {
  let batch = batches.get(db);
  if (batch === undefined) {
    batch = new PgWriteBatch(db);
    batches.set(db, batch);
  }
  return batch;
}
