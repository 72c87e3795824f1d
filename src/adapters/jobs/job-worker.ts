/**
 * What the two durable job queues (`../sqlite/job-queue.ts`, `../postgres/pg-job-queue.ts`) share besides
 * their SQL: their options, a claimed row as a job, the jobs running in this process and how they stop,
 * and how background work gives way to a turn someone waits for (`JobQueue.yieldTo` / `giveWay`).
 */
import type { Logger } from 'pino';
import type { Clock } from '../../ports/clock.js';
import type { JobBatching, JobRecord } from '../../ports/jobs.js';

export interface JobQueueOptions {
  clock?: Clock;
  logger?: Pick<Logger, 'warn' | 'error' | 'debug'>;
  /** How long a claim lasts without renewal. Defaults to 30 000 ms. */
  leaseMs?: number;
  /** How often an idle worker looks for due jobs (enqueue wakes it at once). Defaults to 1000 ms. */
  pollMs?: number;
  /** Jobs run at once by this process. Defaults to 1. */
  concurrency?: number;
  /** Attempts before a job is failed, unless the job says otherwise. Defaults to 5. */
  maxAttempts?: number;
  /** First retry delay; doubles per attempt. Defaults to 1000 ms. */
  retryBaseMs?: number;
  /** Longest retry delay. Defaults to 300 000 ms (5 minutes). */
  retryMaxMs?: number;
  /** How long `stop` waits for running jobs before aborting them. Defaults to 5000 ms. */
  stopTimeoutMs?: number;
  /** Completed jobs older than this are deleted on start. Defaults to 7 days. */
  keepCompletedMs?: number;
}

/** The options with their defaults filled in. */
export type JobQueueSettings = Required<Omit<JobQueueOptions, 'clock' | 'logger'>>;

export function jobQueueSettings(options: JobQueueOptions): JobQueueSettings {
  return {
    leaseMs: options.leaseMs ?? 30_000,
    pollMs: options.pollMs ?? 1_000,
    concurrency: options.concurrency ?? 1,
    maxAttempts: options.maxAttempts ?? 5,
    retryBaseMs: options.retryBaseMs ?? 1_000,
    retryMaxMs: options.retryMaxMs ?? 300_000,
    stopTimeoutMs: options.stopTimeoutMs ?? 5_000,
    keepCompletedMs: options.keepCompletedMs ?? 7 * 86_400_000,
  };
}

export const silentLogger: Pick<Logger, 'warn' | 'error' | 'debug'> = { warn() {}, error() {}, debug() {} };

/** A claimed job's row (both queues' `RETURNING` give these columns). */
export interface JobRow {
  id: number;
  type: string;
  payload: string;
  attempts: number;
  created_at: number;
}

/** The claimed row as the `JobRecord` a handler gets. */
export function toJob(row: JobRow): JobRecord {
  return { id: row.id, type: row.type, payload: JSON.parse(row.payload) as Record<string, unknown>, attempts: row.attempts, createdAt: row.created_at };
}

/**
 * The next claimed job to run, with the other claimed jobs of its type when the type runs in batches (in
 * claim order, up to its `maxJobs`); `rest` keeps the others in their places.
 */
export function takeNextToRun(waiting: readonly JobRecord[], batching: ReadonlyMap<string, JobBatching>): { jobs: JobRecord[]; rest: JobRecord[] } {
  const [first, ...others] = waiting;
  if (first === undefined) return { jobs: [], rest: [] };
  const batch = batching.get(first.type);
  if (batch === undefined || others.length === 0) return { jobs: [first], rest: others };
  const jobs = [first];
  const rest: JobRecord[] = [];
  for (const job of others) {
    if (job.type === first.type && jobs.length < batch.maxJobs) jobs.push(job);
    else rest.push(job);
  }
  return { jobs, rest };
}

/**
 * Runs a type's batch handler over claimed jobs and gives one outcome per job, in order: a handler that
 * throws, or answers another number of outcomes, fails them all. Meanwhile `renewLeases` is called every
 * third of a lease, so that no other worker takes the jobs while they run.
 */
