/**
 * The durable job queue port (DESIGN.md §3 step 6): post-turn work — memory extraction, importance
 * scoring, relationship and mood updates, summarisation — is written as a row in the store in the
 * same process that answers the client, and run in the background. A crash loses no job: a job that
 * was running when the process died is picked up again after its lease expires.
 */
export interface JobRecord {
  id: number;
  type: string;
  payload: Record<string, unknown>;
  /** How many times it has been started (1 on the first run). */
  attempts: number;
  createdAt: number;
  /**
   * Given by a queue that can mark the job completed in the transaction that writes its effect (the
   * SQLite queue, to a store on its own connection): a handler hands it to its last write — nothing that
   * can fail may follow it but work a later job redoes — and the job is done exactly when that write
   * commits, with no commit of its own. Without it, or when the store cannot take it, the queue writes
   * the completion once the handler resolves, as for any job.
   */
  completion?: JobCompletion;
}

/** A claimed job's completion, written by the store in the handler's write transaction ({@link JobRecord.completion}). */
export interface JobCompletion {
  /**
   * Inside the caller's outermost write transaction on `connection`: marks the job completed in it.
   * False, writing nothing, when the queue keeps its jobs on another connection (the caller goes on
   * without it).
   */
  writeWithin(connection: unknown): boolean;
  /** The transaction `writeWithin` wrote in has committed: the queue writes no completion of its own. */
  committed(): void;
  /**
   * Given by a queue that writes the jobs of one claim together (the SQLite queue): takes the job's last
   * write, on `connection`, instead of letting the store commit it now. Once every job of the claim has
   * come to its write or ended (their model calls first), the queue runs the writes in order in ONE write
   * transaction, each in a savepoint of its own with its job's completion, and resolves each with what its
   * `write` returned. A write that throws is rolled back alone (its promise rejects and its job is retried);
   * the others commit. Undefined, taking nothing, when the queue cannot (another connection, a transaction
   * already open, the queue stopping): the caller writes now.
   */
  writeJointly?<T>(connection: unknown, write: JointWrite<T>): Promise<T> | undefined;
}

/** A store's write handed to its job's claim ({@link JobCompletion.writeJointly}). */
export interface JointWrite<T> {
  /** Inside the claim's write transaction: the write itself. Synchronous: nothing may run between the claim's writes. */
  write(): T;
  /** Right after the transaction committed, before the promise resolves (what the store learns of its own commit). */
  committed(done: T): void;
  /** The write's savepoint, or the whole transaction, was rolled back (what `write` set aside goes back). */
  rolledBack(): void;
}

export type JobHandler = (job: JobRecord, signal: AbortSignal) => Promise<void>;

/**
 * Runs several due jobs of one type in one pass (one model call, one write transaction for all of them):
 * given two or more jobs, resolves with each one's outcome in order — `fulfilled` completes it,
 * `rejected` fails it as a throwing {@link JobHandler} does (retried with backoff, then failed). A batch
 * handler that throws fails every job of the batch.
 */
export type JobBatchHandler = (jobs: readonly JobRecord[], signal: AbortSignal) => Promise<ReadonlyArray<PromiseSettledResult<unknown>>>;

/** How a job type's due jobs may run together (`JobQueue.register`). */
export interface JobBatching {
  /** Runs two or more jobs together; a lone job always goes to the type's {@link JobHandler}. */
  handler: JobBatchHandler;
  /** Jobs given to `handler` at most at a time. */
  maxJobs: number;
}

/** How a job type's effect is written (`JobQueue.register`). */
export interface JobWriting {
  /**
   * Its last write may wait for the other jobs of its claim and commit with theirs
   * ({@link JobCompletion.writeJointly}): for jobs whose model calls are short or shared with the claim's
   * others (a turn's memory formation and relationship update), not for those whose write should not wait
   * for a long one (a summary's). A claim's writes commit before a job of another type starts.
   */
  withClaim: boolean;
}

export interface JobQueueStats {
  pending: number;
  /** Pending jobs that may run now (not scheduled for later, not waiting out a retry backoff). */
  due: number;
  running: number;
  failed: number;
  completed: number;
}

export interface JobQueue {
  /**
   * Persists a job; resolves once it is committed. With `dedupeKey`, a pending job with the same key
   * is not added twice (returns its id).
   */
  enqueue(type: string, payload: Record<string, unknown>, options?: { runAfter?: number; dedupeKey?: string; maxAttempts?: number }): Promise<number>;
  /**
   * The handler for a job type; registered before `start`. With `batching`, due jobs of the type that a
   * worker holds at once (turns came faster than their jobs ran) are handed over together; a job due
   * alone runs at once with `handler`, never waiting for company. A queue may ignore `batching`. With
   * `writing.withClaim`, a job's last write may wait for its claim's others' and commit with them; a queue
   * may ignore it.
   */
  register(type: string, handler: JobHandler, batching?: JobBatching, writing?: JobWriting): void;
  /** Starts the background worker (and reclaims jobs whose lease expired). */
  start(): void;
  /** Stops taking jobs and waits (bounded) for running ones; they are retried on next start if unfinished. */
  stop(): Promise<void>;
  stats(): Promise<JobQueueStats>;
  /** Resolves when no job is pending or running (tests, graceful shutdown). */
  drain(timeoutMs?: number): Promise<void>;
  /**
   * Starts no job while `isBusy()` says interactive work (a turn someone waits for) is running, for at
   * most `maxWaitMs` at a time, so background work runs between turns instead of in the middle of one.
   */
  yieldTo?(isBusy: () => boolean, maxWaitMs?: number): void;
  /**
   * Resolves after the event loop has taken in what arrived meanwhile (a request, a model's answer), once
   * the interactive work of `yieldTo` is done (at once when there is none), or after its `maxWaitMs`: a
   * running job awaits it between stretches of synchronous work, so a turn that arrived meanwhile does
   * not wait behind that work on the event loop.
   */
  giveWay?(): Promise<void>;
  /** Looks for due jobs now instead of at the next poll: another thread enqueued some (the jobs thread, `app/jobs-thread.ts`). */
  wake?(): void;
}
