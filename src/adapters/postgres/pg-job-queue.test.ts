/**
 * The job queue on PostgreSQL: the rules of the SQLite queue (run once, dedupe, retry with backoff, fail
 * after the last attempt, a dead worker's job claimed again once its lease expires) and what a shared
 * queue adds: workers of several nodes take different jobs (SKIP LOCKED), one that lost its lease
 * cannot complete the job a second time, and the jobs of a node killed while running them are claimed
 * again at once (a real second process, killed).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { dropFreshPostgres, freshPostgres, postgresAvailable, testPostgresUrl } from '../../../test/helpers/store-backend.js';
import type { JobRecord } from '../../ports/jobs.js';
import type { PostgresDatabase } from './database.js';
import { PostgresJobQueue } from './pg-job-queue.js';

const available = await postgresAvailable();

function fakeClock(start = 1_000_000): { now(): number; advance(ms: number): void } {
  let time = start;
  return { now: () => time, advance: (ms) => (time += ms) };
}

async function row(db: PostgresDatabase, id: number): Promise<{ status: string; attempts: number; last_error: string | null }> {
  return (await db.one<{ status: string; attempts: number; last_error: string | null }>('SELECT status, attempts, last_error FROM jobs WHERE id = $1', [id]))!;
}

describe.skipIf(!available.ok)('PostgresJobQueue', () => {
  afterEach(async () => {
    await dropFreshPostgres();
  });

  it('runs a job once and marks it completed', async () => {
    const queue = new PostgresJobQueue(await freshPostgres(), { pollMs: 10 });
    const seen: JobRecord[] = [];
    queue.register('greet', async (job) => {
      seen.push(job);
    });
    queue.start();
    const id = await queue.enqueue('greet', { name: 'Sam' });
    await queue.drain(5_000);
    await queue.stop();
    expect(seen).toEqual([expect.objectContaining({ id, type: 'greet', payload: { name: 'Sam' }, attempts: 1 })]);
    expect(await queue.stats()).toEqual({ pending: 0, due: 0, running: 0, failed: 0, completed: 1 });
  });

  it('does not add a second pending job with the same dedupe key', async () => {
    const queue = new PostgresJobQueue(await freshPostgres());
    const first = await queue.enqueue('x', {}, { dedupeKey: 'k' });
    expect(await queue.enqueue('x', {}, { dedupeKey: 'k' })).toBe(first);
    expect(await queue.enqueue('x', {}, { dedupeKey: 'other' })).not.toBe(first);
    expect((await queue.stats()).pending).toBe(2);
  });

  it('retries a failing job with backoff and fails it after the last attempt', async () => {
    const db = await freshPostgres();
    const clock = fakeClock();
    const queue = new PostgresJobQueue(db, { clock, retryBaseMs: 1_000, maxAttempts: 2 });
    queue.register('boom', async () => {
      throw new Error('no luck');
    });
    const id = await queue.enqueue('boom', {});
    await queue.run((await queue.claim())!);
    expect(await row(db, id)).toEqual({ status: 'pending', attempts: 1, last_error: 'no luck' });
    expect(await queue.claim()).toBeNull(); // waiting out the backoff
    clock.advance(1_000);
    await queue.run((await queue.claim())!);
    expect(await row(db, id)).toEqual({ status: 'failed', attempts: 2, last_error: 'no luck' });
  });

  it('gives a dead node’s job to another node once the lease expires; the late worker cannot complete it', async () => {
    const clock = fakeClock();
    const nodeA = new PostgresJobQueue(await freshPostgres(), { clock, leaseMs: 5_000 });
    const db = await freshPostgres();
    const nodeB = new PostgresJobQueue(db, { clock, leaseMs: 5_000 });
    for (const queue of [nodeA, nodeB]) queue.register('work', async () => {});
    const id = await nodeA.enqueue('work', {});
    const claimedByA = await nodeA.claim();
    expect(claimedByA?.id).toBe(id);
    expect(await nodeB.claim()).toBeNull(); // leased to A
    clock.advance(5_001); // A died: its lease runs out
    const claimedByB = await nodeB.claim();
    expect(claimedByB).toMatchObject({ id, attempts: 2 });
    await nodeB.run(claimedByB!);
    await nodeA.run(claimedByA!); // A comes back late: its completion is not recorded
    expect(await row(db, id)).toMatchObject({ status: 'completed', attempts: 2 });
  });

  it("records a finished job's completion with the next claim, and counts it completed meanwhile", async () => {
    const db = await freshPostgres();
    const queue = new PostgresJobQueue(db, { pollMs: 60_000 });
    const statusesSeen: string[] = [];
    let firstId = 0;
    queue.register('step', async (job) => {
      // The second job (claimed with the first) starts after the first one's completion is written.
      if (job.id !== firstId) statusesSeen.push((await row(db, firstId)).status);
    });
    firstId = await queue.enqueue('step', {});
    const secondId = await queue.enqueue('step', {});
    queue.start();
    await queue.drain(5_000);
    expect(statusesSeen).toEqual(['completed']);
    expect(await queue.stats()).toEqual({ pending: 0, due: 0, running: 0, failed: 0, completed: 2 });
    expect([(await row(db, firstId)).status, (await row(db, secondId)).status]).toEqual(['completed', 'completed']);
    await queue.stop();
  });

  it('lets a running job give way to interactive work before its synchronous part, for at most maxWaitMs', async () => {
    const clock = fakeClock();
    const queue = new PostgresJobQueue(await freshPostgres(), { clock, pollMs: 10 });
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
    clock.advance(500); // a turn that never ends holds the job back for maxWaitMs only
    await queue.drain(5_000);
    expect(steps).toEqual(['write']);
    await queue.stop();
  });

  it('claims several due jobs at once; those of a batching type run together, a lone one with its own handler, a rejected one fails alone', async () => {
    const db = await freshPostgres();
    const queue = new PostgresJobQueue(db, { pollMs: 10 });
    const batches: number[][] = [];
    const singles: number[] = [];
    let refused = 0;
    queue.register(
      'form',
      async (job) => {
        singles.push(job.id);
      },
      {
        handler: async (jobs) => {
          batches.push(jobs.map((job) => job.id));
          return jobs.map((job) => (job.id === refused ? { status: 'rejected' as const, reason: new Error('not this one') } : { status: 'fulfilled' as const, value: undefined }));
        },
        maxJobs: 4,
      },
    );
    const others: number[] = [];
    queue.register('other', async (job) => {
      others.push(job.id);
    });
    const ids: number[] = [];
    let otherId = 0;
    for (let i = 0; i < 5; i++) {
      ids.push(await queue.enqueue('form', { i }, i === 1 ? { maxAttempts: 1 } : {}));
      if (i === 2) otherId = await queue.enqueue('other', {});
    }
    refused = ids[1]!;
    queue.start();
    await queue.drain(10_000);
    await queue.stop();
    // one claim held all six: the first four formations in one pass, the other job, then the fifth alone
    expect(batches).toEqual([ids.slice(0, 4)]);
    expect(singles).toEqual([ids[4]]);
    expect(others).toEqual([otherId]);
    expect(await row(db, ids[1]!)).toEqual({ status: 'failed', attempts: 1, last_error: 'not this one' });
    expect((await queue.stats()).completed).toBe(5);
  });

  it('gives every job a dead node had claimed at once to another node when their leases expire, each run once', async () => {
    const clock = fakeClock();
    const nodeA = new PostgresJobQueue(await freshPostgres(), { clock, leaseMs: 60_000, pollMs: 10 });
    const db = await freshPostgres();
    const nodeB = new PostgresJobQueue(db, { clock, leaseMs: 60_000, pollMs: 10 });
    let startedOnA!: () => void;
    const aStarted = new Promise<void>((resolve) => (startedOnA = resolve));
    // Node A takes the first job and never finishes it: the process is gone, as after a kill -9.
    nodeA.register('work', () => (startedOnA(), new Promise<void>(() => {})));
    const ranOnB: number[] = [];
    nodeB.register('work', async (job) => {
      ranOnB.push(job.id);
    });
    const ids = [await nodeA.enqueue('work', {}), await nodeA.enqueue('work', {}), await nodeA.enqueue('work', {})];
    nodeA.start();
    await aStarted;
    // one claim took all three: the running one and the two waiting behind it
    expect(await nodeB.claim()).toBeNull();
    clock.advance(60_001);
    nodeB.start();
    await nodeB.drain(10_000);
    await nodeB.stop();
    expect(ranOnB.sort((a, b) => a - b)).toEqual(ids);
    for (const id of ids) expect(await row(db, id)).toMatchObject({ status: 'completed', attempts: 2 });
  });

  it('claims the jobs of a node killed while running them at once, not after their lease (a real second process)', async () => {
    const db = await freshPostgres();
    const found = await testPostgresUrl();
    if (!('url' in found)) throw new Error(found.unavailable);
    // This node's lease is ten minutes too, so the other node's could only pass by waiting that long.
    const node = new PostgresJobQueue(db, { pollMs: 10, leaseMs: 600_000 });
    const ran: number[] = [];
    node.register('work', async (job) => {
      ran.push(job.id);
    });
    const ids = [await node.enqueue('work', {}), await node.enqueue('work', {})];
    const fixture = fileURLToPath(new URL('../../../test/fixtures/nodes/pg-job-holder.ts', import.meta.url));
    const other = spawn(process.execPath, ['--import', 'tsx', fixture, found.url, db.schema], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = once(other, 'exit');
    try {
      let output = '';
      for await (const chunk of other.stdout) if ((output += String(chunk)).includes('claimed')) break;
      // one claim took both: the running one and the one waiting behind it
      expect(await db.rows('SELECT id FROM jobs WHERE status = $1 ORDER BY id', ['running'])).toEqual(ids.map((id) => ({ id })));
      expect(await node.claim()).toBeNull();
    } finally {
      other.kill('SIGKILL');
      await exited;
    }
    node.start();
    await node.drain(10_000);
    await node.stop();
    expect(ran).toEqual(ids);
    for (const id of ids) expect(await row(db, id)).toMatchObject({ status: 'completed', attempts: 2 });
  });

  it('lets workers of two nodes take different jobs at once (SKIP LOCKED), each job run once', async () => {
    const nodes = [new PostgresJobQueue(await freshPostgres(), { pollMs: 10 }), new PostgresJobQueue(await freshPostgres(), { pollMs: 10 })];
    const runs = new Map<number, string[]>();
    nodes.forEach((queue, index) =>
      queue.register('work', async (job) => {
        runs.set(job.id, [...(runs.get(job.id) ?? []), `node${index}`]);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }),
    );
    const ids = await Promise.all(Array.from({ length: 30 }, (_, i) => nodes[i % 2]!.enqueue('work', { i })));
    for (const queue of nodes) queue.start();
    await nodes[0]!.drain(15_000);
    await Promise.all(nodes.map((queue) => queue.stop()));
    expect([...runs.keys()].sort((a, b) => a - b)).toEqual([...ids].sort((a, b) => a - b));
    expect([...runs.values()].every((workers) => workers.length === 1)).toBe(true);
    expect(new Set([...runs.values()].flat()).size).toBe(2);
  });
});

describe.skipIf(available.ok)('PostgresJobQueue', () => {
  it.skip(`skipped: ${available.ok ? '' : available.reason}`, () => {});
});
