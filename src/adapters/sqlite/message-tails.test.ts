/**
 * The in-memory tails of conversations (`message-tails.ts`) behind `SqliteStore.recentMessages`: whatever
 * writes `messages` — the store's own appends, retention, another adapter on the same connection (a state
 * import), a rolled-back transaction — a read afterwards gives exactly what SQLite holds.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MessageRecord } from '../../ports/store.js';
import { MessageTails } from './message-tails.js';
import { SqliteStore } from './sqlite-store.js';

const T0 = 1_700_000_000_000;
const state = { energy: 50, fatigue: 0, updatedAt: T0, cooldownUntil: null };

let dir: string;
let dbPath: string;
let store: SqliteStore;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'persona-tails-'));
  dbPath = path.join(dir, 'test.db');
  store = SqliteStore.open(dbPath);
  await store.seedPersonas(
    [
      {
        id: 'aria', name: 'Aria', description: 'd', backstory: 'b', personalityTraits: {}, speakingStyle: 's', topicPreferences: {}, exampleLines: [], attributes: {},
        socialRank: 'peer', defaultPriority: 'social', socialEnergy: { maxEnergy: 100, availableTime: 600, costPerTurn: 5, recoveryPerMinute: 1 }, model: null, modelOptions: {}, systemPromptTemplate: '', avatar: null,
      },
    ],
    T0,
  );
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** What SQLite holds, read on a connection of its own (no tails). */
function truth(conversationId: string, limit: number): Array<Pick<MessageRecord, 'id' | 'content'>> {
  const db = new BetterSqlite3(dbPath, { readonly: true });
  try {
    const rows = db
      .prepare<[string, number], { id: number; content: string }>('SELECT id, content FROM (SELECT id, content FROM messages WHERE conversation_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id')
      .all(conversationId, limit);
    return rows;
  } finally {
    db.close();
  }
}

async function cached(conversationId: string, limit: number): Promise<Array<Pick<MessageRecord, 'id' | 'content'>>> {
  return (await store.recentMessages(conversationId, limit)).map(({ id, content }) => ({ id, content }));
}

async function exchange(index: number, conversationId?: string): Promise<string> {
  const { conversation } = await store.appendUserTurn({ sessionId: 's1', personaId: 'aria', content: `question ${index}`, tokens: 2, now: T0 + index * 1000, ...(conversationId ? { conversationId } : {}) });
  await store.appendAssistantTurn({ conversationId: conversation.id, personaId: 'aria', content: `answer ${index}`, tokens: 2, promptTokens: 10, processingMs: 5, now: T0 + index * 1000 + 500, personaState: state });
  return conversation.id;
}

