/**
 * A kill -9 a few milliseconds after a chat reply keeps the mood's reaction and its `chat` mood sample
 * together, each once (the outside check of round 13 found the reaction saved and its sample lost, with
 * nothing left to redo it). The server is a real process (mood-sample-crash.worker.ts) killed with SIGKILL
 * at one of two moments of its reply's after-reply writes:
 * - after they committed with the clearing of the reply's pending record (held there: the worker runs
 *   nothing more): the sample must have been in that commit, for no restart redoes the reply;
 * - before that commit (the write batch held open a minute, `database.writeBatchMs`): the restart redoes them.
 * Restarted on the same store, `emotional.history` holds the reply's `turn` sample and the reaction's
 * `chat` sample once each, and the mood's change log (`mood_events`) the reaction once. On SQLite with
 * the jobs on the main thread and on a jobs thread, and on the suite's PostgreSQL.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { echoReply, startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { makeDataDir, startTestServer, type TestServer } from '../helpers/server.js';
import { dropFreshPostgres, freshPostgres, postgresAvailable } from '../helpers/store-backend.js';
import { TestClient } from '../helpers/ws-client.js';

const WORKER = fileURLToPath(new URL('./mood-sample-crash.worker.ts', import.meta.url));
const MESSAGE = 'Thank you so much, that was wonderful and kind!';
const postgres = await postgresAvailable();

let ollama: FakeOllama;
const dirs: string[] = [];
let restarted: TestServer | null = null;

beforeAll(async () => {
  ollama = await startFakeOllama();
});
afterEach(async () => {
  await restarted?.stop();
  restarted = null;
  await dropFreshPostgres();
});
afterAll(async () => {
  await ollama.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** The settings of a store to crash on, and the rows of a query on it. */
interface Backend {
  flags: Record<string, unknown>;
  rows: (sql: string) => Promise<Array<Record<string, unknown>>>;
}

function sqliteBackend(jobsThread: 'main' | 'worker'): () => Promise<Backend> {
  return async () => {
    const dataDir = makeDataDir();
    dirs.push(dataDir);
    const file = path.join(dataDir, 'persona-mcp.db');
    return {
      flags: { dataDir, 'jobs.thread': jobsThread },
      rows: async (sql) => {
        const db = new BetterSqlite3(file, { readonly: true });
        try {
          return db.prepare(sql).all() as Array<Record<string, unknown>>;
        } finally {
          db.close();
        }
      },
    };
  };
}

async function postgresBackend(): Promise<Backend> {
  const db = await freshPostgres();
  if (!postgres.ok) throw new Error(postgres.reason);
  const dataDir = makeDataDir();
  dirs.push(dataDir);
  return { flags: { dataDir, 'database.url': postgres.url, 'database.schema': db.schema }, rows: (sql) => db.rows(sql) };
}

/** The worker server (its settings, held after `repliesToHold` replies' after-reply commits): its URL, its lines, and its kill. */
async function startWorker(settings: Record<string, unknown>, repliesToHold = 1) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', WORKER, JSON.stringify({ ...settings, 'llm.ollamaHost': ollama.url }), String(repliesToHold)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    const parts = out.split('\n');
    out = parts.pop()!;
    lines.push(...parts);
    for (const wake of waiters.splice(0)) wake();
  });
  const line = async (index: number): Promise<string> => {
    while (lines.length <= index) {
      if (child.exitCode !== null) throw new Error(`the server exited early with ${child.exitCode}`);
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
    return lines[index]!;
  };
  const client = await TestClient.connect(await line(0));
  return {
    client,
    held: async () => expect(await line(1)).toBe('held'),
    kill: async () => {
      child.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      await client.close().catch(() => undefined);
    },
  };
}

/** Starts the worker server; chats once; kills it (SIGKILL) once it is held after the reply's after-reply commit, or once the reply is in. */
async function chatThenKill(flags: Record<string, unknown>, moment: 'after' | 'before'): Promise<void> {
  // Before: the reply's after-reply writes wait a minute for their commit, so the kill always comes first.
  const server = await startWorker({ ...flags, ...(moment === 'before' ? { 'database.writeBatchMs': 60_000 } : {}) });
  await server.client.result('persona.switch', { persona_id: 'aria' });
  const replied = server.client.result('persona.chat', { message: MESSAGE });
  if (moment === 'after') await server.held();
  else await replied;
  await server.kill();
}

const backends: Array<[string, () => Promise<Backend>, boolean]> = [
  ['SQLite, jobs on the main thread', sqliteBackend('main'), true],
  ['SQLite, a jobs thread', sqliteBackend('worker'), true],
  ['PostgreSQL', postgresBackend, postgres.ok],
];

describe.each(backends)('a kill -9 right after a chat reply (%s)', { timeout: 120_000 }, (_name, open, available) => {
  it.skipIf(!available).each(['after', 'before'] as const)(
    'keeps the reaction and its chat mood sample once each (killed %s the after-reply commit)',
    async (moment) => {
      const { flags, rows } = await open();
      await chatThenKill(flags, moment);
      const causes = async (): Promise<string[]> =>
        (await rows("SELECT cause FROM mood_samples WHERE persona_id = 'aria' ORDER BY id")).map((row) => String(row.cause));
      const reactions = async (): Promise<number> => (await rows("SELECT id FROM mood_events WHERE persona_id = 'aria'")).length;
      const pending = async (): Promise<number> => (await rows('SELECT reply_message_id FROM after_reply_pending')).length;
      // What the kill left: after the commit, all of it; before, none of it and the record to redo it by.
      expect({ causes: await causes(), reactions: await reactions(), pending: await pending() }).toEqual(
        moment === 'after' ? { causes: ['turn', 'chat'], reactions: 1, pending: 0 } : { causes: [], reactions: 0, pending: 1 },
      );

      restarted = await startTestServer({ ollamaUrl: ollama.url, dataDir: String(flags.dataDir), flags });
      const client = await restarted.connect();
      const history = (await client.result('emotional.history', { persona_id: 'aria' })) as { samples: Array<{ cause: string }> };
      expect(history.samples.map((sample) => sample.cause)).toEqual(['turn', 'chat']);
      expect({ reactions: await reactions(), pending: await pending() }).toEqual({ reactions: 1, pending: 0 });
    },
  );
});

// A group turn moves two moods (the one answered, the speaker): both reactions and their samples commit with
// the reply's after-reply writes (the second used to be asked for once the first had committed, after them).
describe('a kill -9 right after a group turn (SQLite)', { timeout: 120_000 }, () => {
  it("keeps both personas' reactions and their group mood samples", async () => {
    const { flags, rows } = await sqliteBackend('main')();
    ollama.setReply(() => 'Thank you, that was wonderful and kind!');
    try {
      // Held after the second turn's commit: Kira answering Aria.
      const server = await startWorker({ ...flags, 'social.groupTurnDelayMs': 0 }, 2);
      void server.client
        .result('conversation.start', { personas: ['aria', 'kira'], topic: 'kindness', max_turns: 3 })
        .catch(() => undefined);
      await server.held();
      await server.kill();
    } finally {
      ollama.setReply(echoReply);
    }
    const left = async (table: string) =>
      (await rows(`SELECT persona_id, cause FROM ${table} ORDER BY id`)).map((row) => `${String(row.persona_id)} ${String(row.cause)}`);
    expect(await left('mood_events')).toEqual(['aria group', 'kira group']);
    expect(await left('mood_samples')).toEqual(['aria turn', 'kira turn', 'aria group', 'kira group']);
    expect(await rows('SELECT reply_message_id FROM after_reply_pending')).toEqual([]);
  });
});
