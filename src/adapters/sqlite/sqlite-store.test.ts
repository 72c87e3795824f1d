import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../domain/errors.js';
import type { PersonaDefinition } from '../../domain/persona.js';
import type { SocialEnergyState } from '../../domain/social-energy.js';
import { openDatabase, type Database } from './database.js';
import { MIGRATIONS, appliedSchemaVersion, currentSchemaVersion, runMigrations } from './migrations.js';
import { SqliteStore } from './sqlite-store.js';
import type { Store } from '../../ports/store.js';
import { PostgresStore } from '../postgres/pg-store.js';
import { dropFreshPostgres, freshPostgres, onPostgres } from '../../../test/helpers/store-backend.js';

const T0 = 1_700_000_000_000;
const MINUTE = 60_000;

function persona(id: string, name = id[0]!.toUpperCase() + id.slice(1)): PersonaDefinition {
  return {
    id,
    name,
    description: `${name}, a test persona`,
    backstory: 'Grew up in a test suite.',
    personalityTraits: { openness: 80 },
    speakingStyle: 'Short and cheerful.',
    topicPreferences: { music: 90 },
    exampleLines: ['Hi!'],
    attributes: { charisma: 12 },
    socialRank: 'peer',
    defaultPriority: 'social',
    socialEnergy: { maxEnergy: 100, availableTime: 600, costPerTurn: 5, recoveryPerMinute: 1 },
    model: null,
    modelOptions: { temperature: 0.7 },
    systemPromptTemplate: '',
    avatar: null,
  };
}

const aria = persona('aria');
const kira = persona('kira');
const state: SocialEnergyState = { energy: 42.5, fatigue: 0.25, updatedAt: T0, cooldownUntil: null };

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

let dir: string;
let dbPath: string;
let opened: { close(): unknown }[];

/** The store under test: this SQLite file, or a fresh PostgreSQL schema when the PostgreSQL run imports this file. */
let pgStore: Store | null = null;

function openStore(): Store {
  if (pgStore !== null) return pgStore;
  const store = SqliteStore.open(dbPath);
  opened.push(store);
  return store;
}

/** A second, raw connection to the same file, for looking at rows and holding locks. */
function rawConnection(): Database {
  const db = new BetterSqlite3(dbPath);
  opened.push(db);
  return db;
}

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-sqlite-'));
  dbPath = path.join(dir, 'data', 'persona-mcp.db');
  opened = [];
  pgStore = onPostgres() ? new PostgresStore(await freshPostgres()) : null;
});

afterEach(async () => {
  for (const handle of opened.reverse()) await handle.close();
  fs.rmSync(dir, { recursive: true, force: true });
  if (pgStore !== null) await dropFreshPostgres();
});

