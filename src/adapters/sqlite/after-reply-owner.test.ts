/**
 * The records of replies whose after-reply writes are still to come, on one SQLite file shared by several
 * stores (processes: a server, `persona-mcp mcp`, a second `serve`; here stores of one process, each with
 * its own owner name): a record is taken over only once the store that wrote it is gone, by one taker.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { SqliteStateArchive } from '../bundle/sqlite-archive.js';
import { loadPersonaFiles, shippedPersonasDir } from '../persona-files.js';
import { SqliteStore } from './sqlite-store.js';

const T0 = 1_700_000_000_000;
const aria = loadPersonaFiles(shippedPersonasDir()).find((persona) => persona.id === 'aria')!;

let dir: string;
let dbPath: string;
let open: SqliteStore[];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-after-reply-'));
  dbPath = path.join(dir, 'persona-mcp.db');
  open = [];
});
afterEach(async () => {
  for (const store of open) await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function openStore(file = dbPath): SqliteStore {
  const store = SqliteStore.open(file);
  open.push(store);
  return store;
}

/** A reply stored with its record of after-reply writes to come; returns the reply's id. */
async function replyWithPendingWrites(store: SqliteStore): Promise<number> {
  const { conversation, message } = await store.appendUserTurn({ sessionId: 's1', personaId: 'aria', content: 'hi', tokens: 1, now: T0 });
  const reply = await store.appendAssistantTurn({
    conversationId: conversation.id,
    personaId: 'aria',
    content: 'Hello!',
    tokens: 2,
    promptTokens: 10,
    processingMs: 5,
    now: T0 + 1,
    personaState: { energy: 90, fatigue: 0, updatedAt: T0, cooldownUntil: null },
    afterReply: { session: { id: 's1', userId: null }, userMessageId: message.id },
  });
  return reply.id;
}

it('leaves the records of a store that is still open to it, and takes them over once it has closed', async () => {
  const writer = openStore();
  await writer.insertPersona(aria, T0);
  const replyId = await replyWithPendingWrites(writer);
  const other = openStore();

  expect(await other.pendingAfterReplies()).toEqual([]);
  expect(await writer.pendingAfterReplies()).toEqual([]); // its own, still to be written

  await writer.close();
  open.splice(open.indexOf(writer), 1);
  expect((await other.pendingAfterReplies()).map((pending) => pending.replyMessageId)).toEqual([replyId]);
  // taken over by `other`, which is open: a third store leaves it to it
  expect(await openStore().pendingAfterReplies()).toEqual([]);
});

it('takes over a record written before records named their owner, as before', async () => {
  const store = openStore();
  await store.insertPersona(aria, T0);
  const replyId = await replyWithPendingWrites(store);
  const raw = new BetterSqlite3(dbPath);
  raw.prepare('UPDATE after_reply_pending SET owner = NULL').run();
  raw.close();

  expect((await store.pendingAfterReplies()).map((pending) => pending.replyMessageId)).toEqual([replyId]);
  expect(await openStore().pendingAfterReplies()).toEqual([]);
});

it('copies pending records into bundles and backups without their owner: the store that opens the copy takes them, though their writer still runs', async () => {
  const writer = openStore();
  await writer.insertPersona(aria, T0);
  const replyId = await replyWithPendingWrites(writer);
  const archive = new SqliteStateArchive(dbPath, 'test');
  const bundle = path.join(dir, 'state.tar.gz');
  await archive.exportBundle(bundle, { kind: 'all' });
  const backup = path.join(dir, 'backup.db');
  await archive.backup(backup);
  const loaded = path.join(dir, 'loaded', 'persona-mcp.db');
  await new SqliteStateArchive(loaded, 'test').importBundle(fs.readFileSync(bundle), { dryRun: false, onConflict: 'replace' });

  for (const copy of [loaded, backup]) {
    const raw = new BetterSqlite3(copy, { readonly: true });
    expect(raw.prepare('SELECT reply_message_id AS id, owner FROM after_reply_pending').all()).toEqual([{ id: replyId, owner: null }]);
    raw.close();
    expect((await openStore(copy).pendingAfterReplies()).map((pending) => pending.replyMessageId)).toEqual([replyId]);
  }
  expect(await openStore().pendingAfterReplies()).toEqual([]); // the original stays its writer's
});
