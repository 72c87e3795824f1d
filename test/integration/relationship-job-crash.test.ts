/**
 * A kill -9 after a relationship job wrote its effect and before the queue wrote its completion (written with
 * the next claim: src/adapters/sqlite/job-queue.ts, pg-job-queue.ts) runs the job again at the next start; the
 * exchange must still count once — `interaction_count` and the timeline (the outside check of round 12 found
 * it twice). The worker is a real process killed with SIGKILL, held in that window (relationship-job.worker.ts),
 * on a real SQLite file and on the test PostgreSQL. One
 * exchange runs alone (the job's handler), two run together (the batch handler).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresJobQueue } from '../../src/adapters/postgres/pg-job-queue.js';
import { PostgresSocialStore } from '../../src/adapters/postgres/pg-social-store.js';
import { PostgresStore } from '../../src/adapters/postgres/pg-store.js';
import { SqliteJobQueue } from '../../src/adapters/sqlite/job-queue.js';
import { SqliteSocialStore } from '../../src/adapters/sqlite/social-store.js';
import { SqliteStore } from '../../src/adapters/sqlite/sqlite-store.js';
import { buildPersonaDefinition } from '../../src/domain/persona-schema.js';
import type { JobQueue } from '../../src/ports/jobs.js';
import type { SocialStore } from '../../src/ports/social-store.js';
import type { Store } from '../../src/ports/store.js';
import { enqueueExchange, registerRelationshipJob } from '../helpers/relationship-jobs.js';
import { dropFreshPostgres, freshPostgres, postgresAvailable } from '../helpers/store-backend.js';

const WORKER = fileURLToPath(new URL('./relationship-job.worker.ts', import.meta.url));
const postgres = await postgresAvailable();

/** A store, its social store, a queue on it, and the worker's arguments for the same store. */
interface Backend {
  store: Store;
  social: SocialStore;
  queue: (options?: { pollMs: number }) => JobQueue;
  workerArgs: string[];
  /** Rows of a query (`?` parameters are written in as they are). */
  rows: (sql: string) => Promise<Array<Record<string, unknown>>>;
  close: () => Promise<void>;
}

async function sqliteBackend(): Promise<Backend> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-relationship-'));
  const file = path.join(dir, 'persona-mcp.db');
  const store = SqliteStore.open(file);
  return {
    store,
    social: new SqliteSocialStore(store.database),
    queue: (options) => new SqliteJobQueue(store.database, options),
    workerArgs: ['sqlite', file],
    rows: async (sql) => store.database.prepare(sql).all() as Array<Record<string, unknown>>,
    close: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgresBackend(): Promise<Backend> {
  const db = await freshPostgres();
  if (!postgres.ok) throw new Error(postgres.reason);
  return {
    store: new PostgresStore(db),
    social: new PostgresSocialStore(db),
    queue: (options) => new PostgresJobQueue(db, options),
    workerArgs: ['postgres', postgres.url, db.schema],
    rows: (sql) => db.rows(sql),
    close: () => dropFreshPostgres(),
  };
}

/** Runs the worker until the due jobs have written their effect, then kills it (SIGKILL). */
async function runThenKill(workerArgs: string[]): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, ...workerArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`the worker exited early with ${code}`)));
  });
  expect(line).toBe('held');
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
}

const backends: Array<[string, () => Promise<Backend>, boolean]> = [
  ['SQLite', sqliteBackend, true],
  ['PostgreSQL', postgresBackend, postgres.ok],
];

describe.each(backends)('a relationship job killed after its write, before its completion (%s)', { timeout: 60_000 }, (name, open, available) => {
  let backend: Backend | null = null;
  afterEach(async () => {
    await backend?.close();
    backend = null;
  });

  it.skipIf(!available).each([1, 2])('counts each exchange once after the restart runs it again (%i exchange(s) in the claim)', async (exchanges) => {
    backend = await open();
    const { store, social, rows } = backend;
    await store.insertPersona(buildPersonaDefinition({ name: 'Aria' }), 1_000);
    const setup = backend.queue();
    const ids: number[] = [];
    for (let at = 0; at < exchanges; at++) ids.push(await enqueueExchange(store, setup, 'aria', 2_000 + at));

    await runThenKill(backend.workerArgs);
    const counted = async () => [
      Number((await rows("SELECT interaction_count AS n FROM relationships WHERE subject_id = 'aria' AND other_id = 'local'"))[0]?.n),
      Number((await rows("SELECT count(*) AS n FROM relationship_events WHERE subject_id = 'aria'"))[0]?.n),
    ];
    const statuses = async () => (await rows(`SELECT status, attempts FROM jobs WHERE id IN (${ids.join(',')}) ORDER BY id`)).map((row) => `${row.status} ${row.attempts}`);
    // What the kill left: the effect written; the jobs still running (their completions were not), but
    // for a lone job on SQLite, whose completion commits with its write (JobRecord.completion).
    const isCompletedWithItsWrite = name === 'SQLite' && exchanges === 1;
    expect(await counted()).toEqual([exchanges, exchanges]);
    expect(await statuses()).toEqual(ids.map(() => (isCompletedWithItsWrite ? 'completed 1' : 'running 1')));

    // The restart takes the dead process's jobs back and runs them again.
    const restarted = backend.queue({ pollMs: 20 });
    await registerRelationshipJob(store, social, restarted);
    restarted.start();
    await restarted.drain(20_000);
    await restarted.stop();
    expect(await statuses()).toEqual(ids.map(() => (isCompletedWithItsWrite ? 'completed 1' : 'completed 2')));
    expect(await counted()).toEqual([exchanges, exchanges]);
  });
});
