import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildPersonaDefinition } from '../../domain/persona-schema.js';
import { applyInteraction, newRelationship } from '../../domain/social/relationship.js';
import { SqliteSocialStore } from './social-store.js';
import { SqliteStore } from './sqlite-store.js';
import type { SocialStore, ThreadFiling } from '../../ports/social-store.js';
import type { Store } from '../../ports/store.js';
import { PostgresSocialStore } from '../postgres/pg-social-store.js';
import { PostgresStore } from '../postgres/pg-store.js';
import { dropFreshPostgres, freshPostgres, onPostgres } from '../../../test/helpers/store-backend.js';

let store: Store;
let social: SocialStore;
const T0 = 1_700_000_000_000;

// On PostgreSQL, src/adapters/postgres/pg-social-store.test.ts imports this file.
beforeEach(async () => {
  if (onPostgres()) {
    const database = await freshPostgres();
    store = new PostgresStore(database);
    social = new PostgresSocialStore(database);
  } else {
    const sqlite = SqliteStore.open(':memory:');
    store = sqlite;
    social = new SqliteSocialStore(sqlite.database, ':memory:');
  }
  await store.insertPersona(buildPersonaDefinition({ name: 'Aria' }), T0);
  await store.insertPersona(buildPersonaDefinition({ name: 'Kira' }), T0);
});
afterEach(async () => {
  await store.close();
  if (onPostgres()) await dropFreshPostgres();
});

describe('SqliteSocialStore relationships', () => {
  it('applies an interaction to the stored relationship when given a change', async () => {
    const key = { subjectId: 'aria', otherKind: 'persona' as const, otherId: 'kira' };
    const change = { key, apply: (stored: Parameters<typeof applyInteraction>[0] | null) => ({ ...key, ...applyInteraction(stored ?? newRelationship(), { quality: 1, durationMs: 10, now: T0 }) }) };
    await social.recordInteraction(change, { quality: 1, source: 'manual', conversationId: null, context: null });
    const event = await social.recordInteraction(change, { quality: 1, source: 'manual', conversationId: null, context: null });
    expect((await social.getRelationship(key))?.interactionCount).toBe(2);
    expect(event.affinity).toBe((await social.getRelationship(key))?.affinity);
  });

  it('counts an exchange once however often it is recorded (a job run again after a crash), both one by one and in a batch', async () => {
    const key = { subjectId: 'aria', otherKind: 'user' as const, otherId: 'local' };
    const changeOf = (of: typeof key) => ({ key: of, apply: (stored: Parameters<typeof applyInteraction>[0] | null) => ({ ...of, ...applyInteraction(stored ?? newRelationship(), { quality: 1, durationMs: 10, now: T0 }) }) });
    const change = changeOf(key);
    const exchange = (messageId: number) => ({ quality: 1, source: 'chat' as const, conversationId: null, context: null, messageId });
    const first = await social.recordInteraction(change, exchange(7));
    expect(await social.recordInteraction(change, exchange(7))).toEqual(first);
    const batch = await social.recordInteractions!([
      { relationship: change, event: exchange(7) },
      { relationship: change, event: exchange(8) },
      { relationship: change, event: exchange(8) },
    ]);
    expect(batch.map((outcome) => outcome.status === 'fulfilled' && outcome.value.id)).toEqual([first.id, first.id + 1, first.id + 1]);
    // The same exchange for another relationship counts there; an interaction without one is always applied.
    await social.recordInteraction(changeOf({ ...key, subjectId: 'kira' }), exchange(7));
    await social.recordInteraction(change, { quality: 1, source: 'manual', conversationId: null, context: null });
    await social.recordInteraction(change, { quality: 1, source: 'manual', conversationId: null, context: null });
    expect((await social.getRelationship(key))?.interactionCount).toBe(4);
    expect(await social.relationshipHistory(key, { limit: 10 })).toHaveLength(4);
    expect((await social.getRelationship({ ...key, subjectId: 'kira' }))?.interactionCount).toBe(1);
  });

  it('saves the figures and the timeline in one step, newest event first', async () => {
    const key = { subjectId: 'aria', otherKind: 'persona' as const, otherId: 'kira' };
    const first = { ...key, ...applyInteraction(newRelationship(), { quality: 1, durationMs: 1000, now: T0 }) };
    await social.recordInteraction(first, { quality: 1, source: 'manual', conversationId: null, context: 'a song' });
    const second = { ...key, ...applyInteraction(first, { quality: -1, durationMs: 0, now: T0 + 5 }) };
    await social.recordInteraction(second, { quality: -1, source: 'chat', conversationId: null, context: null });

    expect(await social.getRelationship(key)).toEqual(second);
    const history = await social.relationshipHistory(key, { limit: 10 });
    expect(history.map((event) => [event.quality, event.source, event.affinity, event.at])).toEqual([
      [-1, 'chat', second.affinity, T0 + 5],
      [1, 'manual', 0.1, T0],
    ]);
    expect(await social.relationshipHistory(key, { limit: 10, beforeId: history[0]!.id })).toHaveLength(1);
    expect(await social.listRelationships('kira')).toEqual([]);
  });

  it('forgets the relationships of a deleted persona (but others keep theirs about it)', async () => {
    const towardsKira = { subjectId: 'aria', otherKind: 'persona' as const, otherId: 'kira', ...newRelationship() };
    const towardsAria = { subjectId: 'kira', otherKind: 'persona' as const, otherId: 'aria', ...newRelationship() };
    await social.recordInteraction(towardsKira, { quality: 0, source: 'manual', conversationId: null, context: null });
    await social.recordInteraction(towardsAria, { quality: 0, source: 'manual', conversationId: null, context: null });
    await store.deletePersona('kira', T0);
    expect((await social.listRelationships()).map((record) => record.subjectId)).toEqual(['aria']);
  });
});