describe('SqliteStore personas', () => {
  it('seeds shipped personas once and does not bring back a deleted one', async () => {
    const store = openStore();
    expect(await store.seedPersonas([aria, kira], T0)).toEqual(['aria', 'kira']);
    expect(await store.seedPersonas([aria, kira], T0 + 1)).toEqual([]);

    expect(await store.deletePersona('kira', T0 + 2)).toBe(true);
    expect(await store.seedPersonas([aria, kira, persona('tobias')], T0 + 3)).toEqual(['tobias']);
    expect((await store.listPersonas()).map((p) => p.id)).toEqual(['aria', 'tobias']);
    expect((await store.getPersona('aria'))?.isBuiltin).toBe(true);
  });

  it('does not seed over a persona the user created with the same name', async () => {
    const store = openStore();
    await store.insertPersona(persona('my-aria', 'ARIA'), T0);
    expect(await store.seedPersonas([aria], T0)).toEqual([]);
    await store.deletePersona('my-aria', T0);
    expect(await store.seedPersonas([aria], T0)).toEqual([]);
  });

  it('stores the whole definition and reads it back', async () => {
    const store = openStore();
    const inserted = await store.insertPersona(aria, T0);
    expect(inserted).toEqual({ ...aria, isBuiltin: false, createdAt: T0, updatedAt: T0, ownerUserId: null });
    expect(await store.getPersona('aria')).toEqual(inserted);
    expect(await store.getPersona('nobody')).toBeNull();
  });

  it('refuses a duplicate id, and a duplicate name in any case, naming the clash', async () => {
    const store = openStore();
    await store.insertPersona(aria, T0);

    const sameId = await rejection(store.insertPersona(persona('aria', 'Other'), T0));
    expect(sameId.kind).toBe('conflict');
    expect(sameId.message).toContain('id "aria"');

    const sameName = await rejection(store.insertPersona(persona('aria2', 'aRIA'), T0));
    expect(sameName.kind).toBe('conflict');
    expect(sameName.message).toContain('name "aRIA"');
    expect(await store.listPersonas()).toHaveLength(1);
  });

  it('updates a definition, keeping when and how the persona was created', async () => {
    const store = openStore();
    await store.seedPersonas([aria, kira], T0);
    const updated = await store.updatePersona({ ...aria, description: 'New', model: 'llama3' }, T0 + 5);
    expect(updated).toMatchObject({
      description: 'New',
      model: 'llama3',
      isBuiltin: true,
      createdAt: T0,
      updatedAt: T0 + 5,
    });
    expect(await store.getPersona('aria')).toEqual(updated);

    expect((await rejection(store.updatePersona(persona('ghost'), T0))).kind).toBe('persona_not_found');
    expect((await rejection(store.updatePersona({ ...aria, name: 'KIRA' }, T0))).kind).toBe('conflict');
  });

  it('deletes a persona with its state but keeps its conversations and messages', async () => {
    const store = openStore();
    await store.seedPersonas([aria], T0);
    await store.savePersonaState('aria', state);
    await store.setActivePersona('s1', 'aria', T0);
    const { conversation } = await store.appendUserTurn({
      sessionId: 's1',
      personaId: 'aria',
      content: 'hi',
      tokens: 1,
      now: T0,
    });

    expect(await store.deletePersona('aria', T0 + 1)).toBe(true);
    expect(await store.deletePersona('aria', T0 + 1)).toBe(false);
    expect(await store.getPersona('aria')).toBeNull();
    expect(await store.getPersonaState('aria')).toBeNull();
    expect((await store.getSession('s1'))?.activePersonaId).toBeNull();
    expect(await store.getConversation(conversation.id)).toMatchObject({
      personaIds: ['aria'],
      status: 'ended',
      endedAt: T0 + 1,
      endReason: 'persona_deleted',
    });
    expect((await store.recentMessages(conversation.id, 10)).map((m) => m.content)).toEqual(['hi']);
  });

  it('saves and reads social-energy state, and refuses it for an unknown persona', async () => {
    const store = openStore();
    await store.insertPersona(aria, T0);
    expect(await store.getPersonaState('aria')).toBeNull();
    await store.savePersonaState('aria', state);
    await store.savePersonaState('aria', { ...state, energy: 10, cooldownUntil: T0 + MINUTE });
    expect(await store.getPersonaState('aria')).toEqual({ ...state, energy: 10, cooldownUntil: T0 + MINUTE });
    expect((await rejection(store.savePersonaState('ghost', state))).kind).toBe('persona_not_found');
  });

  it('applies energy changes to the stored state (with a turn, or alone), null before the first one', async () => {
    const store = openStore();
    await store.insertPersona(aria, T0);
    const seen: Array<SocialEnergyState | null> = [];
    const drain = (stored: SocialEnergyState | null): SocialEnergyState => {
      seen.push(stored);
      return { ...(stored ?? state), energy: (stored ?? state).energy - 10 };
    };
    expect(await store.updatePersonaState('aria', drain)).toEqual({ ...state, energy: 32.5 });
    const { conversation } = await store.appendUserTurn({ sessionId: 's1', personaId: 'aria', content: 'hi', tokens: 1, now: T0 });
    await store.appendAssistantTurn({ conversationId: conversation.id, personaId: 'aria', content: 'hey', tokens: 1, promptTokens: 1, processingMs: 1, now: T0 + 1, personaState: drain });
    expect(seen).toEqual([null, { ...state, energy: 32.5 }]);
    expect(await store.getPersonaState('aria')).toEqual({ ...state, energy: 22.5 });
    expect((await rejection(store.updatePersonaState('ghost', drain))).kind).toBe('persona_not_found');
  });
});