describe('conversation tails behind recentMessages', () => {
  it("follows the store's own appends (user, assistant and plain messages) without re-reading", async () => {
    const id = await exchange(0);
    expect(await cached(id, 200)).toEqual(truth(id, 200));
    for (let index = 1; index <= 5; index++) await exchange(index, id);
    await store.appendMessage({ conversationId: id, role: 'assistant', personaId: 'aria', content: 'an aside', tokens: 2, promptTokens: null, processingMs: null, createdAt: T0 + 9_000 });
    expect(await cached(id, 200)).toEqual(truth(id, 200));
    expect(await cached(id, 3)).toEqual(truth(id, 3));
    expect(await cached(id, 1)).toEqual(truth(id, 1));
    // Served from memory: a write by another process (a second connection) is not seen — one process owns a database.
    const other = new BetterSqlite3(dbPath);
    other.prepare("UPDATE messages SET content = 'elsewhere' WHERE conversation_id = ?").run(id);
    other.close();
    expect((await cached(id, 200)).map((message) => message.content)).not.toContain('elsewhere');
  });

  it('keeps only as many as were asked for, and reads SQLite again for a deeper window', async () => {
    const id = await exchange(0);
    for (let index = 1; index < 10; index++) await exchange(index, id);
    expect(await cached(id, 4)).toEqual(truth(id, 4));
    await exchange(10, id);
    expect(await cached(id, 4)).toEqual(truth(id, 4));
    expect(await cached(id, 15)).toEqual(truth(id, 15));
    expect(await cached(id, 50)).toEqual(truth(id, 50));
  });

  it('sees rows deleted by retention', async () => {
    const id = await exchange(0);
    for (let index = 1; index < 6; index++) await exchange(index, id);
    expect(await cached(id, 200)).toHaveLength(12);
    await store.applyRetention({ sessionIdleMs: 0, messageMaxAgeMs: 0, maxMessagesPerConversation: 4 }, T0 + 60_000);
    expect(await cached(id, 200)).toEqual(truth(id, 200));
    expect(await cached(id, 200)).toHaveLength(4);
  });

  it('sees rows changed by other code on the same connection (a state import, another adapter)', async () => {
    const id = await exchange(0);
    await exchange(1, id);
    expect(await cached(id, 200)).toHaveLength(4);
    const db = store.database;
    db.prepare("UPDATE messages SET content = 'rewritten' WHERE conversation_id = ? AND content = 'answer 0'").run(id);
    expect(await cached(id, 200)).toEqual(truth(id, 200));
    db.prepare("DELETE FROM messages WHERE conversation_id = ? AND content = 'question 1'").run(id);
    expect(await cached(id, 200)).toEqual(truth(id, 200));
    db.prepare("INSERT INTO messages (conversation_id, role, persona_id, content, tokens, created_at) VALUES (?, 'user', NULL, 'imported', 1, ?)").run(id, T0 + 99_000);
    expect(await cached(id, 200)).toEqual(truth(id, 200));
    // A whole import: every message replaced in one transaction.
    db.transaction(() => {
      db.prepare('DELETE FROM messages').run();
      db.prepare("INSERT INTO messages (conversation_id, role, persona_id, content, tokens, created_at) VALUES (?, 'user', NULL, 'from the bundle', 1, ?)").run(id, T0);
    })();
    expect(await cached(id, 200)).toEqual([{ id: expect.any(Number) as number, content: 'from the bundle' }]);
    expect(await cached(id, 200)).toEqual(truth(id, 200));
  });

  it('keeps nothing of a transaction that rolled back', async () => {
    const id = await exchange(0);
    expect(await cached(id, 200)).toHaveLength(2);
    // The insert succeeds, then the transaction fails: SQLite rolls the row back, and so must the tail.
    store.database.exec(`CREATE TEMP TRIGGER refuse_state BEFORE UPDATE ON main.persona_state BEGIN SELECT RAISE(ABORT, 'refused'); END;`);
    store.database.exec(`CREATE TEMP TRIGGER refuse_state_insert BEFORE INSERT ON main.persona_state BEGIN SELECT RAISE(ABORT, 'refused'); END;`);
    await expect(
      store.appendAssistantTurn({ conversationId: id, personaId: 'aria', content: 'never kept', tokens: 2, promptTokens: 1, processingMs: 1, now: T0 + 5_000, personaState: state }),
    ).rejects.toThrow();
    expect(await cached(id, 200)).toEqual(truth(id, 200));
    expect((await cached(id, 200)).map((message) => message.content)).not.toContain('never kept');
  });

  it('hands out records nobody can change behind its back', async () => {
    const id = await exchange(0);
    const [first] = await store.recentMessages(id, 200);
    const [again] = await store.recentMessages(id, 200);
    expect(() => {
      (again as { content: string }).content = 'changed';
    }).toThrow(TypeError);
    expect(first?.content).toBe('question 0');
  });
});

describe('MessageTails bounds', () => {
  const message = (id: number, conversationId: string, content = 'x'.repeat(10)): MessageRecord => ({
    id, conversationId, role: 'user', personaId: null, content, tokens: 1, promptTokens: null, processingMs: null, createdAt: T0,
  });

  it('holds at most maxMessages and maxChars, dropping the conversation used longest ago', () => {
    const tails = new MessageTails({ maxMessages: 25, maxChars: 1_000, maxDepth: 100 });
    (tails as unknown as { isWatching: boolean }).isWatching = true;
    for (let conversation = 0; conversation < 5; conversation++) {
      tails.remember(`c${conversation}`, Array.from({ length: 10 }, (_, index) => message(conversation * 100 + index, `c${conversation}`)), 10);
      expect(tails.size.messages).toBeLessThanOrEqual(25);
    }
    expect(tails.read('c0', 10)).toBeNull();
    expect(tails.read('c4', 10)).toHaveLength(10);
    tails.remember('big', [message(1_000, 'big', 'y'.repeat(2_000))], 10);
    expect(tails.size.chars).toBeLessThanOrEqual(1_000);
  });

  it('caches nothing when it cannot watch the table (a read-only connection)', () => {
    const tails = new MessageTails();
    tails.remember('c', [message(1, 'c')], 10);
    expect(tails.read('c', 10)).toBeNull();
  });
});
