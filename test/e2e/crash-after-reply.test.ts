/**
 * A `kill -9` right after a reply loses none of that turn's derived work: the server process is killed
 * (SIGKILL) as soon as the client has the reply, while the turn's after-reply writes — the topic filing
 * of both messages, the mood's reaction, memory formation's job — still wait for their commit (the
 * write batch is held open for a minute here, `database.writeBatchMs`, so the kill always comes first:
 * the database read between the two runs shows it). Restarted on the same data directory, the server
 * does those writes before it listens: the conversation's thread holds both messages and memory
 * formation's job runs, forming the memory of what the person said.
 *
 * A second `serve` started beside a live server on its data directory leaves that server's pending writes
 * to it (it must not take them for a crash's leftover: they would be done twice); once the live server is
 * killed, the second takes them over within its sweep (a few seconds) and does them exactly once.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startChildServer, type ChildServer } from '../helpers/child-server.js';
import { makeDataDir } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

let ollama: FakeOllama;
let dir: string;
const dirs: string[] = [];
const children: ChildServer[] = [];

beforeAll(async () => {
  ollama = await startFakeOllama();
  dir = makeDataDir();
});
afterAll(async () => {
  for (const child of children) await child.kill('SIGKILL');
  await ollama.close();
  for (const removed of [dir, ...dirs]) rmSync(removed, { recursive: true, force: true });
});

const MESSAGE = 'My name is Tova and I love sailing old wooden boats on the northern lakes.';

function readDatabase<T>(read: (db: BetterSqlite3.Database) => T, dataDir = dir): T {
  const db = new BetterSqlite3(path.join(dataDir, 'persona-mcp.db'), { readonly: true });
  try {
    return read(db);
  } finally {
    db.close();
  }
}

// Child servers compile the CLI through tsx first: slow on a loaded machine.
describe('a kill -9 right after a reply', { timeout: 120_000 }, () => {
  it('loses neither the topic filing nor the memory formation of that turn', async () => {
    const first = await startHoldingServer(dir);
    const client = await TestClient.connect(first.websocketUrl);
    await client.result('persona.switch', { persona_id: 'aria' });
    const reply = (await client.result('persona.chat', { message: MESSAGE })) as { conversation_id: string; reply: string };
    await first.kill('SIGKILL');
    await client.close().catch(() => undefined);

    // What the crash left: both messages, the record of the reply's pending writes, none of those writes.
    const left = readDatabase((db) => ({
      messages: db.prepare('SELECT id, role FROM messages WHERE conversation_id = ? ORDER BY id').all(reply.conversation_id) as { id: number; role: string }[],
      pending: db.prepare('SELECT reply_message_id AS id FROM after_reply_pending').all() as { id: number }[],
      filed: (db.prepare('SELECT count(*) AS n FROM message_threads').get() as { n: number }).n,
      formationJobs: (db.prepare("SELECT count(*) AS n FROM jobs WHERE type = 'memory.form'").get() as { n: number }).n,
    }));
    expect(left.messages.map((message) => message.role)).toEqual(['user', 'assistant']);
    expect(left.pending).toEqual([{ id: left.messages[1]!.id }]);
    expect(left.filed).toBe(0);
    expect(left.formationJobs).toBe(0);

    const second = await startChildServer(['--data-dir', dir, '--ollama-host', ollama.url]);
    children.push(second);
    const again = await TestClient.connect(second.websocketUrl);
    const threads = (await again.result('conversation.threads', { conversation_id: reply.conversation_id })) as {
      threads: { message_count: number }[];
      current_thread_id: number | null;
    };
    expect(threads.threads.reduce((sum, thread) => sum + thread.message_count, 0)).toBe(2);
    expect(threads.current_thread_id).not.toBeNull();

    // The formation job runs in the background: wait for its memory (each look is a request, not a sleep).
    let formed: { content: string }[] = [];
    const deadline = Date.now() + 60_000;
    while (formed.length === 0 && Date.now() < deadline) {
      const page = (await again.result('memory.list', { persona_id: 'aria' })) as { memories: { content: string }[] };
      formed = page.memories.filter((memory) => /sail|Tova|boat/i.test(memory.content));
      if (formed.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(formed.length).toBeGreaterThan(0);
    await again.close();
    await second.kill('SIGTERM');

    const after = readDatabase((db) => ({
      pending: (db.prepare('SELECT count(*) AS n FROM after_reply_pending').get() as { n: number }).n,
      filed: db.prepare('SELECT message_id AS id FROM message_threads ORDER BY message_id').all() as { id: number }[],
      formation: db.prepare("SELECT status FROM jobs WHERE type = 'memory.form'").all() as { status: string }[],
    }));
    expect(after.pending).toBe(0);
    expect(after.filed.map((row) => row.id)).toEqual(left.messages.map((message) => message.id));
    expect(after.formation).toEqual([{ status: 'completed' }]);
  });
});

describe('a restart with database.writeBatchMs above 0', { timeout: 120_000 }, () => {
  it('redoes the pending after-reply writes and listens (it used to exit with code 0 before listening)', async () => {
    const crashed = makeDataDir();
    dirs.push(crashed);
    const first = await startHoldingServer(crashed);
    const client = await TestClient.connect(first.websocketUrl);
    await client.result('persona.switch', { persona_id: 'aria' });
    const reply = (await client.result('persona.chat', { message: MESSAGE })) as { conversation_id: string };
    await first.kill('SIGKILL');
    await client.close().catch(() => undefined);
    expect(afterReplyState(crashed).pending).toHaveLength(1);

    const windowed = path.join(crashed, 'windowed-writes.json');
    writeFileSync(windowed, JSON.stringify({ database: { writeBatchMs: 1_500 } }));
    const second = await startChildServer(['--data-dir', crashed, '--ollama-host', ollama.url, '--config', windowed]);
    children.push(second);
    const again = await TestClient.connect(second.websocketUrl);
    const threads = (await again.result('conversation.threads', { conversation_id: reply.conversation_id })) as { threads: { message_count: number }[] };
    expect(threads.threads.reduce((sum, thread) => sum + thread.message_count, 0)).toBe(2);
    await again.close();
    await second.kill('SIGTERM');
    const after = afterReplyState(crashed);
    expect(after.pending).toEqual([]);
    expect(after.filed).toBe(2);
  });
});

describe('a kill -9 that leaves two replies pending', { timeout: 120_000 }, () => {
  it("redoes each reply's mood samples: a `turn` and a `chat` sample per reply", async () => {
    const crashed = makeDataDir();
    dirs.push(crashed);
    const first = await startHoldingServer(crashed);
    // Two people (two sessions, two conversations: a turn waits for its own conversation's filing, held here).
    const clients = [await TestClient.connect(first.websocketUrl), await TestClient.connect(first.websocketUrl)];
    const messages = ['I love this, what a wonderful and happy day, thank you so much!', 'This is awful and sad, I hate it, everything went wrong today.'];
    for (const [index, client] of clients.entries()) {
      await client.result('persona.switch', { persona_id: 'aria' });
      await client.result('persona.chat', { message: messages[index] });
    }
    await first.kill('SIGKILL');
    for (const client of clients) await client.close().catch(() => undefined);
    expect(afterReplyState(crashed).pending).toHaveLength(2);

    // Redone one after another before the server listens (in the same milliseconds: `writeBatchMs` 0). The
    // energy read then is the same for both replies (the persona's now, not each reply's), so the second
    // reply's `turn` sample had the figures of the first reply's `chat` sample and was dropped as the same.
    const second = await startChildServer(['--data-dir', crashed, '--ollama-host', ollama.url]);
    children.push(second);
    await second.kill('SIGTERM');
    const samples = readDatabase((db) => db.prepare("SELECT cause FROM mood_samples WHERE cause IN ('turn', 'chat') ORDER BY id").all() as { cause: string }[], crashed);
    expect(samples.map((sample) => sample.cause)).toEqual(['turn', 'chat', 'turn', 'chat']);
  });
});

/** A server whose after-reply writes wait a minute for their commit (`database.writeBatchMs`), so a kill or a second server always comes first. */
async function startHoldingServer(dataDir: string): Promise<ChildServer> {
  const held = path.join(dataDir, 'held-writes.json');
  writeFileSync(held, JSON.stringify({ database: { writeBatchMs: 60_000 } }));
  const server = await startChildServer(['--data-dir', dataDir, '--ollama-host', ollama.url, '--config', held]);
  children.push(server);
  return server;
}