describe('SqliteStore sessions', () => {
  it('creates a session on first touch and then only moves lastSeenAt', async () => {
    const store = openStore();
    expect(await store.getSession('s1')).toBeNull();
    expect(await store.touchSession('s1', T0, 'user-1')).toEqual({
      id: 's1',
      userId: 'user-1',
      activePersonaId: null,
      createdAt: T0,
      lastSeenAt: T0,
    });
    expect(await store.touchSession('s1', T0 + MINUTE)).toMatchObject({
      userId: 'user-1',
      createdAt: T0,
      lastSeenAt: T0 + MINUTE,
    });
    // The owner is set once: touching as someone else never takes the session over.
    expect(await store.touchSession('s1', T0 + 2 * MINUTE, null)).toMatchObject({ userId: 'user-1' });
    expect(await store.touchSession('s1', T0 + 3 * MINUTE, 'user-2')).toMatchObject({ userId: 'user-1' });
  });

  it('claims a new session for its first caller; a later claim sees the owner and changes nothing', async () => {
    const store = openStore();
    expect(await store.claimSession('bot-session-1', 'bob', T0)).toMatchObject({ userId: 'bob', createdAt: T0 });
    expect(await store.claimSession('bot-session-1', 'alice', T0 + MINUTE)).toMatchObject({ userId: 'bob', lastSeenAt: T0 });
    expect(await store.claimSession('bot-session-2', null, T0)).toMatchObject({ userId: null });
    expect(await store.claimSession('bot-session-2', 'alice', T0)).toMatchObject({ userId: null });
  });

  it('sets and clears the active persona, refusing an unknown one', async () => {
    const store = openStore();
    await store.insertPersona(kira, T0);
    expect(await store.setActivePersona('s1', 'kira', T0)).toMatchObject({ activePersonaId: 'kira', createdAt: T0 });
    expect(await store.setActivePersona('s1', null, T0 + 1)).toMatchObject({
      activePersonaId: null,
      lastSeenAt: T0 + 1,
    });
    expect((await rejection(store.setActivePersona('s1', 'ghost', T0))).kind).toBe('persona_not_found');
  });
});

