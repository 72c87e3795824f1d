/** `settleBatch`: one outcome per job, whatever the batch handler does. */
import { describe, expect, it } from 'vitest';
import type { JobBatching, JobRecord } from '../../ports/jobs.js';
import { settleBatch } from './job-worker.js';

const jobs: JobRecord[] = [1, 2, 3].map((id) => ({ id, type: 'judge', payload: {}, attempts: 1, createdAt: 0 }));
const batchOf = (handler: JobBatching['handler']): JobBatching => ({ maxJobs: 8, handler });
const settle = (batching: JobBatching) => settleBatch(batching, jobs, new AbortController().signal, 30_000, () => {});

describe('settleBatch', () => {
  it("gives the handler's outcomes, one per job in order", async () => {
    const outcomes: PromiseSettledResult<unknown>[] = [
      { status: 'fulfilled', value: 1 },
      { status: 'rejected', reason: new Error('no') },
      { status: 'fulfilled', value: 3 },
    ];
    expect(await settle(batchOf(async () => outcomes))).toBe(outcomes);
  });

  it('fails every job when the handler throws', async () => {
    const error = new Error('model unreachable');
    expect(await settle(batchOf(async () => Promise.reject(error)))).toEqual(jobs.map(() => ({ status: 'rejected', reason: error })));
  });

  it('fails every job when the handler answers another number of outcomes', async () => {
    const outcomes = await settle(batchOf(async () => [{ status: 'fulfilled', value: 1 }]));
    expect(outcomes).toHaveLength(3);
    for (const outcome of outcomes) {
      expect(outcome.status).toBe('rejected');
      expect(String((outcome as PromiseRejectedResult).reason)).toContain('the judge batch handler gave 1 outcomes for 3 jobs');
    }
  });
});
