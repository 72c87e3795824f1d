/**
 * The durable job queue (src/ports/jobs.ts) on the store's SQLite file.
 *
 * - A job is a row (migration 0002). `enqueue` commits it before resolving, so a job the client was told
 *   about survives a crash.
 * - A worker claims a job in one UPDATE … RETURNING: it becomes `running` with a lease (`leaseMs`) owned by
 *   this process. While the handler runs, the lease is renewed every `leaseMs / 3`.
 * - A process killed mid-job stops renewing; once the lease expires any worker claims the job again
 *   (`attempts` + 1). Completing or failing checks the lease owner, so a worker that lost its lease
 *   cannot complete a job twice.
 * - A handler that throws is retried with exponential backoff (`retryDelay`) until `maxAttempts`, then
 *   the job is `failed` and kept with its last error.
 * - A finished job's completion is written with the next claim, in the same transaction (one commit
 *   per job instead of two). With no job due, it waits for the next one (a chat turn queues its jobs a
 *   few seconds apart) for at most `pollMs` (and a third of the lease), then is written on its own;
 *   `drain` and `stop` write it at once. Until then the job reads as running in the table but counts as
 *   completed in `stats` (a crash in between runs it again, as after any crash mid-job). Looking for a
 *   due job is a read: a worker that finds none writes nothing.
 * - A handler may instead hand its job's `completion` to its last write (`completingTransaction`, by a store
 *   on this connection): the job is marked completed in that transaction, with no commit of its own.
 *   Memory formation and the relationship update do: a turn's jobs cost their own writes and nothing more.
 * - With `claimWrites`, the jobs of one claim write together (`claim-writes.ts`): a handler's last write handed over with its
 *   completion (`JobCompletion.writeJointly`) waits while the claim's next job runs; once every job of the
 *   claim has come to its write or ended, all those writes commit in one transaction.
 * - A claim takes the due jobs of a turn together (up to {@link CLAIM_BATCH}, oldest first) and this
 *   process runs them one after another: a chat turn's formation and relationship jobs cost one claim.
 *   Claimed jobs of a type registered with batching run together, in one call of its batch handler
 *   (several turns' formations when turns came faster than their jobs ran); a lone one runs alone.
 *   An idle worker claims them in the transaction that enqueues them. A claimed job waiting for its
 *   turn keeps its lease (renewed with the running job's) and counts as pending in `stats`; `stop` gives
 *   it back. A crash leaves it to be claimed again once its lease expires, like the job that was running.
 * Handlers must be idempotent: a job may run again after a crash that happened after its effect was
 * written but before it was marked completed.
 */
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../../ports/clock.js';
import type { JobBatching, JobCompletion, JobHandler, JobQueue, JobQueueStats, JobRecord, JobWriting } from '../../ports/jobs.js';
import type BetterSqlite3 from 'better-sqlite3';
import { afterFailure } from '../../domain/job-retry.js';
import {
  InteractiveYield,
  jobQueueSettings,
  RunningJobs,
  settleBatch,
  silentLogger,
  takeNextToRun,
  toJob,
  YIELD_POLL_MS,
  type JobQueueOptions,
  type JobQueueSettings,
  type JobRow,
} from '../jobs/job-worker.js';
import { localProcess, mayStillRun, newOwnerName, ownersRunningHere } from './claim-owner.js';
import type { Database } from './database.js';
import { immediateTransaction } from './transactions.js';
import { copiedJob } from './copied-marks.js';
import { ClaimWrites } from './claim-writes.js';
import { writeBatch } from './write-batch.js';

/**
 * Due jobs one claim takes: a chat turn queues two or three (memory formation, the relationship update,
 * now and then a summary), so one claim and one commit start all of them; when turns came faster than
 * their jobs ran, the claim holds several turns' jobs, and those of a type registered with batching run
 * together (`register`'s `batching`).
 */