describe('SqliteStore conversations and turns', () => {
  it('creates the session, the conversation and the message of a first user turn together', async () => {
    const store = openStore();
    const { conversation, message } = await store.appendUserTurn({
      sessionId: 's1',
      personaId: 'aria',
      content: 'Hello Aria',
      tokens: 3,
      now: T0,
    });
    expect(conversation).toMatchObject({
      sessionId: 's1',
      kind: 'user',
      personaIds: ['aria'],
      status: 'active',
      startedAt: T0,
    });
    expect(conversation.id).toMatch(/^conv_[0-9a-f]{16}$/);
    expect(message).toMatchObject({
      conversationId: conversation.id,
      role: 'user',
      personaId: null,
      content: 'Hello Aria',
      tokens: 3,
    });
    expect(await store.getSession('s1')).toMatchObject({ createdAt: T0, lastSeenAt: T0 });
  });

  it('rolls the whole user turn back when the named conversation is not usable', async () => {
    const store = openStore();
    const failed = await rejection(
      store.appendUserTurn({
        sessionId: 's1',
        personaId: 'aria',
        content: 'x',
        tokens: 1,
        now: T0,
        conversationId: 'conv_missing',
      }),
    );
    expect(failed.kind).toBe('conversation_not_found');
    expect(failed.message).toContain('conversation.start');
    expect(await store.getSession('s1')).toBeNull();
  });

  it('keeps one conversation per session and persona, and returns to it after a switch', async () => {
    const store = openStore();
    const turn = (personaId: string, now: number) =>
      store.appendUserTurn({ sessionId: 's1', personaId, content: `to ${personaId}`, tokens: 2, now });
    const first = await turn('aria', T0);
    const second = await turn('aria', T0 + 1);
    expect(second.conversation.id).toBe(first.conversation.id);

    const withKira = await turn('kira', T0 + 2);
    expect(withKira.conversation.id).not.toBe(first.conversation.id);
    expect((await turn('aria', T0 + 3)).conversation.id).toBe(first.conversation.id);
    expect(await store.findActiveConversation('s1', 'kira')).toEqual(withKira.conversation);
    expect(await store.findActiveConversation('s2', 'aria')).toBeNull();
  });

  it('uses a named conversation only while it is active and includes the persona', async () => {
    const store = openStore();
    const group = await store.startConversation({
      sessionId: 's1',
      kind: 'personas',
      personaIds: ['aria', 'kira'],
      topic: 'music',
      context: null,
      startedAt: T0,
      tokenBudget: 200,
    });
    const input = {
      sessionId: 's2',
      personaId: 'kira',
      content: 'hi both',
      tokens: 2,
      now: T0 + 1,
      conversationId: group.id,
    };
    expect((await store.appendUserTurn(input)).conversation.id).toBe(group.id);
    expect((await rejection(store.appendUserTurn({ ...input, personaId: 'tobias' }))).kind).toBe(
      'conversation_not_found',
    );
    await store.endConversation(group.id, 'done', T0 + 2);
    expect((await rejection(store.appendUserTurn(input))).kind).toBe('conversation_not_found');
  });

  it('checks a conversation its admission read (`admitted`) in the transaction, and rolls the turn back when it ended meanwhile', async () => {
    const store = openStore();
    const admitted = await store.startConversation({ sessionId: 's1', kind: 'user', personaIds: ['aria'], topic: null, context: null, startedAt: T0, tokenBudget: null });
    const input = { sessionId: 's1', personaId: 'aria', content: 'still there?', tokens: 3, now: T0 + 1, conversationId: admitted.id, admitted };
    const turn = await store.appendUserTurn(input);
    expect(turn.conversation).toEqual(await store.getConversation(admitted.id));
    expect(turn.message).toMatchObject({ conversationId: admitted.id, content: 'still there?' });

    expect((await rejection(store.appendUserTurn({ ...input, personaId: 'kira' }))).kind).toBe('conversation_not_found');
    await store.endConversation(admitted.id, 'done', T0 + 2);
    expect((await rejection(store.appendUserTurn({ ...input, now: T0 + 3 }))).kind).toBe('conversation_not_found');
    expect((await store.recentMessages(admitted.id, 10)).map((message) => message.content)).toEqual(['still there?']);
    expect((await store.getSession('s1'))?.lastSeenAt).toBe(T0 + 1);
  });

  it('ends the previous user conversation with the persona when a new one starts', async () => {
    const store = openStore();
    const { conversation: old } = await store.appendUserTurn({
      sessionId: 's1',
      personaId: 'aria',
      content: 'a',
      tokens: 1,
      now: T0,
    });
    const { conversation: other } = await store.appendUserTurn({
      sessionId: 's1',
      personaId: 'kira',
      content: 'k',
      tokens: 1,
      now: T0,
    });
    const fresh = await store.startConversation({
      id: 'conv_chosen',
      sessionId: 's1',
      kind: 'user',
      personaIds: ['aria'],
      topic: 'travel',
      context: 'planning a trip',
      startedAt: T0 + MINUTE,
      tokenBudget: 300,
    });
    expect(fresh).toEqual({
      id: 'conv_chosen',
      sessionId: 's1',
      kind: 'user',
      personaIds: ['aria'],
      topic: 'travel',
      context: 'planning a trip',
      status: 'active',
      startedAt: T0 + MINUTE,
      endedAt: null,
      endReason: null,
      tokenBudget: 300,
    });
    expect(await store.getConversation(old.id)).toMatchObject({
      status: 'ended',
      endedAt: T0 + MINUTE,
      endReason: 'superseded',
    });
    expect((await store.getConversation(other.id))?.status).toBe('active');
    expect(await store.findActiveConversation('s1', 'aria')).toEqual(fresh);

    const again = { ...fresh, startedAt: T0 + 2 * MINUTE };
    expect((await rejection(store.startConversation(again))).kind).toBe('conflict');
    expect((await store.getConversation('conv_chosen'))?.status).toBe('active');
  });

  it('ends a conversation once and keeps the first reason', async () => {
    const store = openStore();
    const { conversation } = await store.appendUserTurn({
      sessionId: 's1',
      personaId: 'aria',
      content: 'a',
      tokens: 1,
      now: T0,
    });
    expect(await store.endConversation(conversation.id, 'user_ended', T0 + 1)).toMatchObject({
      status: 'ended',
      endReason: 'user_ended',
    });
    expect(await store.endConversation(conversation.id, 'again', T0 + 2)).toMatchObject({
      endedAt: T0 + 1,
      endReason: 'user_ended',
    });
    expect(await store.endConversation('conv_missing', 'x', T0)).toBeNull();
  });

  it('lists a session’s conversations newest first, by status and up to a limit', async () => {
    const store = openStore();
    const start = (personaId: string, startedAt: number) =>
      store.startConversation({
        sessionId: 's1',
        kind: 'user',
        personaIds: [personaId],
        topic: null,
        context: null,
        startedAt,
        tokenBudget: null,
      });
    const a1 = await start('aria', T0);
    const k1 = await start('kira', T0 + 1);
    const a2 = await start('aria', T0 + 2);
    const a3 = await start('aria', T0 + 3);
    const ids = (list: { id: string }[]) => list.map((c) => c.id);
    expect(ids(await store.listConversations('s1'))).toEqual([a3.id, a2.id, k1.id, a1.id]);
    expect(ids(await store.listConversations('s1', { status: 'ended' }))).toEqual([a2.id, a1.id]);
    expect(ids(await store.listConversations('s1', { status: 'active', limit: 1 }))).toEqual([a3.id]);
    expect(ids(await store.listConversations('s1', { limit: 2 }))).toEqual([a3.id, a2.id]);
    expect(await store.listConversations('nobody')).toEqual([]);
  });

  it('stores replies with the persona state and counts turns and tokens', async () => {
    const store = openStore();
    await store.insertPersona(aria, T0);
    const { conversation } = await store.appendUserTurn({
      sessionId: 's1',
      personaId: 'aria',
      content: 'hi',
      tokens: 2,
      now: T0,
    });
    const reply = await store.appendAssistantTurn({
      conversationId: conversation.id,
      personaId: 'aria',
      content: 'Hello!',
      tokens: 10,
      promptTokens: 100,
      processingMs: 1234.6,
      now: T0 + 2_000,
      personaState: state,
    });
    expect(reply).toMatchObject({
      role: 'assistant',
      personaId: 'aria',
      tokens: 10,
      promptTokens: 100,
      processingMs: 1235,
    });
    expect(await store.getPersonaState('aria')).toEqual(state);
    await store.appendMessage({
      conversationId: conversation.id,
      role: 'system',
      personaId: null,
      content: 'note',
      tokens: 1,
      promptTokens: null,
      processingMs: null,
      createdAt: T0 + 3_000,
    });

    expect(await store.conversationStats(conversation.id)).toEqual({
      turns: 1,
      tokensUsed: 2 + 10 + 100 + 1,
      firstMessageAt: T0,
      lastMessageAt: T0 + 3_000,
    });
    const fresh = await store.startConversation({
      sessionId: 's1',
      kind: 'personas',
      personaIds: ['aria'],
      topic: null,
      context: null,
      startedAt: T0,
      tokenBudget: null,
    });
    expect(await store.conversationStats(fresh.id)).toEqual({
      turns: 0,
      tokensUsed: 0,
      firstMessageAt: null,
      lastMessageAt: null,
    });
    expect((await rejection(store.conversationStats('conv_missing'))).kind).toBe('conversation_not_found');
  });

  it('refuses messages for a conversation that does not exist', async () => {
    const store = openStore();
    const message = {
      conversationId: 'conv_missing',
      role: 'system' as const,
      personaId: null,
      content: 'x',
      tokens: 0,
      promptTokens: null,
      processingMs: null,
      createdAt: T0,
    };
    expect((await rejection(store.appendMessage(message))).kind).toBe('conversation_not_found');
  });
});

