import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../adapters/sqlite/database.js';
import { SqliteJobQueue } from '../adapters/sqlite/job-queue.js';
import { createLogger } from '../logger.js';
import { runJobsHere } from './jobs-fallback.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A migrated database file, and a logger whose lines are kept. */
function setUp(): { file: string; lines: Array<Record<string, unknown>>; logger: ReturnType<typeof createLogger> } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-jobs-fallback-'));
  dirs.push(dir);
  const file = path.join(dir, 'jobs.db');
  openDatabase(file).close();
  const lines: Array<Record<string, unknown>> = [];
  return { file, lines, logger: createLogger('info', { write: (line: string) => lines.push(JSON.parse(line)) }) };
}

describe('runJobsHere', () => {
  it('starts the queue on this thread: its jobs run', async () => {
    const { file, lines, logger } = setUp();
    const db = openDatabase(file);
    const queue = new SqliteJobQueue(db, { pollMs: 20 });
    const runs: unknown[] = [];
    queue.register('form', async (job) => {
      runs.push(job.payload);
    });
    await queue.enqueue('form', { n: 1 });
    runJobsHere(queue, logger);
    await queue.drain(10_000);
    await queue.stop();
    db.close();
    expect(runs).toEqual([{ n: 1 }]);
    expect(lines).toEqual([]);
  });

  it('logs what stopped and what to do, without throwing, when the queue cannot start (a read-only database)', () => {
    const { file, lines, logger } = setUp();
    const db = new BetterSqlite3(file, { readonly: true });
    try {
      const queue = new SqliteJobQueue(db);
      expect(() => queue.start()).toThrow(/readonly/);
      expect(() => runJobsHere(new SqliteJobQueue(db), logger)).not.toThrow();
    } finally {
      db.close();
    }
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 50, err: { message: expect.stringContaining('readonly') } });
    expect(lines[0]!['msg']).toContain('the server keeps serving');
    expect(lines[0]!['msg']).toContain('restart the server');
  });
});