/**
 * A running job that goes back to pending (taken back from a dead process, released at stop, retried)
 * while a pending job with its dedupe key exists: only one pending job may hold a key (`jobs_pending_dedupe`),
 * and the pending twin is the same work enqueued again (an enqueue with that key returns it), so the
 * running one is dropped rather than made pending beside it. (Making it pending broke every later start:
 * the take-back failed on the unique index, a restart after a kill -9 mid `memory.expand` never started.)
 */
const HAS_PENDING_TWIN = `dedupe_key IS NOT NULL AND EXISTS (SELECT 1 FROM jobs AS twin WHERE twin.dedupe_key = jobs.dedupe_key AND twin.status = 'pending')`;

export const CLAIM_BATCH = 8;

/** The queue's options (shared with the PostgreSQL queue: `../jobs/job-worker.ts`). */
export type SqliteJobQueueOptions = JobQueueOptions & {
  /**
   * The last writes of a claim's jobs of the types registered `{ withClaim: true }` commit together
   * (`claim-writes.ts`, config `jobs.claimWrites`). Defaults to false: one transaction a turn fewer, but
   * the in-process bench measured more CPU for the jobs with it, not less (bench/README.md, round 15 claimtx).
   */
  claimWrites?: boolean;
};

/** The backoff rule lives in the domain (`domain/job-retry.ts`), shared with the PostgreSQL queue. */
export { retryDelay } from '../../domain/job-retry.js';

type EnqueueOptions = { runAfter?: number; dedupeKey?: string; maxAttempts?: number };

/** An enqueue waiting for its batch's transaction. */
interface UnwrittenJob {
  type: string;
  json: string;
  options: EnqueueOptions;
  resolve: (id: number) => void;
  reject: (error: unknown) => void;
}

export class SqliteJobQueue implements JobQueue {
  private readonly statements = new Map<string, BetterSqlite3.Statement>();
  /** Identifies this process's claims (`lease_owner`). */
  readonly owner = newOwnerName();
  private readonly clock: Clock;
  private readonly logger: Pick<Logger, 'warn' | 'error' | 'debug'>;
  private readonly settings: JobQueueSettings;
  private readonly handlers = new Map<string, JobHandler>();
  private readonly batching = new Map<string, JobBatching>();
  /** The types whose last write may wait for their claim's other jobs (`JobWriting`). */
  private readonly writingWithClaim = new Set<string>();
  /** The registered types as the claim's `json_each` reads them (made once per `register`, not per claim). */
  private handledTypes = '[]';
  private readonly running = new RunningJobs();
  private isStarted = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly idleWaiters = new Set<() => void>();
  /** Enqueues of this turn of the event loop, written together by `writeEnqueued`. */
  private unwritten: UnwrittenJob[] = [];
  /** Jobs of this process that finished, whose completion the next claim writes (`claim`), and since when the oldest waits. */
  private completed: number[] = [];
  private completedSince = 0;
  /** Jobs claimed by this process (their leases held) that have not started yet, in claim order. */
  private waiting: JobRecord[] = [];
  private readonly yielding: InteractiveYield;
  /** The last writes of the running jobs of this claim, waiting to commit together. */
  private readonly claimWrites: ClaimWrites;
  private readonly isWritingClaimsTogether: boolean;

  constructor(
    private readonly db: Database,
    options: SqliteJobQueueOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.settings = jobQueueSettings(options);
    this.yielding = new InteractiveYield(this.clock, () => this.isStarted);
    this.claimWrites = new ClaimWrites(db, (jobId) => this.markOneCompleted(jobId, this.clock.now()));
    this.isWritingClaimsTogether = options.claimWrites ?? false;
  }