describe('SqliteStore history', () => {
  async function conversationWith(store: Store, count: number): Promise<string> {
    const { conversation } = await store.appendUserTurn({
      sessionId: 's1',
      personaId: 'aria',
      content: 'm1',
      tokens: 1,
      now: T0,
    });
    for (let i = 2; i <= count; i++) {
      await store.appendUserTurn({ sessionId: 's1', personaId: 'aria', content: `m${i}`, tokens: 1, now: T0 + i });
    }
    return conversation.id;
  }

  it('pages through history newest first', async () => {
    const store = openStore();
    const id = await conversationWith(store, 7);
    const contents = (page: { messages: { content: string }[] }) => page.messages.map((m) => m.content);

    const first = await store.historyPage(id, { limit: 3 });
    expect(contents(first)).toEqual(['m7', 'm6', 'm5']);
    expect(first.nextBeforeId).toBe(first.messages[2]!.id);
    const second = await store.historyPage(id, { limit: 3, beforeId: first.nextBeforeId! });
    expect(contents(second)).toEqual(['m4', 'm3', 'm2']);
    const third = await store.historyPage(id, { limit: 3, beforeId: second.nextBeforeId! });
    expect(contents(third)).toEqual(['m1']);
    expect(third.nextBeforeId).toBeNull();

    const exact = await store.historyPage(id, { limit: 7 });
    expect(exact.nextBeforeId).toBeNull();
  });

  it('returns the newest messages oldest first', async () => {
    const store = openStore();
    const id = await conversationWith(store, 5);
    expect((await store.recentMessages(id, 3)).map((m) => m.content)).toEqual(['m3', 'm4', 'm5']);
    expect(await store.recentMessages(id, 0)).toEqual([]);
    expect(await store.recentMessages('conv_missing', 3)).toEqual([]);
  });
});

