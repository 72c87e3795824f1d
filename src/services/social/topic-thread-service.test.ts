/**
 * TopicThreadService keeps each conversation's threads in memory (no read and no centroid parse per
 * filed message): what it decides and shows must be what a service reading the store decides and shows.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InProcessEventBus } from '../../adapters/events/in-process-bus.js';
import { SqliteSocialStore } from '../../adapters/sqlite/social-store.js';
import { SqliteStore } from '../../adapters/sqlite/sqlite-store.js';
import { writeBatch } from '../../adapters/sqlite/write-batch.js';
import { buildPersonaDefinition } from '../../domain/persona-schema.js';
import type { MessageRecord } from '../../ports/store.js';
import { TopicThreadService, UNWRITTEN_FILING_MS } from './topic-thread-service.js';

const T0 = 1_700_000_000_000;
let store: SqliteStore;
let social: SqliteSocialStore;
let now = T0;
const clock = { now: () => now };

beforeEach(async () => {
  store = SqliteStore.open(':memory:');
  social = new SqliteSocialStore(store.database, ':memory:');
  await store.insertPersona(buildPersonaDefinition({ name: 'Aria' }), T0);
});
afterEach(async () => {
  await store.close();
});

const SAID = [
  'I keep a small vegetable garden with tomatoes and beans behind the house.',
  'The tomatoes in the garden ripen late this year, the beans are early.',
  'Gardens need patience, tomatoes especially.',
  'Completely different question: which trains run from the harbour station to the mountains?',
  'The mountain trains leave the harbour station every hour.',
  'Back to the garden: should I water the tomatoes every morning?',
  'Water the tomatoes in the garden early, before the sun is high.',
  'And the trains, do they run on holidays to the mountains?',
];

async function say(conversationId: string | undefined, index: number): Promise<MessageRecord> {
  now += 1_000;
  const content = SAID[index % SAID.length]!;
  if (index % 2 === 0 || conversationId === undefined) {
    const turn = await store.appendUserTurn({ sessionId: 'session-1', personaId: 'aria', content, tokens: 10, now, ...(conversationId ? { conversationId } : {}) });
    return turn.message;
  }
  return store.appendMessage({ conversationId, role: 'assistant', personaId: 'aria', content, tokens: 10, promptTokens: null, processingMs: null, createdAt: now });
}

describe('TopicThreadService kept threads', () => {
  it('files and shows the same as a service that reads every thread from the store', async () => {
    const events = new InProcessEventBus();
    const kept = new TopicThreadService(social, store, clock);
    const errors: unknown[] = [];
    kept.listen(events, (error) => errors.push(error));
    const messages: MessageRecord[] = [];
    let conversationId: string | undefined;
    for (let index = 0; index < SAID.length; index++) {
      const message = await say(conversationId, index);
      conversationId = message.conversationId;
      messages.push(message);
      events.publish({ type: 'messageStored', conversationId, message });
      if (index === 4) await kept.branch(conversationId, 'a side trip');
      if (index === 6) await kept.returnTo(conversationId, 'previous');
      await kept.settled(conversationId);
      const fresh = new TopicThreadService(social, store, clock, { sharedStore: true });
      expect(await kept.promptView(conversationId, messages)).toEqual(await fresh.promptView(conversationId, messages));
    }
    expect(errors).toEqual([]);
    const threads = await social.listThreads(conversationId!);
    expect(threads.length).toBeGreaterThanOrEqual(3); // garden, trains, the branch
    const filed = await social.threadOfMessages(conversationId!);
    expect(threads.map((thread) => thread.messageCount)).toEqual(threads.map((thread) => [...filed.values()].filter((id) => id === thread.id).length));
    expect((await kept.promptView(conversationId!, messages)).section).toContain('Earlier in this conversation you also talked about');
  });

  it('reads the store again after an import replaced the threads, and never keeps them with a shared store', async () => {
    const events = new InProcessEventBus();
    const kept = new TopicThreadService(social, store, clock);
    kept.listen(events, () => undefined);
    const shared = new TopicThreadService(social, store, clock, { sharedStore: true });
    const first = await say(undefined, 0);
    events.publish({ type: 'messageStored', conversationId: first.conversationId, message: first });
    await kept.settled(first.conversationId);
    expect(await kept.promptView(first.conversationId, [first])).toEqual({ section: '', excludeMessageIds: [] });
    await shared.promptView(first.conversationId, [first]);
    // Another writer (an import, another node) opens a thread and makes it current behind their backs.
    const other = await social.createThread(first.conversationId, 'imported topic', now, false);
    const sharedView = await shared.promptView(first.conversationId, [first]);
    expect(sharedView.section).toContain('garden');
    expect(await kept.promptView(first.conversationId, [first])).toEqual({ section: '', excludeMessageIds: [] });
    events.publish({ type: 'stateImported', tables: ['topic_threads'] });
    expect(await kept.promptView(first.conversationId, [first])).toEqual(sharedView);
    expect(await kept.current(first.conversationId)).toBe(other.id);
  });

  it('files a person\'s message at once in the kept threads and writes it with the reply\'s filing, after pending I/O, in one call', async () => {
    const events = new InProcessEventBus();
    const writes: number[][] = [];
    const counting = new (class extends SqliteSocialStore {
      override fileInThreads(filings: Parameters<SqliteSocialStore['fileInThreads']>[0]): Promise<number[]> {
        writes.push(filings.map((filing) => filing.messageId));
        return super.fileInThreads(filings);
      }
    })(store.database, ':memory:');
    const kept = new TopicThreadService(counting, store, clock);
    kept.listen(events, () => undefined);
    const first = await say(undefined, 0);
    events.publish({ type: 'messageStored', conversationId: first.conversationId, message: first });
    const opening = await say(first.conversationId, 1);
    events.publish({ type: 'messageStored', conversationId: opening.conversationId, message: opening });
    await kept.settled(first.conversationId);
    writes.length = 0;

    const asked = await say(first.conversationId, 2);
    events.publish({ type: 'messageStored', conversationId: asked.conversationId, message: asked });
    await kept.filed(asked.conversationId);
    // what the turn's prompt view reads has it; the store not yet
    const [garden] = await counting.listThreads(asked.conversationId);
    expect((await kept.promptView(asked.conversationId, [first, opening, asked])).excludeMessageIds).toEqual([]);
    expect((await counting.threadOfMessages(asked.conversationId)).has(asked.id)).toBe(false);
    const reply = await say(asked.conversationId, 1);
    events.publish({ type: 'messageStored', conversationId: reply.conversationId, message: reply });
    for (let hop = 0; hop < 20; hop++) await Promise.resolve();
    expect(writes).toEqual([]); // the reply's client hears it before this write
    const [thread] = await kept.list(asked.conversationId);
    expect(writes).toEqual([[asked.id, reply.id]]);
    expect(thread?.messageCount).toBe((garden?.messageCount ?? 0) + 2);
    const filed = await counting.threadOfMessages(asked.conversationId);
    expect([filed.get(asked.id), filed.get(reply.id)]).toEqual([thread?.id, thread?.id]);
  });

  it('shows a conversation of one thread (the current one) without looking up the threads of its window\'s messages', async () => {
    const events = new InProcessEventBus();
    const filer = new TopicThreadService(social, store, clock);
    filer.listen(events, () => undefined);
    const messages: MessageRecord[] = [];
    for (const index of [0, 1, 2, 6]) {
      const message = await say(messages[0]?.conversationId, index);
      messages.push(message);
      events.publish({ type: 'messageStored', conversationId: message.conversationId, message });
    }
    const conversationId = messages[0]!.conversationId;
    await filer.settled(conversationId);
    expect(await social.listThreads(conversationId)).toHaveLength(1);
    const lookups: number[][] = [];
    const counting = new (class extends SqliteSocialStore {
      override threadsOfMessages(ids: number[]): Promise<Map<number, number>> {
        lookups.push(ids);
        return super.threadsOfMessages(ids);
      }
    })(store.database, ':memory:');
    // a service that knows none of the window's messages (a restart): each would have been looked up
    const fresh = new TopicThreadService(counting, store, clock);
    expect(await fresh.promptView(conversationId, messages)).toEqual({ section: '', excludeMessageIds: [] });
    expect(lookups).toEqual([]);
  });

  it('writes a person\'s message whose reply does not come on its own after UNWRITTEN_FILING_MS, and at once for a reader of the store or on close', async () => {
    const events = new InProcessEventBus();
    const kept = new TopicThreadService(social, store, clock);
    const errors: unknown[] = [];
    kept.listen(events, (error) => errors.push(error));
    const first = await say(undefined, 0);
    events.publish({ type: 'messageStored', conversationId: first.conversationId, message: first });
    await kept.settled(first.conversationId);
    const conversationId = first.conversationId;

    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const unanswered = await say(conversationId, 2);
      events.publish({ type: 'messageStored', conversationId, message: unanswered });
      await kept.filed(conversationId);
      vi.advanceTimersByTime(UNWRITTEN_FILING_MS - 1);
      expect((await social.threadOfMessages(conversationId)).has(unanswered.id)).toBe(false);
      vi.advanceTimersByTime(1);
      await kept.filed(conversationId);
      expect((await social.threadOfMessages(conversationId)).has(unanswered.id)).toBe(true);
    } finally {
      vi.useRealTimers();
    }

    const read = await say(conversationId, 4);
    events.publish({ type: 'messageStored', conversationId, message: read });
    expect((await kept.current(conversationId)) !== null).toBe(true);
    expect((await social.threadOfMessages(conversationId)).has(read.id)).toBe(true);

    const closing = await say(conversationId, 6);
    events.publish({ type: 'messageStored', conversationId, message: closing });
    await kept.filed(conversationId);
    await kept.close();
    expect((await social.threadOfMessages(conversationId)).has(closing.id)).toBe(true);
    expect(errors).toEqual([]);
  });
});

describe('TopicThreadService after a crash', () => {
  it('files a recovered message that opened a thread in that thread, not in a second one, and skips one filed already', async () => {
    const before = new TopicThreadService(social, store, clock);
    const opening = await say(undefined, 0);
    // the thread is written at once; the person's filing waits for the reply's, which the crash takes
    await before.fileMessage(opening);
    expect((await social.listThreads(opening.conversationId)).map((thread) => thread.messageCount)).toEqual([0]);
    const reply = await say(opening.conversationId, 1);

    const after = new TopicThreadService(social, store, clock);
    expect(await after.fileRecovered(opening)).not.toBeNull();
    expect(await after.fileRecovered(reply)).not.toBeNull();
    expect((await after.list(opening.conversationId)).map((thread) => thread.messageCount)).toEqual([2]);
    expect(await after.fileRecovered(reply)).toBeNull();
    expect((await after.list(opening.conversationId)).map((thread) => thread.messageCount)).toEqual([2]);
  });
});

describe('TopicThreadService and the commit of a reply\'s filing', () => {
  it('lets the next message be filed and shown before the reply\'s filing is committed; settled() waits for the commit', async () => {
    const threads = new TopicThreadService(social, store, clock);
    const events = new InProcessEventBus();
    const errors: unknown[] = [];
    threads.listen(events, (error) => errors.push(error));
    const opening = await say(undefined, 0);
    const { conversationId } = opening;
    events.publish({ type: 'messageStored', conversationId, message: opening });
    await threads.settled(conversationId);
    // the reply's writes gather until the batch is flushed (as a commit the next turn would have waited for)
    const batch = writeBatch(store.database);
    batch.setWindow(60_000);
    try {
      const reply = await say(conversationId, 1);
      events.publish({ type: 'messageStored', conversationId, message: reply });
      const next = await say(conversationId, 2);
      events.publish({ type: 'messageStored', conversationId, message: next });
      await threads.filed(conversationId);
      // filed and shown without the commit: the prompt view reads the kept threads
      expect(batch.size).toBe(1);
      expect((await social.threadsOfMessages([reply.id])).size).toBe(0);
      const view = await threads.promptView(conversationId, [opening, reply, next]);
      expect(view.excludeMessageIds).toEqual([]);
      let isSettled = false;
      const settling = threads.settled(conversationId).then(() => (isSettled = true));
      await new Promise((resolve) => setImmediate(resolve));
      expect(isSettled).toBe(false);
      batch.flush();
      await settling;
      // all three in the one thread, in the store and as kept
      const stored = await social.threadsOfMessages([opening.id, reply.id, next.id]);
      expect(new Set(stored.values()).size).toBe(1);
      expect((await threads.list(conversationId)).map((thread) => thread.messageCount)).toEqual([3]);
      expect(errors).toEqual([]);
    } finally {
      batch.setWindow(0);
      batch.flush();
    }
  });
});