  /**
   * Enqueues made in the same turn of the event loop are committed together, in one write transaction
   * (a chat turn's observers queue formation, summary and relationship jobs side by side: one commit
   * instead of three). Each still resolves with its own id once committed.
   */
  enqueue(type: string, payload: Record<string, unknown>, options: EnqueueOptions = {}): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      // Serialised now, so a payload that cannot be fails its own enqueue, not its batch.
      const json = JSON.stringify(payload);
      // a copied reply's job enqueued already on PostgreSQL (copied-marks.ts)
      const copied = copiedJob(this.db, type, json);
      if (copied !== null) {
        resolve(copied);
        return;
      }
      if (this.unwritten.length === 0) setImmediate(() => this.writeEnqueued());
      this.unwritten.push({ type, json, options, resolve, reject });
    });
  }

  /**
   * Writes the enqueues waiting since the last turn of the event loop, in one transaction: the
   * connection's write batch, with a reply's other writes (its filing, the mood's reaction: `write-batch.ts`).
   */
  private writeEnqueued(): void {
    if (this.unwritten.length === 0) return; // written already, by stop()
    let batch: UnwrittenJob[] = [];
    let claimsToo = false;
    writeBatch(this.db)
      .defer(() => {
        batch = this.unwritten;
        this.unwritten = [];
        // An idle worker claims what is due in the same transaction: a turn's jobs start without a commit of their own.
        claimsToo = this.isStarted && this.running.size < this.settings.concurrency && this.waiting.length === 0 && !this.yielding.isYielding();
        return this.insertJobs(batch, claimsToo);
      })
      .then(
        (ids) => {
          if (claimsToo) this.completed = [];
          for (const [index, entry] of batch.entries()) entry.resolve(ids[index]!);
          this.wake();
        },
        (error: unknown) => {
          if (claimsToo) this.waiting = [];
          for (const entry of batch) entry.reject(error);
        },
      );
  }

  private insertJobs(batch: readonly UnwrittenJob[], claimsToo: boolean): number[] {
    const now = this.clock.now();
    const dedupe = this.prepare<[string], number>("SELECT id FROM jobs WHERE dedupe_key = ? AND status = 'pending'").pluck();
    const insert = this.prepare(
      `INSERT INTO jobs (type, payload, status, attempts, max_attempts, run_after, dedupe_key, created_at, updated_at)
       VALUES (?, ?, 'pending', 0, ?, ?, ?, ?, ?)`,
    );
    const ids = immediateTransaction(this.db)(() => {
      const inserted = batch.map(({ type, json, options }) => {
        if (options.dedupeKey !== undefined) {
          const existing = dedupe.get(options.dedupeKey);
          if (existing !== undefined) return existing;
        }
        return Number(
          insert.run(
            type,
            json,
            options.maxAttempts ?? this.settings.maxAttempts,
            options.runAfter ?? now,
            options.dedupeKey ?? null,
            now,
            now,
          ).lastInsertRowid,
        );
      });
      if (claimsToo) this.waiting = this.claimDue(now, CLAIM_BATCH);
      return inserted;
    });
    return ids;
  }

  /** Prepares each statement once: `db.prepare` costs more than running a small statement. */
  private prepare<P extends unknown[] | object = unknown[], R = unknown>(sql: string): BetterSqlite3.Statement<P, R> {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement as BetterSqlite3.Statement<P, R>;
  }

  yieldTo(isBusy: () => boolean, maxWaitMs = 1_000): void {
    this.yielding.yieldTo(isBusy, maxWaitMs);
  }

  /**
   * Resolves once no interactive work runs (at once when none does), or after the `yieldTo` wait: a
   * running job awaits it before a stretch of synchronous work (a formation's write), so a turn that came
   * in meanwhile is not held up behind it on the event loop.
   */
  giveWay(): Promise<void> {
    return this.yielding.giveWay();
  }

  register(type: string, handler: JobHandler, batching?: JobBatching, writing?: JobWriting): void {
    this.handlers.set(type, handler);
    if (writing?.withClaim === true) this.writingWithClaim.add(type);
    else this.writingWithClaim.delete(type);
    if (batching === undefined) this.batching.delete(type);
    else this.batching.set(type, batching);
    this.handledTypes = JSON.stringify([...this.handlers.keys()]);
  }

  start(): void {
    if (this.isStarted) return;
    this.isStarted = true;
    this.prepare("DELETE FROM jobs WHERE status = 'completed' AND updated_at < ?").run(this.clock.now() - this.settings.keepCompletedMs);
    ownersRunningHere.add(this.owner);
    this.takeBackFromDeadOwners();
    this.wake();
  }

  /**
   * Takes back at once the jobs claimed by a process of this machine that is gone (killed, crashed), instead
   * of waiting out their lease (30 s; a claim holds up to {@link CLAIM_BATCH} jobs). An SQLite file is only
   * ever used by processes of one kernel (WAL needs shared memory), and every queue names its claims with its
   * PID, start time and PID namespace (`claim-owner.ts`), so a claim of this namespace whose process no
   * longer runs has no owner left. Several processes may share a data directory (a server, `persona-mcp
   * mcp`, the CLI tools, a second container): a claim of a process that still runs, or of another PID
   * namespace, is left to its lease. Our own PID started at another time is a previous process (a
   * container's server restarted as PID 1).
   * Handed back as a claim whose lease expired is: pending again with its attempt counted, failed when that
   * was its last.
   */
  private takeBackFromDeadOwners(): void {
    const owners = this.prepare<[string], string>(
      "SELECT DISTINCT lease_owner FROM jobs WHERE status = 'running' AND lease_owner IS NOT NULL AND lease_owner <> ?",
    )
      .pluck()
      .all(this.owner);
    const here = localProcess();
    const gone = owners.filter((owner) => !mayStillRun(owner, here, (mine) => ownersRunningHere.has(mine)));
    if (gone.length === 0) return;
    const now = this.clock.now();
    const taken = immediateTransaction(this.db)(() => {
      const count = { runAgain: 0, failed: 0, droppedForPendingTwin: 0 };
      for (const owner of gone) {
        count.droppedForPendingTwin += this.prepare(
          `DELETE FROM jobs WHERE status = 'running' AND lease_owner = @owner AND attempts < max_attempts AND ${HAS_PENDING_TWIN}`,
        ).run({ owner }).changes;
        count.failed += this.prepare(
          `UPDATE jobs SET status = 'failed', last_error = 'the worker died during the last attempt', lease_owner = NULL, lease_until = NULL, updated_at = @now
             WHERE status = 'running' AND lease_owner = @owner AND attempts >= max_attempts`,
        ).run({ now, owner }).changes;
        count.runAgain += this.prepare(
          `UPDATE jobs SET status = 'pending', run_after = @now, lease_owner = NULL, lease_until = NULL, updated_at = @now
             WHERE status = 'running' AND lease_owner = @owner`,
        ).run({ now, owner }).changes;
      }
      return count;
    });
    // Each kind counted apart: a job dropped for its pending twin or failed on its last attempt does not run again.
    if (taken.runAgain + taken.failed + taken.droppedForPendingTwin > 0) {
      this.logger.warn(
        { ...taken, owners: gone },
        `took back the jobs of a process that stopped without finishing them: ${taken.runAgain} run again now, ` +
          `${taken.failed} failed (that was their last attempt), ${taken.droppedForPendingTwin} dropped (the same work is queued again)`,
      );
    }
  }

  async stop(): Promise<void> {
    this.isStarted = false;
    ownersRunningHere.delete(this.owner);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    // Writes waiting for the rest of their claim go now (a job coming to its write from now on writes alone).
    if (this.db.open) this.claimWrites.writeAll();
    await this.running.stop(this.settings.stopTimeoutMs);
    // Claimed jobs that never started go back: due at once, on the next start.
    const unstarted = this.waiting;
    this.waiting = [];
    for (const job of unstarted) this.release(job.id);
    // Enqueues of the last turn of the event loop (a reply's formation job): written now, before the store
    // closes, or they would be lost with the shutdown.
    if (this.db.open) {
      this.writeEnqueued();
      writeBatch(this.db).flush();
    }
    this.writeCompleted();
  }

  /** Writes the completions no claim has taken along yet (stop, drain, or nothing claimed for a while). */
  private writeCompleted(): void {
    if (this.completed.length === 0 || !this.db.open) return;
    try {
      immediateTransaction(this.db)(() => this.markCompleted());
      this.completed = [];
    } catch (error) {
      // Left in the list: the next claim or stop tries again (a crash meanwhile runs the jobs once more).
      this.logger.error({ err: error }, 'the job queue could not record finished jobs');
    }
  }

  /** Inside a write transaction: marks the finished jobs completed (the caller empties the list once it committed). */
  private markCompleted(): void {
    const now = this.clock.now();
    for (const id of this.completed) this.markOneCompleted(id, now);
  }

  /** Inside a write transaction: marks job `id` completed, unless its lease passed to another worker. */
  private markOneCompleted(id: number, now: number): void {
    const complete = this.prepare(
      "UPDATE jobs SET status = 'completed', lease_until = NULL, last_error = NULL, updated_at = ? WHERE id = ? AND lease_owner = ? AND status = 'running'",
    );
    if (complete.run(now, id, this.owner).changes === 0)
      this.logger.warn({ jobId: id }, 'a job finished after its lease passed to another worker; its completion was not recorded twice');
  }

  /**
   * `job.completion` (ports/jobs.ts): a store on this queue's connection marks the job completed in the
   * transaction of the handler's last write. A formation's write and its completion were two commits (the
   * completion waited for the next claim, or up to a poll period and then committed alone), and a crash
   * between them ran the job again. `isClaimed`: the job runs as part of its claim (`tick`), so its write
   * may wait for the claim's other jobs' (`writeJointly`) when its type says so.
   */
  private completionOf(job: JobRecord, isClaimed: boolean): JobCompletion & { isCommitted: boolean } {
    const jobId = job.id;
    const completion: JobCompletion & { isCommitted: boolean } = {
      isCommitted: false,
      writeWithin: (connection) => {
        if (connection !== this.db || !this.db.inTransaction) return false;
        this.markOneCompleted(jobId, this.clock.now());
        return true;
      },
      committed() {
        this.isCommitted = true;
      },
    };
    if (isClaimed && this.isWritingClaimsTogether && this.writingWithClaim.has(job.type))
      completion.writeJointly = (connection, write) => {
        if (connection !== this.db || this.db.inTransaction || completion.isCommitted || !this.isStarted) return undefined;
        const written = this.claimWrites.add(jobId, write, () => completion.committed());
        // The claim's next job starts, or the claim's writes commit (`tick`).
        this.wake();
        return written;
      };
    return completion;
  }

  async stats(): Promise<JobQueueStats> {
    const rows = this.prepare<[number], { status: string; n: number; due: number }>(
      "SELECT status, count(*) AS n, coalesce(sum(status = 'pending' AND run_after <= ?), 0) AS due FROM jobs GROUP BY status",
    ).all(this.clock.now());
    const count = (status: string): number => rows.find((row) => row.status === status)?.n ?? 0;
    const due = rows.find((row) => row.status === 'pending')?.due ?? 0;
    // Finished jobs whose completion the next claim writes are completed already; claimed jobs that
    // have not started are still pending (and due) as far as anyone asking can tell.
    const finished = this.completed.length;
    const unstarted = this.waiting.length;
    return {
      pending: count('pending') + unstarted,
      due: due + unstarted,
      running: count('running') - finished - unstarted,
      failed: count('failed'),
      completed: count('completed') + finished,
    };
  }

  /**
   * Waits until no job is due or running, then writes the completions still waiting for a claim (so the
   * table reads as the queue sees it). Jobs scheduled for later (`runAfter`, retry backoff) do not count:
   * they are not work that can be finished now.
   */
  async drain(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // Both counts are searches of the claim index (status, run_after): the completed jobs kept for
      // `keepCompletedMs` (thousands) are not read, as a sum over the table read them on every look.
      const { pending, running } = this.prepare<[number], { pending: number; running: number }>(
        "SELECT (SELECT count(*) FROM jobs WHERE status = 'pending' AND run_after <= ?) AS pending, (SELECT count(*) FROM jobs WHERE status = 'running') AS running",
      ).get(this.clock.now())!;
      if (
        pending === 0 &&
        running - this.completed.length === 0 &&
        this.running.size === 0 &&
        this.waiting.length === 0 &&
        this.unwritten.length === 0
      ) {
        this.writeCompleted();
        return;
      }
      if (Date.now() >= deadline)
        throw new Error(`job queue did not drain within ${timeoutMs} ms (${pending} pending, ${running} running)`);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.idleWaiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, 20);
        this.idleWaiters.add(done);
      });
    }
  }

  /** Whether a job could be claimed now (a read: no write transaction when there is none). */
  private isJobDue(now: number): boolean {
    return (
      this.prepare<{ now: number; types: string }, 1>(
        `SELECT 1 FROM jobs
         WHERE type IN (SELECT value FROM json_each(@types))
           AND ((status = 'pending' AND run_after <= @now) OR (status = 'running' AND lease_until <= @now))
         LIMIT 1`,
      )
        .pluck()
        .get({ now, types: this.handledTypes }) !== undefined
    );
  }

  /**
   * Claims the next due job of a registered type (or one whose lease expired) for this process, or
   * returns null. Jobs whose lease expired after their last attempt are failed first. The completions
   * of finished jobs are written in the same transaction.
   */
  claim(): JobRecord | null {
    return this.claimBatch(1)[0] ?? null;
  }

  /** Claims up to `limit` due jobs in one transaction (with the waiting completions), oldest first. */
  private claimBatch(limit: number): JobRecord[] {
    const now = this.clock.now();
    const jobs = immediateTransaction(this.db)(() => this.claimDue(now, limit));
    this.completed = [];
    return jobs;
  }

  /**
   * Inside a write transaction: writes the waiting completions, fails the jobs whose lease expired
   * after their last attempt, and claims up to `limit` due jobs, in the order they are due.
   */
  private claimDue(now: number, limit: number): JobRecord[] {
    ownersRunningHere.add(this.owner);
    this.markCompleted();
    this.prepare(
      `UPDATE jobs SET status = 'failed', last_error = 'the worker died during the last attempt', lease_owner = NULL, updated_at = @now
         WHERE status = 'running' AND lease_until <= @now AND attempts >= max_attempts`,
    ).run({ now });
    // The due jobs' ids first, then each claimed by its id: one UPDATE with `id IN (that SELECT)` cost
    // ~470 µs against ~120 µs for the SELECT and two UPDATEs (bench/micro-queue.ts's turns).
    const ids = this.prepare<{ now: number; types: string; limit: number }, number>(
      `SELECT id FROM jobs
         WHERE type IN (SELECT value FROM json_each(@types))
           AND ((status = 'pending' AND run_after <= @now) OR (status = 'running' AND lease_until <= @now))
         ORDER BY run_after, id LIMIT @limit`,
    )
      .pluck()
      .all({ now, types: this.handledTypes, limit });
    const claimOne = this.prepare<{ id: number; now: number; leaseUntil: number; owner: string }, JobRow>(
      `UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_until = @leaseUntil, lease_owner = @owner, updated_at = @now
       WHERE id = @id
       RETURNING id, type, payload, status, attempts, max_attempts, created_at`,
    );
    return ids.map((id) => toJob(claimOne.get({ id, now, leaseUntil: now + this.settings.leaseMs, owner: this.owner })!));
  }

  /** Runs one claimed job to the end (complete, retry or fail), its outcome written. Exposed for tests and tools. */
  async run(job: JobRecord, signal: AbortSignal = new AbortController().signal): Promise<void> {
    await this.execute(job, signal, false);
    this.writeCompleted();
  }

  /**
   * Runs a claimed job; a completion is left for the next claim to write (`completed`). The handler
   * starts in a stretch of its own, after the event loop has taken in what arrived during the claim.
   * `isClaimed`: as `completionOf`'s.
   */
  private async execute(job: JobRecord, signal: AbortSignal, isClaimed: boolean): Promise<void> {
    const handler = this.handlers.get(job.type);
    // The claimed jobs waiting behind this one keep their leases with it.
    const renew = setInterval(
      () => this.renewLeases([job.id, ...this.waiting.map((next) => next.id)]),
      Math.max(10, Math.floor(this.settings.leaseMs / 3)),
    );
    renew.unref();
    const completion = this.completionOf(job, isClaimed);
    try {
      if (!handler) throw new Error(`no handler for job type ${job.type}`);
      await new Promise((resolve) => setImmediate(resolve));
      await handler({ ...job, completion }, signal);
      if (completion.isCommitted) return;
      if (this.completed.length === 0) this.completedSince = this.clock.now();
      this.completed.push(job.id);
    } catch (error) {
      if (completion.isCommitted) this.failedAfterCompletion(job, error);
      else if (signal.aborted) this.release(job.id);
      else this.fail(job, error);
    } finally {
      clearInterval(renew);
    }
  }

  /** The next claimed job, with those of its type that run in one batch with it (`takeNextToRun`). */
  private nextToRun(): JobRecord[] {
    const { jobs, rest } = takeNextToRun(this.waiting, this.batching);
    this.waiting = rest;
    return jobs;
  }

  /** Runs claimed jobs of one type with its batch handler; each job's outcome is written as `execute` writes one. */
  private async executeBatch(jobs: readonly JobRecord[], signal: AbortSignal): Promise<void> {
    const ids = jobs.map((job) => job.id);
    const completions = jobs.map((job) => this.completionOf(job, true));
    await new Promise((resolve) => setImmediate(resolve));
    const given = jobs.map((job, index) => ({ ...job, completion: completions[index] }));
    const outcomes = await settleBatch(this.batching.get(jobs[0]!.type)!, given, signal, this.settings.leaseMs, () =>
      this.renewLeases([...ids, ...this.waiting.map((next) => next.id)]),
    );
    for (const [index, job] of jobs.entries()) {
      const outcome = outcomes[index]!;
      if (completions[index]!.isCommitted) {
        if (outcome.status === 'rejected') this.failedAfterCompletion(job, outcome.reason);
      } else if (outcome.status === 'fulfilled') {
        if (this.completed.length === 0) this.completedSince = this.clock.now();
        this.completed.push(job.id);
      } else if (signal.aborted) this.release(job.id);
      else this.fail(job, outcome.reason);
    }
  }

  /** A job completed with its effect already: what failed after that (a cleanup a later job redoes) is not a reason to run it again. */
  private failedAfterCompletion(job: JobRecord, error: unknown): void {
    this.logger.error({ err: error, jobId: job.id, type: job.type }, 'a job failed after its effect and completion were written; it does not run again');
  }

  private renewLeases(ids: readonly number[]): void {
    try {
      this.prepare(
        "UPDATE jobs SET lease_until = ? WHERE id IN (SELECT value FROM json_each(?)) AND lease_owner = ? AND status = 'running'",
      ).run(this.clock.now() + this.settings.leaseMs, JSON.stringify(ids), this.owner);
    } catch (error) {
      this.logger.warn({ err: error, jobIds: ids }, 'could not renew job leases');
    }
  }

  private fail(job: JobRecord, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    const row = this.prepare<[number], { max_attempts: number }>('SELECT max_attempts FROM jobs WHERE id = ?').get(job.id);
    const now = this.clock.now();
    const next = afterFailure({ attempts: job.attempts, maxAttempts: row?.max_attempts ?? null }, now, {
      baseMs: this.settings.retryBaseMs,
      maxMs: this.settings.retryMaxMs,
    });
    const isFinal = next.status === 'failed';
    if (!isFinal) this.dropForPendingTwin(job.id);
    this.prepare(
      `UPDATE jobs SET status = ?, run_after = ?, lease_until = NULL, lease_owner = NULL, last_error = ?, updated_at = ?
         WHERE id = ? AND lease_owner = ? AND status = 'running'`,
    ).run(next.status, next.runAfter, message.slice(0, 2_000), now, job.id, this.owner);
    const log = { err: error, jobId: job.id, type: job.type, attempts: job.attempts };
    if (isFinal) this.logger.error(log, 'job failed for good');
    else this.logger.warn(log, 'job failed; it will be retried');
  }

  /** Deletes this process's running job `id` when a pending job holds its dedupe key ({@link HAS_PENDING_TWIN}): it is not made pending beside it. */
  private dropForPendingTwin(id: number): void {
    this.prepare(`DELETE FROM jobs WHERE id = ? AND lease_owner = ? AND status = 'running' AND ${HAS_PENDING_TWIN}`).run(id, this.owner);
  }

  /** Gives an unfinished job back (shutdown): due at once, on the next start. */
  private release(id: number): void {
    this.dropForPendingTwin(id);
    this.prepare(
      "UPDATE jobs SET status = 'pending', run_after = ?, lease_until = NULL, lease_owner = NULL, updated_at = ? WHERE id = ? AND lease_owner = ? AND status = 'running'",
    ).run(this.clock.now(), this.clock.now(), id, this.owner);
  }

  wake(): void {
    if (!this.isStarted) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tick(), 0);
    this.timer.unref();
  }

  private tick(): void {
    this.timer = null;
    if (!this.isStarted || !this.db.open) return;
    if (this.running.size - this.claimWrites.size < this.settings.concurrency && this.yielding.isYielding()) {
      // Someone is waiting for a turn: look again shortly rather than compete with it for the event loop
      // (a claim's writes too: a job's own write gives way the same before it runs).
      this.timer = setTimeout(() => this.tick(), YIELD_POLL_MS);
      this.timer.unref();
      return;
    }
    try {
      // Every running job of the claim waits with its write, and no claimed job that writes with them is left to
      // start: they commit together (before a job of another type, whose write should not wait for them, starts).
      const next = this.waiting[0];
      if (this.claimWrites.size > 0 && this.claimWrites.size === this.running.size && (next === undefined || !this.writingWithClaim.has(next.type)))
        this.claimWrites.writeAll();
      // A job waiting with its write leaves its place to the claim's next job.
      while (this.running.size - this.claimWrites.size < this.settings.concurrency) {
        // Claimed jobs first; then, with nothing due, no write transaction just to find that out. Finished
        // jobs' completions wait for the next claim (a turn's jobs come in a few seconds), up to one poll
        // period, then are written alone.
        if (this.waiting.length === 0) {
          if (!this.isJobDue(this.clock.now())) break;
          this.waiting = this.claimBatch(CLAIM_BATCH);
        }
        const jobs = this.nextToRun();
        if (jobs.length === 0) break;
        this.running.start(
          jobs[0]!.id,
          (signal) => (jobs.length === 1 ? this.execute(jobs[0]!, signal, true) : this.executeBatch(jobs, signal)),
          () => {
            for (const waiter of [...this.idleWaiters]) waiter();
            this.wake();
          },
        );
      }
    } catch (error) {
      this.logger.error({ err: error }, 'the job queue could not claim a job');
    }
    if (this.completed.length > 0 && this.clock.now() - this.completedSince >= this.completionDelayMs()) this.writeCompleted();
    if (this.isStarted && this.timer === null) {
      this.timer = setTimeout(() => this.tick(), this.pollMs());
      this.timer.unref();
    }
  }

  /**
   * How long a finished job's completion may wait for the next claim: one poll period, and well inside
   * its lease (no renewal runs for a finished job; another worker must not take it meanwhile).
   */
  private completionDelayMs(): number {
    return Math.min(this.settings.pollMs, Math.floor(this.settings.leaseMs / 3));
  }

  /** How long an idle worker waits before it looks again: the poll period, or until the oldest unwritten completion is due. */
  private pollMs(): number {
    if (this.completed.length === 0) return this.settings.pollMs;
    return Math.max(0, Math.min(this.settings.pollMs, this.completedSince + this.completionDelayMs() - this.clock.now()));
  }
}