describe('SqliteStore retention', () => {
  it('removes idle sessions, old messages and messages beyond the cap, and counts them', async () => {
    const store = openStore();
    const day = 24 * 60 * MINUTE;
    // s-old: idle for two days, one active conversation with 2 old messages.
    const { conversation: old } = await store.appendUserTurn({
      sessionId: 's-old',
      personaId: 'aria',
      content: 'o1',
      tokens: 1,
      now: T0,
    });
    await store.appendUserTurn({ sessionId: 's-old', personaId: 'aria', content: 'o2', tokens: 1, now: T0 + 1 });
    // s-new: seen today, 5 recent messages.
    for (let i = 1; i <= 5; i++) {
      await store.appendUserTurn({
        sessionId: 's-new',
        personaId: 'kira',
        content: `n${i}`,
        tokens: 1,
        now: T0 + 2 * day + i,
      });
    }
    const now = T0 + 2 * day + 10;

    const result = await store.applyRetention(
      { sessionIdleMs: day, messageMaxAgeMs: day, maxMessagesPerConversation: 3 },
      now,
    );
    expect(result).toEqual({ sessionsRemoved: 1, conversationsEnded: 1, messagesRemoved: 2 + 2 });
    expect(await store.getSession('s-old')).toBeNull();
    expect(await store.getConversation(old.id)).toMatchObject({
      sessionId: null,
      status: 'ended',
      endReason: 'session_expired',
    });
    const kept = await store.findActiveConversation('s-new', 'kira');
    expect((await store.recentMessages(kept!.id, 10)).map((m) => m.content)).toEqual(['n3', 'n4', 'n5']);

    expect(
      await store.applyRetention(
        { sessionIdleMs: 0, messageMaxAgeMs: 0, maxMessagesPerConversation: 0 },
        now + day * 9,
      ),
    ).toEqual({
      sessionsRemoved: 0,
      conversationsEnded: 0,
      messagesRemoved: 0,
    });
  });
});