export async function settleBatch(
  batching: JobBatching,
  jobs: readonly JobRecord[],
  signal: AbortSignal,
  leaseMs: number,
  renewLeases: () => void,
): Promise<ReadonlyArray<PromiseSettledResult<unknown>>> {
  const renew = setInterval(renewLeases, Math.max(10, Math.floor(leaseMs / 3)));
  renew.unref();
  try {
    const outcomes = await batching.handler(jobs, signal);
    if (outcomes.length !== jobs.length) throw new Error(`the ${jobs[0]!.type} batch handler gave ${outcomes.length} outcomes for ${jobs.length} jobs`);
    return outcomes;
  } catch (error) {
    return jobs.map(() => ({ status: 'rejected', reason: error }));
  } finally {
    clearInterval(renew);
  }
}

/** The jobs this process runs now, each with the controller that aborts it when stopping takes too long. */
export class RunningJobs {
  private readonly jobs = new Map<number, { controller: AbortController; done: Promise<void> }>();

  get size(): number {
    return this.jobs.size;
  }

  /** Starts `run` for a claimed job; `finished` is called once it has ended, whatever the outcome. */
  start(id: number, run: (signal: AbortSignal) => Promise<void>, finished: () => void): void {
    const controller = new AbortController();
    const done = run(controller.signal).finally(() => {
      this.jobs.delete(id);
      finished();
    });
    this.jobs.set(id, { controller, done });
  }

  /** Waits for the running jobs, at most `timeoutMs`; then aborts them and waits for them to give up. */
  async stop(timeoutMs: number): Promise<void> {
    const jobs = [...this.jobs.values()];
    if (jobs.length === 0) return;
    let timeout: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timeout = setTimeout(() => resolve('timeout'), timeoutMs)));
    const finished = await Promise.race([Promise.all(jobs.map((job) => job.done)).then(() => 'done' as const), timedOut]);
    clearTimeout(timeout);
    if (finished === 'timeout') {
      for (const job of jobs) job.controller.abort(new Error('job queue stopping'));
      await Promise.all(jobs.map((job) => job.done));
    }
  }
}

/** How often a queue that gives way to interactive work looks whether it is done. */
export const YIELD_POLL_MS = 10;

/**
 * Background work giving way to interactive work (a turn someone waits for): no job starts while it
 * runs (`isYielding`), and a running job waits for it before a stretch of synchronous work (`giveWay`),
 * each for at most `maxWaitMs` at a time so background work is never starved.
 */
export class InteractiveYield {
  private isBusy: () => boolean = () => false;
  private maxWaitMs = 0;
  private yieldingSince: number | null = null;

  constructor(
    private readonly clock: Clock,
    /** False once the queue stops: a job waiting to give way goes on (and sees its abort signal). */
    private readonly isRunning: () => boolean,
  ) {}

  /** The port's `yieldTo`. */
  yieldTo(isBusy: () => boolean, maxWaitMs = 1_000): void {
    this.isBusy = isBusy;
    this.maxWaitMs = maxWaitMs;
  }

  /**
   * The port's `giveWay`: first lets the event loop take in what has arrived (a request's frame, a model's
   * answer: one `setImmediate`), so that a turn it starts goes first; then resolves once no interactive
   * work runs, or after `maxWaitMs`. A job awaits it between its synchronous stretches, which keeps each
   * of them what a turn arriving meanwhile can wait behind.
   */
  giveWay(): Promise<void> {
    return new Promise<void>((resolve) => {
      setImmediate(() => {
        if (!this.isBusy()) return resolve();
        const since = this.clock.now();
        const look = (): void => {
          if (!this.isRunning() || !this.isBusy() || this.clock.now() - since >= this.maxWaitMs) resolve();
          else setTimeout(look, YIELD_POLL_MS);
        };
        setTimeout(look, YIELD_POLL_MS);
      });
    });
  }

  /** True while a job should not start yet: interactive work runs, and it has not waited `maxWaitMs` for it. */
  isYielding(): boolean {
    if (!this.isBusy()) {
      this.yieldingSince = null;
      return false;
    }
    const now = this.clock.now();
    this.yieldingSince ??= now;
    if (now - this.yieldingSince < this.maxWaitMs) return true;
    this.yieldingSince = null;
    return false;
  }
}
