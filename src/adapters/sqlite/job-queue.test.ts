import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../logger.js';
import type { JobRecord } from '../../ports/jobs.js';
import { localProcess } from './claim-owner.js';
import { openDatabase, type Database } from './database.js';
import { retryDelay, SqliteJobQueue } from './job-queue.js';
import { completingTransaction, immediateTransaction, jointWrite } from './transactions.js';

const WORKER = fileURLToPath(new URL('../../../test/integration/memory-jobs.worker.ts', import.meta.url));

let db: Database;
afterEach(() => db?.close());

function fakeClock(start = 1_000_000): { now(): number; advance(ms: number): void } {
  let time = start;
  return { now: () => time, advance: (ms) => (time += ms) };
}

function row(id: number): { status: string; attempts: number; last_error: string | null; run_after: number } {
  return db.prepare('SELECT status, attempts, last_error, run_after FROM jobs WHERE id = ?').get(id) as never;
}

/** Registers a job type that runs until stop aborts it; resolves once such a job has started. */
function registerUntilAborted(queue: SqliteJobQueue, type: string): Promise<void> {
  return new Promise<void>((started) => {
    queue.register(type, (_job, signal) => {
      started();
      return new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
    });
  });
}

/** Starts the crash-test worker process on `file` (test/integration/memory-jobs.worker.ts); resolves with it once it has claimed a job. */
async function claimingWorker(file: string, leaseMs?: number): Promise<{ child: ReturnType<typeof spawn>; claimed: string }> {
  const args = ['--import', 'tsx', WORKER, file, ...(leaseMs === undefined ? [] : [String(leaseMs)])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const claimed = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`worker exited early with ${code}`)));
  });
  return { child, claimed };
}

function killed(child: ReturnType<typeof spawn>): Promise<NodeJS.Signals | null> {
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  child.kill('SIGKILL');
  return exited;
}

describe('retryDelay', () => {
  it('doubles from the base per attempt, up to the cap', () => {
    expect([1, 2, 3, 4].map((attempt) => retryDelay(attempt, 1_000, 5_000))).toEqual([1_000, 2_000, 4_000, 5_000]);
  });
});