describe('SqliteStore retention cap per conversation', () => {
  it('keeps the newest messages of each conversation over the cap, whatever the order they were stored in', async () => {
    const store = openStore();
    // Three conversations written in turns, so their message ids interleave: a has 9, b exactly the cap, c 2.
    const counts = { a: 9, b: 4, c: 2 } as const;
    const ids: Record<string, string> = {};
    let now = T0;
    for (let round = 1; round <= 9; round++) {
      for (const [name, count] of Object.entries(counts)) {
        if (round > count) continue;
        const { conversation } = await store.appendUserTurn({ sessionId: `s-${name}`, personaId: 'aria', content: `${name}${round}`, tokens: 1, now: (now += 1) });
        ids[name] = conversation.id;
      }
    }
    const policy = { sessionIdleMs: 0, messageMaxAgeMs: 0, maxMessagesPerConversation: 4 };
    expect(await store.applyRetention(policy, now + 1)).toEqual({ sessionsRemoved: 0, conversationsEnded: 0, messagesRemoved: 5 });
    const contents = async (name: string): Promise<string[]> => (await store.recentMessages(ids[name]!, 20)).map((message) => message.content);
    expect(await contents('a')).toEqual(['a6', 'a7', 'a8', 'a9']);
    expect(await contents('b')).toEqual(['b1', 'b2', 'b3', 'b4']);
    expect(await contents('c')).toEqual(['c1', 'c2']);
    expect((await store.applyRetention(policy, now + 2)).messagesRemoved).toBe(0);
  });
});

describe.skipIf(onPostgres())('SqliteStore database file', () => {
  it('keeps everything across close and reopen', async () => {
    const store = openStore();
    await store.seedPersonas([aria], T0);
    await store.savePersonaState('aria', state);
    const { conversation } = await store.appendUserTurn({
      sessionId: 's1',
      personaId: 'aria',
      content: 'remember me',
      tokens: 2,
      now: T0,
    });
    await store.close();

    const reopened = openStore();
    expect((await reopened.getPersona('aria'))?.name).toBe('Aria');
    expect(await reopened.getPersonaState('aria')).toEqual(state);
    expect(await reopened.findActiveConversation('s1', 'aria')).toEqual(conversation);
    expect((await reopened.recentMessages(conversation.id, 1))[0]?.content).toBe('remember me');
  });

  it('runs in WAL mode with foreign keys on and reports its size', async () => {
    const store = openStore();
    const health = await store.checkHealth();
    expect(health).toMatchObject({ ok: true, path: dbPath, vectors: { kind: 'in-memory', pgvector: null } });
    expect(health.sizeBytes).toBeGreaterThan(0);
    const db = openDatabase(dbPath);
    opened.push(db);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('synchronous', { simple: true })).toBe(1);
  });

  it('applies each migration once and leaves a migrated database alone on reopen', () => {
    const db = openDatabase(dbPath);
    opened.push(db);
    expect(appliedSchemaVersion(db)).toBe(currentSchemaVersion());
    expect(runMigrations(db)).toEqual([]);
    db.close();
    const again = openDatabase(dbPath);
    opened.push(again);
    expect(again.prepare('SELECT version, name FROM schema_migrations').all()).toEqual(
      MIGRATIONS.map(({ version, name }) => ({ version, name })),
    );
  });

  it('numbers migrations in increasing order, each once', () => {
    // Gaps are allowed while features land their migrations in parallel (social 0004 before memory 0002/0003).
    const versions = MIGRATIONS.map((m) => m.version);
    expect(versions).toEqual([...new Set(versions)].sort((a, b) => a - b));
    expect(currentSchemaVersion()).toBe(versions.at(-1));
  });

  it('applies a migration numbered below one already applied (parallel features)', () => {
    const raw = new BetterSqlite3(':memory:');
    raw.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    // Every migration but one that stands alone (api_keys only creates its table), the later ones included.
    const skipped = MIGRATIONS.find((m) => m.name === 'api_keys')!;
    for (const migration of MIGRATIONS.filter((m) => m !== skipped)) {
      raw.exec(migration.sql);
      raw.prepare('INSERT INTO schema_migrations VALUES (?, ?, ?)').run(migration.version, migration.name, T0);
    }
    expect(Math.max(...MIGRATIONS.map((m) => m.version))).toBeGreaterThan(skipped.version);
    expect(runMigrations(raw)).toEqual([skipped.version]);
    raw.close();
  });

  it('refuses a database made by a newer persona-mcp', () => {
    openStore();
    const raw = rawConnection();
    raw
      .prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)')
      .run(currentSchemaVersion() + 1, 'future', T0);
    raw.close();
    let error: unknown;
    try {
      opened.push(SqliteStore.open(dbPath));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ kind: 'storage_error', message: expect.stringMatching(/upgrade persona-mcp/) });
  });
});