interface AfterReplyState {
  pending: { id: number; owner: string | null }[];
  filed: number;
  formationJobs: number;
}

function afterReplyState(dataDir: string): AfterReplyState {
  return readDatabase(
    (db) => ({
      pending: db.prepare('SELECT reply_message_id AS id, owner FROM after_reply_pending').all() as AfterReplyState['pending'],
      filed: (db.prepare('SELECT count(*) AS n FROM message_threads').get() as { n: number }).n,
      formationJobs: (db.prepare("SELECT count(*) AS n FROM jobs WHERE type = 'memory.form'").get() as { n: number }).n,
    }),
    dataDir,
  );
}

describe("a second serve on a live server's data directory", { timeout: 120_000 }, () => {
  it("leaves the live server's pending after-reply writes alone, and takes them over once that server is gone", async () => {
    const shared = makeDataDir();
    dirs.push(shared);
    const first = await startHoldingServer(shared);
    const client = await TestClient.connect(first.websocketUrl);
    await client.result('persona.switch', { persona_id: 'aria' });
    await client.result('persona.chat', { message: MESSAGE });
    await client.close();
    const held = afterReplyState(shared);
    expect(held.pending).toHaveLength(1);
    expect(held.pending[0]!.owner).toMatch(new RegExp(`^${first.process.pid}-`));

    // Started (it looks for crash leftovers before it listens) while the first still holds its writes.
    const second = await startChildServer(['--data-dir', shared, '--ollama-host', ollama.url]);
    children.push(second);
    expect(afterReplyState(shared)).toEqual({ pending: held.pending, filed: 0, formationJobs: 0 });

    await first.kill('SIGKILL');
    // The second's sweep takes the record over (each look is a read of the file, not a sleep for a fixed time).
    let state = afterReplyState(shared);
    const deadline = Date.now() + 60_000;
    while (state.pending.length > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      state = afterReplyState(shared);
    }
    expect(state).toEqual({ pending: [], filed: 2, formationJobs: 1 });
    await second.kill('SIGTERM');
  });
});