describe('SqliteJobQueue', () => {
  it('runs a job once and marks it completed', async () => {
    db = openDatabase(':memory:');
    const queue = new SqliteJobQueue(db, { pollMs: 10 });
    const seen: JobRecord[] = [];
    queue.register('greet', async (job) => {
      seen.push(job);
    });
    queue.start();
    const id = await queue.enqueue('greet', { name: 'Sam' });
    await queue.drain(2_000);
    await queue.stop();
    expect(seen).toEqual([expect.objectContaining({ id, type: 'greet', payload: { name: 'Sam' }, attempts: 1 })]);
    expect(await queue.stats()).toEqual({ pending: 0, due: 0, running: 0, failed: 0, completed: 1 });
  });

  it('does not add a second pending job with the same dedupe key', async () => {
    db = openDatabase(':memory:');
    const queue = new SqliteJobQueue(db);
    const first = await queue.enqueue('x', {}, { dedupeKey: 'k' });
    expect(await queue.enqueue('x', { other: true }, { dedupeKey: 'k' })).toBe(first);
    expect((await queue.stats()).pending).toBe(1);
  });

  it('writes the enqueues of one turn of the event loop together, each with its own id and dedupe', async () => {
    db = openDatabase(':memory:');
    const queue = new SqliteJobQueue(db);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const [a, b, again, bad] = await Promise.allSettled([
      queue.enqueue('x', { n: 1 }, { dedupeKey: 'k' }),
      queue.enqueue('y', { n: 2 }),
      queue.enqueue('x', { n: 3 }, { dedupeKey: 'k' }),
      queue.enqueue('z', circular),
    ]);
    expect(a).toEqual({ status: 'fulfilled', value: expect.any(Number) });
    expect(b).toEqual({ status: 'fulfilled', value: expect.any(Number) });
    expect(again).toEqual({ status: 'fulfilled', value: (a as PromiseFulfilledResult<number>).value });
    expect(bad.status).toBe('rejected');
    expect(db.prepare('SELECT type, payload FROM jobs ORDER BY id').all()).toEqual([
      { type: 'x', payload: '{"n":1}' },
      { type: 'y', payload: '{"n":2}' },
    ]);
  });

  it('retries a failing job with backoff, then fails it for good after maxAttempts', async () => {
    db = openDatabase(':memory:');
    const clock = fakeClock();
    const queue = new SqliteJobQueue(db, { clock, retryBaseMs: 1_000, maxAttempts: 2 });
    queue.register('flaky', async () => {
      throw new Error('backend down');
    });
    const id = await queue.enqueue('flaky', {});
    await queue.run(queue.claim()!);
    expect(row(id)).toEqual({ status: 'pending', attempts: 1, last_error: 'backend down', run_after: clock.now() + 1_000 });
    expect(queue.claim()).toBeNull(); // not due yet
    clock.advance(1_000);
    await queue.run(queue.claim()!);
    expect(row(id)).toMatchObject({ status: 'failed', attempts: 2, last_error: 'backend down' });
    expect(queue.claim()).toBeNull();
  });

  it('lets a second worker claim a job only after the first one stopped renewing its lease', async () => {
    db = openDatabase(':memory:');
    const clock = fakeClock();
    const first = new SqliteJobQueue(db, { clock, leaseMs: 1_000 });
    const second = new SqliteJobQueue(db, { clock, leaseMs: 1_000 });
    for (const queue of [first, second]) queue.register('slow', async () => undefined);
    const id = await first.enqueue('slow', {});
    const claimed = first.claim()!;
    expect(second.claim()).toBeNull();
    clock.advance(1_000);
    const reclaimed = second.claim()!;
    expect(reclaimed).toMatchObject({ id, attempts: 2 });
    // The first worker finishing late does not complete the job that now belongs to the second.
    await first.run(claimed);
    expect(row(id).status).toBe('running');
    await second.run(reclaimed);
    expect(row(id)).toMatchObject({ status: 'completed', attempts: 2 });
  });

  it('completes, exactly once, a job whose worker process was killed with SIGKILL mid-job', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-jobs-'));
    try {
      const file = path.join(dir, 'jobs.db');
      db = openDatabase(file);
      const setup = new SqliteJobQueue(db);
      const id = await setup.enqueue('crash.test', { step: 'formation' });

      const child = spawn(process.execPath, ['--import', 'tsx', WORKER, file], { stdio: ['ignore', 'pipe', 'inherit'] });
      const claimedLine = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('\n')) resolve(out.trim());
        });
        child.once('exit', (code) => reject(new Error(`worker exited early with ${code}`)));
      });
      expect(claimedLine).toBe(`claimed ${id} attempt 1`);
      expect(row(id)).toMatchObject({ status: 'running', attempts: 1 });
      const exited = new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');

      // "Restart": a new worker on the same file picks the job up once the dead worker's lease expires.
      const runs: number[] = [];
      const restarted = new SqliteJobQueue(db, { leaseMs: 400, pollMs: 20 });
      restarted.register('crash.test', async (job) => {
        runs.push(job.attempts);
      });
      restarted.start();
      await restarted.drain(5_000);
      await restarted.stop();
      expect(runs).toEqual([2]);
      expect(row(id)).toMatchObject({ status: 'completed', attempts: 2 });
      expect(await restarted.stats()).toEqual({ pending: 0, due: 0, running: 0, failed: 0, completed: 1 });
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes back at start the jobs a killed process had claimed, without waiting out their lease', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-jobs-'));
    try {
      const file = path.join(dir, 'jobs.db');
      db = openDatabase(file);
      const id = await new SqliteJobQueue(db).enqueue('crash.test', { step: 'formation' });
      // A lease of 10 minutes: only the take-back can run the job again within this test.
      const { child, claimed } = await claimingWorker(file, 600_000);
      expect(claimed).toBe(`claimed ${id} attempt 1`);
      expect(await killed(child)).toBe('SIGKILL');

      const runs: number[] = [];
      const restarted = new SqliteJobQueue(db, { pollMs: 20 });
      restarted.register('crash.test', async (job) => {
        runs.push(job.attempts);
      });
      restarted.start();
      await restarted.drain(60_000);
      await restarted.stop();
      expect(runs).toEqual([2]);
      expect(row(id)).toMatchObject({ status: 'completed', attempts: 2 });
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("drops, at the take-back, a dead process's running job whose dedupe key a pending job holds again, and starts", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-jobs-'));
    try {
      db = openDatabase(path.join(dir, 'jobs.db'));
      const queue = new SqliteJobQueue(db);
      const claimed = await queue.enqueue('expand', { n: 1 }, { dedupeKey: 'memory.expand' });
      // Claimed by a process that is gone (a PID that ran and exited), then the same work enqueued again.
      const gone = spawnSync(process.execPath, ['-e', '']).pid;
      db.prepare("UPDATE jobs SET status = 'running', attempts = 1, lease_owner = ?, lease_until = ? WHERE id = ?").run(
        `${gone}-dead`,
        Date.now() + 600_000,
        claimed,
      );
      const again = await queue.enqueue('expand', { n: 2 }, { dedupeKey: 'memory.expand' });
      expect(again).not.toBe(claimed);

      const runs: unknown[] = [];
      const restarted = new SqliteJobQueue(db, { pollMs: 20 });
      restarted.register('expand', async (job) => {
        runs.push(job.payload);
      });
      restarted.start();
      await restarted.drain(10_000);
      await restarted.stop();
      expect(runs).toEqual([{ n: 2 }]);
      expect(db.prepare('SELECT id, status FROM jobs').all()).toEqual([{ id: again, status: 'completed' }]);
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('logs apart, at the take-back, the jobs that run again and those dropped for their pending twin', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-jobs-'));
    try {
      db = openDatabase(path.join(dir, 'jobs.db'));
      const queue = new SqliteJobQueue(db);
      const twinned = await queue.enqueue('expand', { n: 1 }, { dedupeKey: 'memory.expand' });
      const alone = await queue.enqueue('form', { n: 1 });
      const gone = spawnSync(process.execPath, ['-e', '']).pid;
      db.prepare("UPDATE jobs SET status = 'running', attempts = 1, lease_owner = ?, lease_until = ?").run(`${gone}-dead`, Date.now() + 600_000);
      await queue.enqueue('expand', { n: 2 }, { dedupeKey: 'memory.expand' });

      const lines: Array<Record<string, unknown>> = [];
      const logger = createLogger('warn', { write: (line: string) => lines.push(JSON.parse(line)) });
      const restarted = new SqliteJobQueue(db, { pollMs: 20, logger });
      restarted.start();
      await restarted.stop();
      expect(db.prepare('SELECT id FROM jobs WHERE id IN (?, ?)').pluck().all(twinned, alone)).toEqual([alone]);
      const tookBack = lines.find((line) => String(line['msg']).startsWith('took back'));
      expect(tookBack).toMatchObject({ runAgain: 1, failed: 0, droppedForPendingTwin: 1 });
      expect(tookBack?.['msg']).toContain('1 run again now, 0 failed (that was their last attempt), 1 dropped (the same work is queued again)');
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leaves alone at start the jobs claimed by another process that still runs', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-jobs-'));
    try {
      const file = path.join(dir, 'jobs.db');
      db = openDatabase(file);
      const id = await new SqliteJobQueue(db).enqueue('crash.test', { step: 'formation' });
      const { child } = await claimingWorker(file, 600_000);
      try {
        const owner = (db.prepare('SELECT lease_owner FROM jobs WHERE id = ?').pluck().get(id) as string).split('-')[0];
        expect(owner).toBe(String(child.pid));
        const second = new SqliteJobQueue(db, { pollMs: 20 });
        second.register('crash.test', async () => undefined);
        second.start();
        await second.stop();
        expect(row(id)).toMatchObject({ status: 'running', attempts: 1 });
      } finally {
        await killed(child);
      }
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes back at start the claims of an earlier queue of this process that stopped without handing them back', async () => {
    db = openDatabase(':memory:');
    const earlier = new SqliteJobQueue(db);
    earlier.register('x', async () => undefined);
    const id = await earlier.enqueue('x', {});
    expect(earlier.claim()).toMatchObject({ id });
    // A live queue's claims stay its own.
    const beside = new SqliteJobQueue(db);
    beside.start();
    await beside.stop();
    expect(row(id)).toMatchObject({ status: 'running' });
    // The same PID, an owner no queue of this process runs: a process before this one (a container's PID 1).
    db.prepare("UPDATE jobs SET lease_owner = ? WHERE id = ?").run(`${process.pid}-00000000`, id);
    const later = new SqliteJobQueue(db, { pollMs: 20 });
    const runs: number[] = [];
    later.register('x', async (job) => {
      runs.push(job.attempts);
    });
    later.start();
    await later.drain(60_000);
    await later.stop();
    expect(runs).toEqual([2]);
  });

  it("leaves alone at start another PID namespace's claims and another thread's, takes back an earlier start's", async () => {
    db = openDatabase(':memory:');
    const here = localProcess();
    const claimed = (owner: string): number =>
      Number(
        db
          .prepare("INSERT INTO jobs (type, payload, status, attempts, max_attempts, run_after, lease_owner, lease_until, created_at, updated_at) VALUES ('x', '{}', 'running', 1, 3, 0, ?, 9000000000000000, 0, 0)")
          .run(owner).lastInsertRowid,
      );
    // A container beside us on the same volume, whose PID 999999 does not run in our namespace.
    const otherNamespace = claimed(`999999-0badcafe-0-12-${'f'.repeat(12)}`);
    // A worker thread of this very process.
    const otherThread = claimed(`${here.pid}-0badcafe-${here.threadId + 1}-${here.startTicks}-${here.scope}`);
    // This PID in a process started earlier: a container's server restarted as PID 1.
    const earlierStart = claimed(`${here.pid}-0badcafe-${here.threadId}-${here.startTicks}0-${here.scope}`);
    const queue = new SqliteJobQueue(db, { pollMs: 60_000 });
    queue.start();
    await queue.stop();
    expect(row(otherNamespace)).toMatchObject({ status: 'running' });
    expect(row(otherThread)).toMatchObject({ status: 'running' });
    expect(row(earlierStart)).toMatchObject({ status: 'pending', attempts: 1 });
  });

  it('hands the claimed jobs of a batched type to its batch handler together, a lone one to its handler', async () => {
    db = openDatabase(':memory:');
    const queue = new SqliteJobQueue(db, { pollMs: 10, retryBaseMs: 60_000 });
    const singles: number[] = [];
    const batches: number[][] = [];
    const others: number[] = [];
    queue.register(
      'form',
      async (job) => {
        singles.push(job.payload.n as number);
      },
      {
        maxJobs: 2,
        handler: async (jobs) => {
          batches.push(jobs.map((job) => job.payload.n as number));
          return jobs.map((job) => (job.payload.n === 3 ? { status: 'rejected', reason: new Error('no 3') } : { status: 'fulfilled', value: undefined }));
        },
      },
    );
    queue.register('relate', async (job) => {
      others.push(job.payload.n as number);
    });
    // Due together (enqueued while the worker is stopped): form 1, relate 1, form 2, relate 2, form 3, form 4, form 5.
    const ids: number[] = [];
    for (const [type, n] of [['form', 1], ['relate', 1], ['form', 2], ['relate', 2], ['form', 3], ['form', 4], ['form', 5]] as const)
      ids.push(await queue.enqueue(type, { n }));
    queue.start();
    await queue.drain(10_000);
    await queue.stop();
    // Claimed 7 at once (CLAIM_BATCH is 8): the form jobs in claim order, two at a time; the fifth alone.
    expect(batches).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(singles).toEqual([5]);
    expect(others).toEqual([1, 2]);
    expect(row(ids[4]!)).toMatchObject({ status: 'pending', attempts: 1, last_error: 'no 3' });
    expect(row(ids[5]!)).toMatchObject({ status: 'completed' });
  });

  it('gives an unfinished job back on stop, to be run on the next start', async () => {
    db = openDatabase(':memory:');
    const queue = new SqliteJobQueue(db, { pollMs: 10, stopTimeoutMs: 50 });
    const isStarted = registerUntilAborted(queue, 'long');
    const id = await queue.enqueue('long', {});
    queue.start();
    await isStarted;
    await queue.stop();
    expect(row(id)).toMatchObject({ status: 'pending', attempts: 1 });
  });

  it('writes a job enqueued just before stop, before the store closes', async () => {
    db = openDatabase(':memory:');
    const queue = new SqliteJobQueue(db, { pollMs: 10 });
    queue.register('form', async () => undefined);
    queue.start();
    const enqueued = queue.enqueue('form', { message: 1 });
    await queue.stop();
    db.close();
    await expect(enqueued).resolves.toBeGreaterThan(0);
  });

  it('starts no job while interactive work runs, and starts it as soon as that is done', async () => {
    db = openDatabase(':memory:');
    const queue = new SqliteJobQueue(db, { pollMs: 1_000 });
    let isBusy = true;
    queue.yieldTo(() => isBusy, 60_000);
    const ran: number[] = [];
    queue.register('later', async (job) => {
      ran.push(job.id);
    });
    queue.start();
    const id = await queue.enqueue('later', {});
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(ran).toEqual([]);
    isBusy = false;
    await queue.drain(2_000);
    expect(ran).toEqual([id]);
    await queue.stop();
  });

  it("records a finished job's completion with the next claim, and counts it completed meanwhile", async () => {
    db = openDatabase(':memory:');
    const queue = new SqliteJobQueue(db, { pollMs: 60_000 });
    const statusesSeen: string[] = [];
    let firstId = 0;
    queue.register('step', async (job) => {
      // The second job starts after the first one's completion went in with its claim.
      if (job.id !== firstId) statusesSeen.push(row(firstId).status);
    });
    queue.start();
    firstId = await queue.enqueue('step', {});
    const secondId = await queue.enqueue('step', {});
    await queue.drain(2_000);
    expect(statusesSeen).toEqual(['completed']);
    expect(await queue.stats()).toEqual({ pending: 0, due: 0, running: 0, failed: 0, completed: 2 });
    // The last one has no claim after it: drain writes it (the table reads as the queue sees it).
    expect([row(firstId).status, row(secondId).status]).toEqual(['completed', 'completed']);
    await queue.stop();
  });

  it('writes a completion no claim took along on its own, within one poll period, and counts it completed meanwhile', async () => {
    db = openDatabase(':memory:');
    const queue = new SqliteJobQueue(db, { pollMs: 30 });
    let finished!: () => void;
    const ran = new Promise<void>((resolve) => (finished = resolve));
    queue.register('one', async () => {
      setImmediate(finished);
    });
    queue.start();
    const id = await queue.enqueue('one', {});
    await ran;
    expect(await queue.stats()).toMatchObject({ running: 0, completed: 1 });
    const deadline = Date.now() + 5_000;
    while (row(id).status !== 'completed' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(row(id).status).toBe('completed');
    expect(await queue.stats()).toMatchObject({ running: 0, completed: 1 });
    await queue.stop();
  });

  it('writes the last completion on stop at the latest', async () => {
    db = openDatabase(':memory:');
    const queue = new SqliteJobQueue(db, { pollMs: 60_000 });
    queue.register('one', async () => undefined);
    queue.start();
    const id = await queue.enqueue('one', {});
    await queue.drain(2_000);
    await queue.stop();
    expect(row(id).status).toBe('completed');
  });

  it("commits a job's completion in the transaction of the write its handler hands it to", async () => {
    db = openDatabase(':memory:');
    db.exec('CREATE TABLE effects (job INTEGER)');
    const queue = new SqliteJobQueue(db, { pollMs: 60_000 });
    const seen: string[] = [];
    queue.register('write', async (job) => {
      completingTransaction(db, () => db.prepare('INSERT INTO effects (job) VALUES (?)').run(job.id), [job.completion]);
      // Before the handler returns: a crash from here on leaves the job done, not to be run again.
      seen.push(row(job.id).status);
    });
    queue.start();
    const id = await queue.enqueue('write', {});
    await queue.drain(2_000);
    expect(seen).toEqual(['completed']);
    expect(row(id)).toMatchObject({ status: 'completed', attempts: 1 });
    expect(await queue.stats()).toEqual({ pending: 0, due: 0, running: 0, failed: 0, completed: 1 });
    await queue.stop();
  });

  it('leaves a job completed, not retried, when its handler throws after its completion was committed', async () => {
    db = openDatabase(':memory:');
    const queue = new SqliteJobQueue(db, { pollMs: 10, retryBaseMs: 1 });
    let runs = 0;
    queue.register('write', async (job) => {
      runs++;
      completingTransaction(db, () => undefined, [job.completion]);
      throw new Error('a cleanup after the write failed');
    });
    queue.start();
    const id = await queue.enqueue('write', {});
    await queue.drain(2_000);
    await queue.stop();
    expect(runs).toBe(1);
    expect(row(id)).toMatchObject({ status: 'completed', attempts: 1, last_error: null });
  });

  it("commits a batch's completions with the writes they are handed to, and retries a job whose write failed", async () => {
    db = openDatabase(':memory:');
    db.exec('CREATE TABLE effects (n INTEGER CHECK (n <> 2))');
    const queue = new SqliteJobQueue(db, { pollMs: 10, retryBaseMs: 60_000 });
    const seen: string[][] = [];
    queue.register('write', async () => undefined, {
      maxJobs: 3,
      handler: async (jobs) => {
        // One transaction, each job's row in a savepoint: the second one's fails (the CHECK), the others' commit with their completions.
        const outcomes = completingTransaction(
          db,
          () =>
            jobs.map((job): PromiseSettledResult<unknown> => {
              try {
                return { status: 'fulfilled', value: immediateTransaction(db)(() => db.prepare('INSERT INTO effects (n) VALUES (?)').run(job.payload.n)) };
              } catch (error) {
                return { status: 'rejected', reason: error };
              }
            }),
          (written) => jobs.map((job, index) => (written[index]!.status === 'fulfilled' ? job.completion : undefined)),
        );
        seen.push(jobs.map((job) => row(job.id).status));
        return outcomes;
      },
    });
    const ids: number[] = [];
    for (const n of [1, 2, 3]) ids.push(await queue.enqueue('write', { n }));
    queue.start();
    await queue.drain(2_000);
    await queue.stop();
    expect(seen).toEqual([['completed', 'running', 'completed']]);
    expect(ids.map((id) => row(id))).toMatchObject([
      { status: 'completed', attempts: 1 },
      { status: 'pending', attempts: 1 },
      { status: 'completed', attempts: 1 },
    ]);
  });

  /** A store's write as the stores hand it over: to the job's claim when it takes it, else committed now. */
  function writeEffect(job: JobRecord, n: number): Promise<unknown> {
    const write = () => db.prepare('INSERT INTO effects (n) VALUES (?)').run(n);
    return jointWrite(db, [job.completion], { write, committed() {}, rolledBack() {} }) ?? Promise.resolve(completingTransaction(db, write, [job.completion]));
  }
  const effects = (): number[] => db.prepare('SELECT n FROM effects ORDER BY rowid').pluck().all() as number[];

  /** Runs a `form` then a `relate` job (both writing with their claim), noting what each saw written when it started and once it wrote. */
  const runFormThenRelate = async (queue: SqliteJobQueue): Promise<{ seen: string[]; ids: number[] }> => {
    const seen: string[] = [];
    for (const [type, n] of [['form', 1], ['relate', 2]] as const)
      queue.register(
        type,
        async (job) => {
          seen.push(`${type} starts, written: ${effects().join()}`);
          await writeEffect(job, n);
          seen.push(`${type} written: ${row(job.id).status}, written: ${effects().join()}`);
        },
        undefined,
        { withClaim: true },
      );
    queue.start();
    const ids = await Promise.all([queue.enqueue('form', {}), queue.enqueue('relate', {})]);
    await queue.drain(2_000);
    await queue.stop();
    return { seen, ids };
  };

  it("commits the last writes of a claim's jobs in one transaction, once every job of the claim has come to its write", async () => {
    db = openDatabase(':memory:');
    db.exec('CREATE TABLE effects (n INTEGER)');
    const queue = new SqliteJobQueue(db, { pollMs: 60_000, claimWrites: true });
    const { seen, ids } = await runFormThenRelate(queue);
    // The second job ran while the first one's write waited; then both committed with their completions.
    expect(seen).toEqual(['form starts, written: ', 'relate starts, written: ', 'form written: completed, written: 1,2', 'relate written: completed, written: 1,2']);
    expect(ids.map((id) => row(id))).toMatchObject([
      { status: 'completed', attempts: 1 },
      { status: 'completed', attempts: 1 },
    ]);
  });

  it("writes each job's effect on its own unless asked to write a claim's together (claimWrites)", async () => {
    db = openDatabase(':memory:');
    db.exec('CREATE TABLE effects (n INTEGER)');
    const queue = new SqliteJobQueue(db, { pollMs: 60_000 });
    const { seen } = await runFormThenRelate(queue);
    expect(seen.filter((step) => step.includes('starts'))).toEqual(['form starts, written: ', 'relate starts, written: 1']);
  });

  it.each([
    ['the first', 1],
    ['a later', 2],
  ])("rolls back a claim's write that fails alone (%s): the others commit with their completions, its job is retried", async (_which, failing) => {
    db = openDatabase(':memory:');
    db.exec(`CREATE TABLE effects (n INTEGER CHECK (n <> ${failing}))`);
    const queue = new SqliteJobQueue(db, { pollMs: 10, retryBaseMs: 60_000, claimWrites: true });
    for (const type of ['form', 'relate', 'summarise'])
      queue.register(type, async (job) => void (await writeEffect(job, job.payload.n as number)), undefined, { withClaim: true });
    queue.start();
    const ids = await Promise.all([queue.enqueue('form', { n: 1 }), queue.enqueue('relate', { n: 2 }), queue.enqueue('summarise', { n: 3 })]);
    await queue.drain(2_000);
    await queue.stop();
    expect(effects()).toEqual([1, 2, 3].filter((n) => n !== failing));
    expect(ids.map((id, index) => row(id).status + (index + 1 === failing ? `, attempts ${row(id).attempts}, ${row(id).last_error}` : ''))).toEqual(
      [1, 2, 3].map((n) => (n === failing ? 'pending, attempts 1, CHECK constraint failed: n <> ' + failing : 'completed')),
    );
  });

  it("commits a write waiting for its claim's other jobs when the queue stops, and gives the unfinished job back", async () => {
    db = openDatabase(':memory:');
    db.exec('CREATE TABLE effects (n INTEGER)');
    const queue = new SqliteJobQueue(db, { pollMs: 60_000, stopTimeoutMs: 50, claimWrites: true });
    queue.register('form', async (job) => void (await writeEffect(job, 1)), undefined, { withClaim: true });
    const started = new Promise<void>((resolve) =>
      queue.register(
        'relate',
        (_job, signal) => {
          resolve();
          return new Promise((_done, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
        },
        undefined,
        { withClaim: true },
      ),
    );
    queue.start();
    const ids = await Promise.all([queue.enqueue('form', {}), queue.enqueue('relate', {})]);
    await started;
    expect(effects()).toEqual([]);
    await queue.stop();
    expect(effects()).toEqual([1]);
    expect(ids.map((id) => row(id).status)).toEqual(['completed', 'pending']);
  });

  it("commits a claim's writes before a job of a type that does not write with them starts", async () => {
    db = openDatabase(':memory:');
    db.exec('CREATE TABLE effects (n INTEGER)');
    const queue = new SqliteJobQueue(db, { pollMs: 60_000, claimWrites: true });
    const seen: string[] = [];
    queue.register('form', async (job) => void (await writeEffect(job, 1)), undefined, { withClaim: true });
    queue.register('summarise', async () => void seen.push(`summarise starts, written: ${effects().join()}`));
    queue.start();
    await Promise.all([queue.enqueue('form', {}), queue.enqueue('summarise', {})]);
    await queue.drain(2_000);
    await queue.stop();
    expect(seen).toEqual(['summarise starts, written: 1']);
  });

  it('writes the completion itself when the write it was handed to is on another connection, or inside an outer transaction', async () => {
    db = openDatabase(':memory:');
    const other = openDatabase(':memory:');
    const queue = new SqliteJobQueue(db, { pollMs: 60_000 });
    const seen: string[] = [];
    queue.register('elsewhere', async (job) => {
      completingTransaction(other, () => undefined, [job.completion]);
      seen.push(row(job.id).status);
    });
    queue.register('nested', async (job) => {
      // The outer transaction may still roll back: the completion is not written inside it.
      immediateTransaction(db)(() => completingTransaction(db, () => undefined, [job.completion]));
      seen.push(row(job.id).status);
    });
    queue.start();
    const ids = [await queue.enqueue('elsewhere', {}), await queue.enqueue('nested', {})];
    await queue.drain(2_000);
    await queue.stop();
    other.close();
    expect(seen).toEqual(['running', 'running']);
    expect(ids.map((id) => row(id).status)).toEqual(['completed', 'completed']);
  });

  it('claims the jobs of a turn in the transaction that enqueues them, and runs them one after another in order', async () => {
    db = openDatabase(':memory:');
    const queue = new SqliteJobQueue(db, { pollMs: 60_000 });
    const ran: string[] = [];
    for (const type of ['form', 'relate'])
      queue.register(type, async (job) => {
        // The other job, claimed with this one, waits: still running in the table, never started twice.
        ran.push(`${job.type}:${job.attempts}`);
      });
    queue.start();
    const [form, relate] = await Promise.all([queue.enqueue('form', {}), queue.enqueue('relate', {})]);
    // Resolved once the enqueue committed, before any handler ran: both were claimed by that commit.
    expect(db.prepare('SELECT id, status, attempts, lease_owner FROM jobs ORDER BY id').all()).toEqual([
      { id: form, status: 'running', attempts: 1, lease_owner: queue.owner },
      { id: relate, status: 'running', attempts: 1, lease_owner: queue.owner },
    ]);
    // Claimed but not started counts as pending (and due) to anyone asking.
    expect(await queue.stats()).toEqual({ pending: 2, due: 2, running: 0, failed: 0, completed: 0 });
    await queue.drain(2_000);
    expect(ran).toEqual(['form:1', 'relate:1']);
    expect([row(form).status, row(relate).status]).toEqual(['completed', 'completed']);
    await queue.stop();
  });

  it('keeps the lease of a claimed job that waits behind a running one', async () => {
    db = openDatabase(':memory:');
    const clock = fakeClock();
    const queue = new SqliteJobQueue(db, { clock, leaseMs: 300, pollMs: 60_000 });
    const other = new SqliteJobQueue(db, { clock, leaseMs: 300 });
    let release!: () => void;
    const mayFinish = new Promise<void>((resolve) => (release = resolve));
    queue.register('slow', () => mayFinish);
    queue.register('next', async () => undefined);
    for (const type of ['slow', 'next']) other.register(type, async () => undefined);
    queue.start();
    const [, next] = await Promise.all([queue.enqueue('slow', {}), queue.enqueue('next', {})]);
    const leaseOf = (): number => (db.prepare('SELECT lease_until FROM jobs WHERE id = ?').pluck().get(next) as number);
    const first = leaseOf();
    clock.advance(200);
    // The running job's renewal (every leaseMs / 3) renews the waiting one's lease too.
    const deadline = Date.now() + 5_000;
    while (leaseOf() === first && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(leaseOf()).toBe(clock.now() + 300);
    clock.advance(200); // past the first lease: another worker still may not take it
    expect(other.claim()).toBeNull();
    release();
    await queue.drain(2_000);
    expect(row(next)).toMatchObject({ status: 'completed', attempts: 1 });
    await queue.stop();
  });

  it('gives claimed jobs that never started back on stop, to be run on the next start', async () => {
    db = openDatabase(':memory:');
    const queue = new SqliteJobQueue(db, { pollMs: 10, stopTimeoutMs: 50 });
    const isStarted = registerUntilAborted(queue, 'long');
    queue.register('after', async () => undefined);
    queue.start();
    const [long, after] = await Promise.all([queue.enqueue('long', {}), queue.enqueue('after', {})]);
    await isStarted;
    await queue.stop();
    expect(row(long)).toMatchObject({ status: 'pending', attempts: 1 });
    expect(row(after)).toMatchObject({ status: 'pending', attempts: 1 });
    expect(db.prepare('SELECT count(*) FROM jobs WHERE lease_owner IS NOT NULL').pluck().get()).toBe(0);
  });

  it('lets a running job give way to interactive work before its synchronous part, for at most maxWaitMs', async () => {
    db = openDatabase(':memory:');
    const clock = fakeClock();
    const queue = new SqliteJobQueue(db, { clock, pollMs: 1_000 });
    let isBusy = false;
    queue.yieldTo(() => isBusy, 500);
    const steps: string[] = [];
    let jobStarted!: () => void;
    const started = new Promise<void>((resolve) => (jobStarted = resolve));
    let proceed!: () => void;
    const mayProceed = new Promise<void>((resolve) => (proceed = resolve));
    queue.register('form', async () => {
      jobStarted();
      await mayProceed; // the model call, say; meanwhile a turn comes in
      await queue.giveWay();
      steps.push('write');
    });
    queue.start();
    await queue.enqueue('form', {});
    await started;
    isBusy = true;
    proceed();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(steps).toEqual([]);
    isBusy = false;
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(steps).toEqual(['write']);

    // A turn that never ends holds the job back for maxWaitMs only.
    steps.length = 0;
    let again!: () => void;
    const mayGoAgain = new Promise<void>((resolve) => (again = resolve));
    queue.register('form2', async () => {
      await mayGoAgain;
      await queue.giveWay();
      steps.push('write');
    });
    await queue.enqueue('form2', {});
    await new Promise((resolve) => setTimeout(resolve, 40));
    isBusy = true;
    again();
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(steps).toEqual([]);
    clock.advance(500);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(steps).toEqual(['write']);
    await queue.stop();
  });

  it('gives way for at most maxWaitMs, so background work never starves', async () => {
    db = openDatabase(':memory:');
    const clock = fakeClock();
    const queue = new SqliteJobQueue(db, { clock, pollMs: 1_000 });
    queue.yieldTo(() => true, 500);
    const ran: number[] = [];
    queue.register('later', async (job) => {
      ran.push(job.id);
    });
    queue.start();
    const id = await queue.enqueue('later', {});
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(ran).toEqual([]);
    clock.advance(500);
    await queue.drain(2_000);
    expect(ran).toEqual([id]);
    await queue.stop();
  });
});