describe.skipIf(onPostgres())('SqliteStore storage errors', () => {
  it('reports a database locked by another process', async () => {
    const db = openDatabase(dbPath);
    db.pragma('busy_timeout = 0');
    const store = new SqliteStore(db, dbPath);
    opened.push(store);
    const other = rawConnection();
    other.exec('BEGIN EXCLUSIVE');

    const error = await rejection(store.touchSession('s1', T0));
    expect(error.kind).toBe('storage_error');
    expect(error.message).toMatch(/locked by another process/);
    other.exec('ROLLBACK');
    expect(await store.touchSession('s1', T0)).toMatchObject({ id: 's1' });
  });

  it('reports a full disk', async () => {
    const db = openDatabase(dbPath);
    const store = new SqliteStore(db, dbPath);
    opened.push(store);
    const { conversation } = await store.appendUserTurn({
      sessionId: 's1',
      personaId: 'aria',
      content: 'a',
      tokens: 1,
      now: T0,
    });
    // Capping the file at its current size makes SQLite fail exactly as on a full disk.
    db.pragma(`max_page_count = ${String(db.pragma('page_count', { simple: true }))}`);

    const input = { sessionId: 's1', personaId: 'aria', content: 'x'.repeat(100_000), tokens: 1, now: T0 + 1 };
    const error = await rejection(store.appendUserTurn(input));
    expect(error.kind).toBe('storage_error');
    expect(error.message).toBe(`the disk holding ${path.dirname(dbPath)} is full; free space and retry`);
    expect(await store.recentMessages(conversation.id, 10)).toHaveLength(1);
    // Closing still works, and reports that the statistics could not be written.
    expect((await rejection(store.close())).kind).toBe('storage_error');
    expect(db.open).toBe(false);
  });

  it('reports a read-only database', async () => {
    const db = openDatabase(dbPath);
    db.pragma('query_only = 1');
    const store = new SqliteStore(db, dbPath);
    opened.push(store);
    const error = await rejection(store.touchSession('s1', T0));
    expect(error.kind).toBe('storage_error');
    expect(error.message).toMatch(/read-only/);
    db.pragma('query_only = 0');
  });
});

describe.skipIf(onPostgres())('SqliteStore WAL checkpoints', () => {
  it('with a checkpointer, leaves checkpoints to its worker and stops it on close, so the close checkpoints and removes the WAL', async () => {
    const errors: Error[] = [];
    const store = SqliteStore.open(dbPath, { checkpoints: { onError: (error) => errors.push(error) } });
    await store.touchSession('s1', T0);
    expect(store.database.pragma('wal_autocheckpoint', { simple: true })).toBe(10_000);
    expect(await store.walCheckpointer!.checkpoint()).toMatchObject({ checkpointed: expect.any(Number) });
    expect(fs.existsSync(`${dbPath}-wal`)).toBe(true);
    await store.close();
    // the store's connection closed last: SQLite checkpointed what was left and removed the WAL
    expect(fs.existsSync(`${dbPath}-wal`)).toBe(false);
    expect(errors).toEqual([]);
  });
});