describe('SqliteSocialStore moods, threads and groups', () => {
  it('keeps the mood and its history', async () => {
    const mood = { valence: -0.4, arousal: 0.5, stress: 0.3, curiosity: 0.5, updatedAt: T0 };
    await social.saveMood('aria', mood, { mood: 'irritated', cause: 'manual', conversationId: null });
    await social.saveMood('aria', { ...mood, updatedAt: T0 + 1 });
    expect(await social.getMood('aria')).toEqual({ ...mood, updatedAt: T0 + 1 });
    expect((await social.moodEvents({ personaId: 'aria', limit: 10 })).map((event) => event.mood)).toEqual(['irritated']);
  });

  it('applies mood changes to the stored mood, with their history entry', async () => {
    const mood = { valence: -0.4, arousal: 0.5, stress: 0.3, curiosity: 0.5, updatedAt: T0 };
    const calmer = (stored: typeof mood | null) => ({ state: { ...(stored ?? mood), stress: (stored ?? mood).stress - 0.1 }, event: { mood: 'calm' as const, cause: 'test', conversationId: null } });
    expect((await social.updateMood('aria', calmer)).stress).toBeCloseTo(0.2);
    expect((await social.updateMood('aria', calmer)).stress).toBeCloseTo(0.1);
    expect((await social.getMood('aria'))?.stress).toBeCloseTo(0.1);
    expect((await social.moodEvents({ personaId: 'aria', limit: 10 })).map((event) => event.cause)).toEqual(['test', 'test']);
  });

  it('files messages in threads, moves the cursor, and counts them', async () => {
    const turn = await store.appendUserTurn({ sessionId: 'session-1', personaId: 'aria', content: 'hello there', tokens: 3, now: T0 });
    const conversationId = turn.conversation.id;
    const thread = await social.createThread(conversationId, 'greetings', T0, false);
    expect(await social.currentThreadId(conversationId)).toBe(thread.id);
    const branch = await social.createThread(conversationId, 'travel', T0, true);
    expect(await social.fileInThreads([{ messageId: turn.message.id, threadId: thread.id, centroid: { hello: 1 }, label: 'hello', now: T0 + 1 }])).toEqual([1]);
    expect(await social.currentThreadId(conversationId)).toBe(thread.id);
    expect(await social.listThreads(conversationId)).toEqual([
      { id: thread.id, conversationId, label: 'hello', centroid: { hello: 1 }, isBranch: false, messageCount: 1, createdAt: T0, lastActiveAt: T0 + 1 },
      { ...branch, messageCount: 0 },
    ]);
    expect(await social.threadOfMessages(conversationId)).toEqual(new Map([[turn.message.id, thread.id]]));
    expect(await social.lastMessageId(conversationId)).toBe(turn.message.id);
    expect(await social.speakerFigures({ conversationId })).toEqual([
      { personaId: null, role: 'user', messages: 1, tokens: 3, characters: 11, processingMsTotal: 0, timedReplies: 0 },
    ]);
  });

  it('files a person\'s message and the reply in one call: counts per filing, each thread written with its last filing, the last filing\'s thread current', async () => {
    const asked = await store.appendUserTurn({ sessionId: 'session-1', personaId: 'aria', content: 'trains to the coast?', tokens: 4, now: T0 });
    const conversationId = asked.conversation.id;
    const answer = await store.appendMessage({ conversationId, role: 'assistant', personaId: 'aria', content: 'Every hour.', tokens: 3, promptTokens: null, processingMs: null, createdAt: T0 + 1 });
    const travel = await social.createThread(conversationId, 'travel', T0, false);
    const other = await social.createThread(conversationId, 'other', T0, false);
    const filings: ThreadFiling[] = [
      { messageId: asked.message.id, threadId: travel.id, centroid: { train: 1 }, label: 'train', now: T0 },
      { messageId: answer.id, threadId: travel.id, centroid: { train: 1, hour: 1 }, label: 'hour, train', now: T0 + 1 },
      { messageId: 999_999, threadId: other.id, centroid: { gone: 1 }, label: 'gone', now: T0 + 2 },
    ];
    // the third message does not exist: nothing is filed for it, and the cursor still follows the last filing
    expect(await social.fileInThreads(filings)).toEqual([1, 2, 0]);
    const threads = await social.listThreads(conversationId);
    expect(threads.find((thread) => thread.id === travel.id)).toMatchObject({ centroid: { train: 1, hour: 1 }, label: 'hour, train', messageCount: 2, lastActiveAt: T0 + 1 });
    expect(await social.threadOfMessages(conversationId)).toEqual(new Map([[asked.message.id, travel.id], [answer.id, travel.id]]));
    expect(await social.currentThreadId(conversationId)).toBe(other.id);
    // filing a message again in another thread moves it: both threads count again
    expect(await social.fileInThreads([{ messageId: answer.id, threadId: other.id, centroid: { hour: 1 }, label: 'hour', now: T0 + 3 }])).toEqual([1]);
    expect(await social.fileInThreads([])).toEqual([]);
  });

  it('reads the threads of given messages and the newest message of given threads only', async () => {
    const first = await store.appendUserTurn({ sessionId: 'session-1', personaId: 'aria', content: 'hello there', tokens: 3, now: T0 });
    const conversationId = first.conversation.id;
    const second = await store.appendUserTurn({ sessionId: 'session-1', personaId: 'aria', content: 'trains now', tokens: 2, now: T0 + 1 });
    const third = await store.appendUserTurn({ sessionId: 'session-1', personaId: 'aria', content: 'more hello', tokens: 2, now: T0 + 2 });
    const greetings = await social.createThread(conversationId, 'greetings', T0, false);
    const travel = await social.createThread(conversationId, 'travel', T0, false);
    const empty = await social.createThread(conversationId, 'nothing yet', T0, false);
    // each filing resolves with the thread's message count after it
    // each filing resolves with the thread's message count after it, several in one transaction too
    expect(await social.fileInThreads([{ messageId: first.message.id, threadId: greetings.id, centroid: { hello: 1 }, label: 'hello', now: T0 }])).toEqual([1]);
    expect(
      await social.fileInThreads([
        { messageId: second.message.id, threadId: travel.id, centroid: { train: 1 }, label: 'train', now: T0 + 1 },
        { messageId: third.message.id, threadId: greetings.id, centroid: { hello: 2 }, label: 'hello', now: T0 + 2 },
      ]),
    ).toEqual([1, 2]);
    expect(await social.threadsOfMessages([second.message.id, third.message.id, 999_999])).toEqual(
      new Map([
        [second.message.id, travel.id],
        [third.message.id, greetings.id],
      ]),
    );
    expect(await social.threadsOfMessages([])).toEqual(new Map());
    expect(await social.newestMessageOfThreads([greetings.id, travel.id, empty.id])).toEqual(
      new Map([
        [greetings.id, third.message.id],
        [travel.id, second.message.id],
      ]),
    );
    expect(await social.newestMessageOfThreads([])).toEqual(new Map());
  });

  it('records groups and who was present when', async () => {
    const turn = await store.appendUserTurn({ sessionId: 'session-1', personaId: 'aria', content: 'hi', tokens: 1, now: T0 });
    const conversationId = turn.conversation.id;
    await social.saveGroup({ conversationId, status: 'running', maxTurns: 5, turnDelayMs: 0, statusReason: null, updatedAt: T0 });
    await social.addMember({ conversationId, personaId: 'kira', joinedAfter: 0, leftAfter: null, joinedAt: T0, leftAt: null });
    await social.markLeft(conversationId, 'kira', turn.message.id, T0 + 9);
    expect(await social.members(conversationId)).toEqual([
      { conversationId, personaId: 'kira', joinedAfter: 0, leftAfter: turn.message.id, joinedAt: T0, leftAt: T0 + 9 },
    ]);
    expect((await social.listGroups('running')).map((group) => group.conversationId)).toEqual([conversationId]);
    expect((await store.getConversation(conversationId))?.personaIds).toEqual(['aria', 'kira']);
  });
});
