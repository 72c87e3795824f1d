/**
 * Writes that may wait a moment, committed together: one transaction per connection per turn of the
 * event loop (or per `windowMs`), each write in its own savepoint. A chat turn's writes after its reply
 * — the topic filing, the mood's reaction, the mood samples, the job enqueues — were three to four
 * commits of their own (each BEGIN IMMEDIATE … COMMIT with its WAL append costs ~30 µs; four single
 * inserts in a loop cost 95–100 µs as four transactions, 32–37 µs as one with four savepoints). Here
 * they are one.
 *
 * Each write resolves with its own result once the transaction that holds it has committed, or rejects
 * with its own error (its savepoint rolled back; the others still commit). Readers of the stored rows
 * wait for its promise (the services keep them: `EmotionService.settled`, `TopicThreadService.settled`),
 * so nothing reads around a write that has not landed yet; the services that are these rows' only writer
 * show what they decided at once, from memory (the next turn's mood and filing do not wait for the commit).
 *
 * A crash before the commit loses these writes: a reply's are found again at start-up
 * (`SqliteStore.pendingAfterReplies`, the turn runner's `recoverAfterReplies`).
 */
import type { Database } from './database.js';
import { immediateTransaction, type ImmediateTransaction } from './transactions.js';
import { rejectClosed, settleEach, type WriteOutcome, type WriteSettlement } from '../write-outcomes.js';

interface DeferredWrite extends WriteSettlement {
  work: () => unknown;
  link: WriteLink;
}

/**
 * A deferred write tied to another of the connection's: a mood change and its mood-history sample are
 * written both or neither (a sample of a change that was rolled back would show a mood the persona never had).
 */
export interface WriteLink {
  /** This write's name: a later write that `needs` it is not done while this one's last try failed. */
  name?: string;
  /** The name of the write this one describes: not done (rejected) when that one's last try failed. */
  needs?: string;
}

/** Why a write that `needs` another was not done. */
export class NeededWriteFailed extends Error {
  constructor(name: string) {
    super(`not written: the write it describes (${name}) failed`);
    this.name = 'NeededWriteFailed';
  }
}

export class WriteBatch {
  private pending: DeferredWrite[] = [];
  /** The named writes (`WriteLink.name`) whose last try failed; one entry per name at most. */
  private readonly failedNames = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private isScheduled = false;

  /** @param windowMs how long writes gather before their commit; 0 (default): the next turn of the event loop. */
  constructor(
    private readonly db: Database,
    private windowMs = 0,
  ) {}

  /** Changes how long writes gather (`database.writeBatchMs`); applies from the next batch. */
  setWindow(ms: number): void {
    this.windowMs = ms;
  }

  /** Writes waiting for their commit. */
  get size(): number {
    return this.pending.length;
  }

  /**
   * Runs `work` (synchronous SQLite statements) in the next batch's transaction; resolves once that has
   * committed. With `link.needs`, not run (rejected with `NeededWriteFailed`) when that write failed.
   */
  defer<T>(work: () => T, link: WriteLink = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ work, link, resolve: resolve as (value: unknown) => void, reject });
      if (this.isScheduled) return;
      this.isScheduled = true;
      // Scheduled from inside a turn of the event loop's check phase (the writes that follow a reply wait
      // for pending I/O with setImmediate), the flush runs after every other callback of that phase: the
      // filing, the mood and the enqueues of one reply land in one batch.
      // Referenced: a write someone awaits keeps the process alive until it commits (unreferenced, a
      // restart redoing a crash's after-reply writes before it listens ended with exit code 0 instead).
      if (this.windowMs > 0) this.timer = setTimeout(() => this.flush(), this.windowMs);
      else setImmediate(() => this.flush());
    });
  }

  /**
   * `defer`, then commits the batch at once unless writes gather for a window (`database.writeBatchMs`):
   * for the last write of a moment whose other writes are in the batch already (a reply's after-reply
   * writes: the clearing of its pending record is asked for after them), so that they commit before the
   * event loop reads new input instead of in its next turn.
   */
  deferAndCommit<T>(work: () => T): Promise<T> {
    const written = this.defer(work);
    if (this.windowMs === 0) this.flush();
    return written;
  }

  /** Commits the waiting writes now (the connection is closing, a reader cannot wait). */
  flush(): void {
    this.isScheduled = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    if (!this.db.open) {
      rejectClosed(batch);
      return;
    }
    const transaction = immediateTransaction(this.db);
    const outcomes: WriteOutcome[] = [];
    try {
      transaction(() => {
        for (const write of batch) outcomes.push(this.run(transaction, write));
      });
    } catch (error) {
      // BEGIN or COMMIT failed (another process held the lock past the busy timeout): nothing was written.
      for (const write of batch) write.reject(error);
      return;
    }
    settleEach(batch, outcomes);
  }

  /** One write of the batch, in a savepoint of `transaction` (rolled back alone when the write throws). */
  private run(transaction: ImmediateTransaction, write: DeferredWrite): WriteOutcome {
    const { name, needs } = write.link;
    if (needs !== undefined && this.failedNames.has(needs)) return { error: new NeededWriteFailed(needs) };
    try {
      const value = transaction(write.work);
      if (name !== undefined) this.failedNames.delete(name);
      return { value };
    } catch (error) {
      if (name !== undefined) this.failedNames.add(name);
      return { error };
    }
  }
}

const batches = new WeakMap<Database, WriteBatch>();

/** The connection's one write batch (see the module comment). */
export function writeBatch(db: Database): WriteBatch {
  let batch = batches.get(db);
  if (batch === undefined) {
    batch = new WriteBatch(db);
    batches.set(db, batch);
  }
  return batch;
}
