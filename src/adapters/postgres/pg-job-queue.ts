/**
 * The durable job queue (src/ports/jobs.ts) on PostgreSQL, shared by every node: the rules of
 * `../sqlite/job-queue.ts` (commit before resolving, leases renewed while a job runs, an expired lease
 * makes the job claimable again, completion checked against the lease owner, retries with backoff),
 * with the claim done by `SELECT … FOR UPDATE SKIP LOCKED`: workers on several nodes each take
 * different jobs without waiting on each other's row locks.
 *
 * As on SQLite, one claim takes up to {@link PG_CLAIM_BATCH} due jobs (several turns' jobs when turns
 * came faster than their jobs ran; their leases renewed while they wait), and the claimed jobs of a
 * type registered with batching run together in one call of its batch handler (one embedding request,
 * one appraisal call). A claim records the claiming node's presence key (`node-presence.ts`): when that
 * node is gone from the store (its process died: its presence lock released, and still released a
 * moment later), any node ends the leases of its running jobs at once, and they are claimed again
 * (attempts + 1) without waiting for the lease to pass. A job claimed without a key (the node could not
 * hold its lock) and a node that vanished without PostgreSQL noticing are left to the lease, as before.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../../ports/clock.js';
import type { JobBatching, JobHandler, JobQueue, JobQueueStats, JobRecord } from '../../ports/jobs.js';
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
import { afterReplyWriteKind, outsideAfterReply } from '../after-reply-scope.js';
import type { PostgresDatabase, TransactionClient } from './database.js';
import { goneOwners, nodePresence, OWNER_GONE, type NodePresence } from './node-presence.js';
import { pgWriteBatch } from './write-batch.js';

export type PostgresJobQueueOptions = JobQueueOptions;

/** Jobs one claim takes at most (the SQLite queue's `CLAIM_BATCH`). */
export const PG_CLAIM_BATCH = 8;

/** How often a node looks for running jobs of nodes gone from the store (and once as it starts). */
export const TAKE_BACK_EVERY_MS = 5_000;

export class PostgresJobQueue implements JobQueue {
  /** Identifies this node's claims (`lease_owner`): host, process and a random suffix. */
  readonly owner = `${os.hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  private readonly clock: Clock;
  private readonly logger: Pick<Logger, 'warn' | 'error' | 'debug'>;
  private readonly settings: JobQueueSettings;
  private readonly handlers = new Map<string, JobHandler>();
  private readonly batching = new Map<string, JobBatching>();
  /** Jobs claimed by this node's last claim that have not started yet (their leases renewed meanwhile). */
  private waiting: JobRecord[] = [];
  private readonly running = new RunningJobs();
  private isStarted = false;
  private ticking = false;
  /** A wake-up came while a tick was claiming: tick again at once rather than after `pollMs`. */
  private tickAgain = false;
  private timer: NodeJS.Timeout | null = null;
  /** Jobs of this node that finished, whose completion the next claim writes (in its statement). */
  private completed: number[] = [];
  private readonly yielding: InteractiveYield;
  /** This node's presence in the shared store: its claims are recorded under its key. */
  private readonly presence: NodePresence;
  /** When to look next for jobs of nodes gone from the store ({@link takeBackFromGoneNodes}). */
  private nextTakeBackAt = 0;

  constructor(
    private readonly db: PostgresDatabase,
    options: PostgresJobQueueOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.settings = jobQueueSettings(options);
    this.yielding = new InteractiveYield(this.clock, () => this.isStarted);
    this.presence = nodePresence(db);
  }

  /**
   * Committed with the other writes of this moment (a turn's formation and relationship jobs with its
   * filing and mood: `write-batch.ts`), resolving with the job's id once committed.
   */
  async enqueue(type: string, payload: Record<string, unknown>, options: { runAfter?: number; dedupeKey?: string; maxAttempts?: number } = {}): Promise<number> {
    // Serialised now, so a payload that cannot be fails its own enqueue, not its batch.
    const json = JSON.stringify(payload);
    // once per reply when a reply's after-reply work asks for it (after-reply-fence.ts)
    const id = await pgWriteBatch(this.db).defer((tx) => this.insertJob(tx, type, json, options), afterReplyWriteKind.job(type));
    this.wake();
    return id;
  }

  private async insertJob(tx: TransactionClient, type: string, json: string, options: { runAfter?: number; dedupeKey?: string; maxAttempts?: number }): Promise<number> {
    const now = this.clock.now();
    const values = [type, json, options.maxAttempts ?? this.settings.maxAttempts, options.runAfter ?? now, options.dedupeKey ?? null, now];
    const insert = `INSERT INTO jobs (type, payload, status, attempts, max_attempts, run_after, dedupe_key, created_at, updated_at)
                    VALUES ($1, $2, 'pending', 0, $3, $4, $5, $6, $6)`;
    if (options.dedupeKey === undefined) return (await tx.one<{ id: number }>(`${insert} RETURNING id`, values))!.id;
    for (;;) {
      // The partial unique index keeps one pending job per key, across nodes too.
      const inserted = await tx.one<{ id: number }>(
        `${insert} ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL AND status = 'pending' DO NOTHING RETURNING id`,
        values,
      );
      if (inserted !== null) return inserted.id;
      const pending = await tx.one<{ id: number }>("SELECT id FROM jobs WHERE dedupe_key = $1 AND status = 'pending'", [options.dedupeKey]);
      if (pending !== null) return pending.id;
      // The pending one was claimed in between (each statement sees the latest commits): insert again.
    }
  }

  register(type: string, handler: JobHandler, batching?: JobBatching): void {
    this.handlers.set(type, handler);
    if (batching === undefined) this.batching.delete(type);
    else this.batching.set(type, batching);
  }

  yieldTo(isBusy: () => boolean, maxWaitMs = 1_000): void {
    this.yielding.yieldTo(isBusy, maxWaitMs);
  }

  /** Resolves once no interactive work runs on this node (at once when none does), or after the `yieldTo` wait. */
  giveWay(): Promise<void> {
    return this.yielding.giveWay();
  }

  start(): void {
    if (this.isStarted) return;
    this.isStarted = true;
    this.db
      .query("DELETE FROM jobs WHERE status = 'completed' AND updated_at < $1", [this.clock.now() - this.settings.keepCompletedMs])
      .catch((error: unknown) => this.logger.warn({ err: error }, 'could not delete old completed jobs'));
    this.wake();
  }

  async stop(): Promise<void> {
    this.isStarted = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running.stop(this.settings.stopTimeoutMs);
    // Claimed jobs that never started go back: due at once, for any node.
    const unstarted = this.waiting;
    this.waiting = [];
    for (const job of unstarted) await this.release(job.id).catch((error: unknown) => this.logger.warn({ err: error, jobId: job.id }, 'could not give back a claimed job; it runs once its lease has passed'));
    await this.writeCompleted();
  }

  /** Writes the completions no claim has taken along yet (stop, or nothing more to claim). */
  private async writeCompleted(): Promise<void> {
    if (this.completed.length === 0 || this.db.isClosed) return;
    const ids = this.completed;
    this.completed = [];
    try {
      const result = await this.db.query(
        "UPDATE jobs SET status = 'completed', lease_until = NULL, last_error = NULL, updated_at = $1 WHERE id = ANY($2::bigint[]) AND lease_owner = $3 AND status = 'running'",
        [this.clock.now(), ids, this.owner],
      );
      this.warnIfLost(ids.length, result.rowCount ?? 0);
    } catch (error) {
      // Back in the list: the next claim or stop tries again (a crash meanwhile runs the jobs once more).
      this.completed.unshift(...ids);
      this.logger.error({ err: error }, 'the job queue could not record finished jobs');
    }
  }

  private warnIfLost(finished: number, recorded: number): void {
    if (recorded < finished)
      this.logger.warn({ jobs: finished - recorded }, 'a job finished after its lease passed to another worker; its completion was not recorded twice');
  }

  async stats(): Promise<JobQueueStats> {
    const rows = await this.db.rows<{ status: string; n: number; due: number }>(
      "SELECT status, count(*) AS n, count(*) FILTER (WHERE status = 'pending' AND run_after <= $1) AS due FROM jobs GROUP BY status",
      [this.clock.now()],
    );
    const count = (status: string): number => rows.find((row) => row.status === status)?.n ?? 0;
    const due = rows.find((row) => row.status === 'pending')?.due ?? 0;
    // Finished jobs whose completion the next claim writes are completed already; claimed jobs waiting
    // their turn on this node are pending still.
    const finished = this.completed.length;
    const waiting = this.waiting.length;
    return {
      pending: count('pending') + waiting,
      due: due + waiting,
      running: count('running') - finished - waiting,
      failed: count('failed'),
      completed: count('completed') + finished,
    };
  }

  async drain(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const row = (await this.db.one<{ pending: number; running: number }>(
        "SELECT count(*) FILTER (WHERE status = 'pending' AND run_after <= $1) AS pending, count(*) FILTER (WHERE status = 'running') AS running FROM jobs",
        [this.clock.now()],
      ))!;
      if (row.pending === 0 && row.running - this.completed.length <= 0 && this.running.size === 0) {
        await this.writeCompleted();
        return;
      }
      if (Date.now() >= deadline) throw new Error(`job queue did not drain within ${timeoutMs} ms (${row.pending} pending, ${row.running} running)`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * Claims the next due job of a registered type (or one whose lease expired) for this node, or returns
   * null. See {@link claimBatch}.
   */
  async claim(): Promise<JobRecord | null> {
    return (await this.claimBatch(1))[0] ?? null;
  }

  /**
   * Claims up to `limit` due jobs (or jobs whose lease expired), oldest first, for this node; the
   * completions of this node's finished jobs are written by the same statement (one round trip and one
   * commit). Jobs whose lease expired after their last attempt are failed first.
   */
  private async claimBatch(limit: number): Promise<JobRecord[]> {
    const now = this.clock.now();
    await this.db.query(
      `UPDATE jobs SET status = 'failed', last_error = 'the worker died during the last attempt', lease_owner = NULL, updated_at = $1
       WHERE status = 'running' AND lease_until <= $1 AND attempts >= max_attempts`,
      [now],
    );
    const ownerKey = await this.presence.ownerKey();
    const completed = this.completed;
    this.completed = [];
    let rows: Array<Partial<JobRow> & { recorded: number; run_after?: number }>;
    try {
      // One statement: its parts see the same snapshot, so `next` never picks a job `done` completes
      // (those are excluded by id: their leases may have run out while they finished).
      rows = await this.db.rows<Partial<JobRow> & { recorded: number; run_after?: number }>(
        `WITH done AS (
           UPDATE jobs SET status = 'completed', lease_until = NULL, last_error = NULL, updated_at = $1
           WHERE id = ANY($5::bigint[]) AND lease_owner = $3 AND status = 'running'
           RETURNING id),
         next AS (
           SELECT id FROM jobs
           WHERE type = ANY($4::text[]) AND ((status = 'pending' AND run_after <= $1) OR (status = 'running' AND lease_until <= $1))
             AND NOT (id = ANY($5::bigint[]))
           ORDER BY run_after, id LIMIT $6
           FOR UPDATE SKIP LOCKED),
         claimed AS (
           UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_until = $2, lease_owner = $3, lease_owner_key = $7, updated_at = $1
           FROM next WHERE jobs.id = next.id
           RETURNING jobs.id, jobs.type, jobs.payload, jobs.attempts, jobs.created_at, jobs.run_after)
         SELECT claimed.*, (SELECT count(*) FROM done)::int AS recorded FROM (SELECT 1) AS one LEFT JOIN claimed ON true`,
        [now, now + this.settings.leaseMs, this.owner, [...this.handlers.keys()], completed, limit, ownerKey],
      );
    } catch (error) {
      this.completed.unshift(...completed);
      throw error;
    }
    this.warnIfLost(completed.length, rows[0]?.recorded ?? 0);
    return rows
      .filter((row) => row.id !== null && row.id !== undefined)
      .sort((a, b) => a.run_after! - b.run_after! || a.id! - b.id!)
      .map((row) => toJob(row as JobRow));
  }

  /**
   * Ends, now, the leases of the running jobs whose claiming node is gone from the store (`goneOwners`),
   * so the next claim takes them again (or fails one whose last attempt it was), as it would once their
   * lease had passed. Returns how many.
   */
  private async takeBackFromGoneNodes(): Promise<number> {
    const gone = await goneOwners(this.db, "SELECT lease_owner_key AS key FROM jobs WHERE status = 'running' AND lease_owner <> $1", [this.owner]);
    if (gone.length === 0) return 0;
    const now = this.clock.now();
    const ended = await this.db.query(
      `UPDATE jobs SET lease_until = $1 WHERE status = 'running' AND lease_until > $1 AND lease_owner_key = ANY($2::bigint[]) AND ${OWNER_GONE('lease_owner_key')}`,
      [now, gone],
    );
    const jobs = ended.rowCount ?? 0;
    if (jobs > 0) {
      this.logger.warn({ jobs }, 'took back the running jobs of a node gone from the store');
      this.wake();
    }
    return jobs;
  }

  /** Runs one claimed job to the end (complete, retry or fail), its outcome written. */
  async run(job: JobRecord, signal: AbortSignal = new AbortController().signal): Promise<void> {
    await this.execute(job, signal);
    await this.writeCompleted();
  }

  /** Runs a claimed job; a completion is left for the next claim to write (`completed`). */
  private async execute(job: JobRecord, signal: AbortSignal): Promise<void> {
    const handler = this.handlers.get(job.type);
    // The claimed jobs waiting behind this one keep their leases with it, and so do the finished ones whose
    // completion waits for the next claim (another node must not take them meanwhile).
    const renew = setInterval(() => void this.renewLeases([job.id, ...this.heldIds()]), Math.max(10, Math.floor(this.settings.leaseMs / 3)));
    renew.unref();
    try {
      if (!handler) throw new Error(`no handler for job type ${job.type}`);
      await handler(job, signal);
      clearInterval(renew);
      this.completed.push(job.id);
    } catch (error) {
      clearInterval(renew);
      try {
        if (signal.aborted) await this.release(job.id);
        else await this.fail(job, error);
      } catch (storeError) {
        // The lease runs out and another worker retries the job.
        this.logger.error({ err: storeError, jobId: job.id }, 'could not record the outcome of a job');
      }
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
    const outcomes = await settleBatch(this.batching.get(jobs[0]!.type)!, jobs, signal, this.settings.leaseMs, () => void this.renewLeases([...ids, ...this.heldIds()]));
    for (const [index, job] of jobs.entries()) {
      const outcome = outcomes[index]!;
      if (outcome.status === 'fulfilled') {
        this.completed.push(job.id);
        continue;
      }
      try {
        if (signal.aborted) await this.release(job.id);
        else await this.fail(job, outcome.reason);
      } catch (storeError) {
        // The lease runs out and another worker retries the job.
        this.logger.error({ err: storeError, jobId: job.id }, 'could not record the outcome of a job');
      }
    }
  }

  /** The jobs this node holds besides the running ones: claimed and waiting, or finished with their completion unwritten. */
  private heldIds(): number[] {
    return [...this.waiting.map((next) => next.id), ...this.completed];
  }

  private async renewLeases(ids: readonly number[]): Promise<void> {
    try {
      await this.db.query("UPDATE jobs SET lease_until = $1 WHERE id = ANY($2::bigint[]) AND lease_owner = $3 AND status = 'running'", [
        this.clock.now() + this.settings.leaseMs,
        ids,
        this.owner,
      ]);
    } catch (error) {
      this.logger.warn({ err: error, jobIds: ids }, 'could not renew job leases');
    }
  }

  private async fail(job: JobRecord, error: unknown): Promise<void> {
    const message = error instanceof Error ? error.message : String(error);
    const row = await this.db.one<{ max_attempts: number }>('SELECT max_attempts FROM jobs WHERE id = $1', [job.id]);
    const now = this.clock.now();
    const next = afterFailure({ attempts: job.attempts, maxAttempts: row?.max_attempts ?? null }, now, {
      baseMs: this.settings.retryBaseMs,
      maxMs: this.settings.retryMaxMs,
    });
    const isFinal = next.status === 'failed';
    await this.db.query(
      `UPDATE jobs SET status = $1, run_after = $2, lease_until = NULL, lease_owner = NULL, last_error = $3, updated_at = $4
       WHERE id = $5 AND lease_owner = $6 AND status = 'running'`,
      [next.status, next.runAfter, message.slice(0, 2_000), now, job.id, this.owner],
    );
    const log = { err: error, jobId: job.id, type: job.type, attempts: job.attempts };
    if (isFinal) this.logger.error(log, 'job failed for good');
    else this.logger.warn(log, 'job failed; it will be retried');
  }

  private async release(id: number): Promise<void> {
    const now = this.clock.now();
    await this.db.query(
      "UPDATE jobs SET status = 'pending', run_after = $1, lease_until = NULL, lease_owner = NULL, updated_at = $1 WHERE id = $2 AND lease_owner = $3 AND status = 'running'",
      [now, id, this.owner],
    );
  }

  wake(): void {
    if (!this.isStarted) return;
    if (this.timer) clearTimeout(this.timer);
    // Woken by a reply's enqueue, the jobs it runs are not that reply's writes.
    this.timer = outsideAfterReply(() => setTimeout(() => void this.tick(), 0));
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    this.timer = null;
    if (!this.isStarted || this.db.isClosed) return;
    if (this.ticking) {
      this.tickAgain = true;
      return;
    }
    if (this.running.size < this.settings.concurrency && this.yielding.isYielding()) {
      // A turn on this node is being prepared: look again shortly rather than compete with it for the event loop.
      this.timer = setTimeout(() => void this.tick(), YIELD_POLL_MS);
      this.timer.unref();
      return;
    }
    this.ticking = true;
    if (this.clock.now() >= this.nextTakeBackAt) {
      this.nextTakeBackAt = this.clock.now() + TAKE_BACK_EVERY_MS;
      // beside the claims (it may wait a moment to be sure a node is gone)
      this.takeBackFromGoneNodes().catch((error: unknown) => this.logger.warn({ err: error }, 'could not look for jobs of nodes gone from the store'));
    }
    try {
      while (this.isStarted && this.running.size < this.settings.concurrency) {
        // A claim writes the finished jobs' completions with it; a job claimed before and waiting starts
        // after they are written on their own (one statement per job, as a claim per job was).
        if (this.waiting.length === 0) this.waiting = await this.claimBatch(PG_CLAIM_BATCH);
        else if (this.completed.length > 0) await this.writeCompleted();
        const jobs = this.nextToRun();
        if (jobs.length === 0) break;
        this.running.start(
          jobs[0]!.id,
          (signal) => (jobs.length === 1 ? this.execute(jobs[0]!, signal) : this.executeBatch(jobs, signal)),
          () => this.wake(),
        );
      }
    } catch (error) {
      if (this.isStarted) this.logger.error({ err: error }, 'the job queue could not claim a job');
    } finally {
      this.ticking = false;
    }
    if (!this.isStarted && this.waiting.length > 0) {
      // stopped while claiming: what was claimed goes back at once
      const unstarted = this.waiting;
      this.waiting = [];
      for (const job of unstarted) await this.release(job.id).catch(() => undefined);
    }
    // No claim took them along (all slots busy, or the claim failed): written now, on their own.
    if (this.running.size >= this.settings.concurrency) await this.writeCompleted().catch(() => undefined);
    if (this.tickAgain) {
      this.tickAgain = false;
      this.wake();
      return;
    }
    if (this.isStarted && this.timer === null) {
      this.timer = setTimeout(() => void this.tick(), this.settings.pollMs);
      this.timer.unref();
    }
  }
}
