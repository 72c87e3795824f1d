/**
 * Group conversations end to end: personas take turns in the background against the fake Ollama,
 * subscribers get each turn once, the user interjects, each persona hears only what it witnessed, and
 * a running group survives a restart.
 */
import { rmSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeChatBody, type FakeOllama } from '../fakes/fake-ollama.js';
import { makeDataDir, startTestServer, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/ws-client.js';

let ollama: FakeOllama;
let server: TestServer;

/** Persona chat requests only (memory scoring and the like also reach the fake). */
function personaRequests(): FakeChatBody[] {
  return ollama.requests.map((request) => request.body).filter((body) => body.messages?.[0]?.content.includes('Stay in character'));
}

function speakerOf(body: FakeChatBody): string {
  return /\bYou are ([A-Z][\w-]*)/.exec(body.messages?.[0]?.content ?? '')?.[1] ?? '?';
}

/** Each persona says a short numbered line, so transcripts stay small and distinct. */
function numberedReplies(): void {
  let line = 0;
  ollama.setReply((body) => `${speakerOf(body)} line ${++line}`);
}

/** Requests answered by id while notifications are collected in order. */
class Feed {
  readonly notifications: any[] = [];
  private nextId = 1;
  constructor(readonly client: TestClient) {}

  async call(method: string, params: Record<string, unknown> = {}): Promise<any> {
    const id = `feed-${this.nextId++}`;
    this.client.send({ jsonrpc: '2.0', id, method, params });
    for (;;) {
      const frame = await this.client.next(10_000);
      if (frame.id === id) {
        if (frame.error) throw new Error(`${method}: ${JSON.stringify(frame.error)}`);
        return frame.result;
      }
      this.notifications.push(frame);
    }
  }

  /** Waits until `done(notifications)` holds. */
  async until(done: (notifications: any[]) => boolean): Promise<void> {
    while (!done(this.notifications)) this.notifications.push(await this.client.next(10_000));
  }

  turns(): any[] {
    return this.notifications.filter((frame) => frame.method === 'conversation.turn').map((frame) => frame.params.message);
  }

  ended(): any | undefined {
    return this.notifications.find((frame) => frame.method === 'conversation.ended')?.params;
  }
}

async function createTiredPersona(feed: Feed, name: string, topics: Record<string, number>): Promise<string> {
  const persona = await feed.call('persona.create', {
    name,
    description: `${name}, who tires quickly`,
    personality_traits: { introverted: 60 },
    topic_preferences: topics,
    social_energy: { max_energy: 30, available_time: 120, cost_per_turn: 7, recovery_per_minute: 0.01 },
  });
  return persona.id;
}

beforeAll(async () => {
  ollama = await startFakeOllama();
  server = await startTestServer({ ollamaUrl: ollama.url, flags: { 'social.groupTurnDelayMs': 0 } });
});
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
});
afterEach(() => ollama.setMode('normal'));

describe('a group of three personas', () => {
  it('talks until nobody wants to continue, each turn reaching the subscriber exactly once, analytics matching the transcript', async () => {
    numberedReplies();
    const feed = new Feed(await server.connect());
    const ids = [
      await createTiredPersona(feed, 'Ash', { maps: 80 }),
      await createTiredPersona(feed, 'Birch', { maps: 60 }),
      await createTiredPersona(feed, 'Cedar', { stars: 70 }),
    ];
    const bystander = await server.connect();
    const started = await feed.call('conversation.start', { personas: ids, topic: 'old maps', max_turns: 40, subscribe: true });
    expect(started).toMatchObject({ participants: ids, kind: 'personas', topic: 'old maps' });

    await feed.until((notifications) => notifications.some((frame) => frame.method === 'conversation.ended'));
    const ended = feed.ended();
    expect(['nobody_wants_to_continue', 'nobody_available']).toContain(ended.reason);

    const history = await feed.call('conversation.history', { conversation_id: started.conversation_id, limit: 500 });
    const turns = feed.turns();
    expect(turns.length).toBeGreaterThanOrEqual(3);
    expect(turns.length).toBeLessThan(40);
    expect(turns.map((message) => message.id)).toEqual(history.messages.map((message: { id: number }) => message.id));
    expect(new Set(turns.map((message) => message.id)).size).toBe(turns.length);
    expect(new Set(turns.map((message) => message.persona_id))).toEqual(new Set(ids));
    // nobody speaks twice in a row
    for (let i = 1; i < turns.length; i++) expect(turns[i].persona_id).not.toBe(turns[i - 1].persona_id);
    // a connection that did not subscribe got nothing
    expect(await bystander.quietFor(50)).toBe(true);

    const analytics = await feed.call('conversation.analytics', { conversation_id: started.conversation_id });
    expect(analytics.totals).toMatchObject({ messages: turns.length, turns: turns.length, user_messages: 0 });
    expect(analytics.totals.tokens).toBe(history.messages.reduce((sum: number, message: { tokens: number }) => sum + message.tokens, 0));
    for (const id of ids) {
      const spoken = turns.filter((message) => message.persona_id === id).length;
      expect(analytics.speakers.find((speaker: { speaker: string }) => speaker.speaker === id)?.messages ?? 0).toBe(spoken);
    }
    expect(analytics.relationship_changes.length).toBe(2 * (turns.length - 1));
    expect(analytics.mood_changes.length).toBe(2 * (turns.length - 1));
    const status = await feed.call('conversation.group_status', { conversation_id: started.conversation_id });
    expect(status).toMatchObject({ status: 'finished', status_reason: ended.reason });

    // relationships formed between those who answered each other
    const pair = await feed.call('relationship.get', { persona1_id: turns[1].persona_id, persona2_id: turns[0].persona_id });
    expect(pair.exists).toBe(true);
  });

  it('stops at the turn cap; a later subscriber gets exactly the turns after last_message_id, the same frames as the first', async () => {
    numberedReplies();
    const feed = new Feed(await server.connect());
    const late = new Feed(await server.connect());
    const started = await feed.call('conversation.start', {
      persona1_id: 'aria',
      persona2_id: 'kira',
      topic: 'songs of magic',
      max_turns: 5,
      subscribe: true,
    });
    const subscribed = await late.call('conversation.subscribe', { conversation_id: started.conversation_id });
    await feed.until((notifications) => notifications.some((frame) => frame.method === 'conversation.ended'));
    expect(feed.ended()).toEqual({ conversation_id: started.conversation_id, reason: 'turn_cap' });
    expect(feed.turns()).toHaveLength(5);
    await late.until((notifications) => notifications.some((frame) => frame.method === 'conversation.ended'));
    expect(late.turns()).toEqual(feed.turns().filter((message) => message.id > subscribed.last_message_id));
  });
});

describe('the user in a group', () => {
  it('refuses persona.chat into a group conversation, pointing to conversation.interject', async () => {
    const client = await server.connect();
    const started = await client.result('conversation.start', { personas: ['aria', 'kira'], topic: 'maps', auto_run: false });
    const frame = await client.call('persona.chat', { message: 'hello all', conversation_id: started.conversation_id });
    expect(frame.error.code).toBe(-32040);
    expect(frame.error.message).toContain('conversation.interject');
  });

  it('interjects mid-conversation; the persona addressed answers first, and every later turn heard it', async () => {
    const spoken = 'Kira, what do you make of ancient maps?';
    // each reply is numbered and remembers whether its request had heard the interjection
    const heardByReply = new Map<string, boolean>();
    let line = 0;
    ollama.setReply((body) => {
      const text = `${speakerOf(body)} line ${++line}`;
      heardByReply.set(text, body.messages?.some((message) => message.content === `The visitor: ${spoken}`) ?? false);
      return text;
    });
    ollama.setMode('slow');
    ollama.chunkDelayMs = 5;
    const feed = new Feed(await server.connect());
    const started = await feed.call('conversation.start', { personas: ['aria', 'kira'], topic: 'travel', max_turns: 6, subscribe: true });
    await feed.until(() => feed.turns().length >= 1);
    const interjection = await feed.call('conversation.interject', {
      conversation_id: started.conversation_id,
      message: 'Kira, what do you make of ancient maps?',
    });
    expect(interjection.message).toMatchObject({ role: 'user', persona_id: null, content: 'Kira, what do you make of ancient maps?' });

    const heardIt = (): FakeChatBody[] =>
      personaRequests().filter((body) =>
        body.messages!.some((message) => message.content === 'The visitor: Kira, what do you make of ancient maps?'),
      );
    // a turn still being generated when the user spoke is dropped; Kira, addressed, answers first
    const after = (): any[] => feed.turns().filter((message) => message.id > interjection.message.id);
    await feed.until(() => after().length >= 1 || feed.ended() !== undefined);
    const turns = feed.turns();
    expect(turns.filter((message) => message.id === interjection.message.id)).toHaveLength(1);
    expect(after()[0]).toMatchObject({ role: 'assistant', persona_id: 'kira' });
    expect(heardIt().some((body) => speakerOf(body) === 'Kira')).toBe(true);
    // nothing stored after the interjection was generated without hearing it
    for (const message of after()) expect(heardByReply.get(message.content)).toBe(true);
    await feed.call('conversation.end', { conversation_id: started.conversation_id, reason: 'done listening' });
    await feed.until((notifications) => notifications.some((frame) => frame.method === 'conversation.ended'));
    expect(feed.ended().reason).toBe('done listening');
    const rejected = feed.client;
    rejected.send({
      jsonrpc: '2.0',
      id: 'late',
      method: 'conversation.interject',
      params: { conversation_id: started.conversation_id, message: 'hello?' },
    });
    expect((await rejected.next()).error.code).toBe(-32003);
  });

  it('is answered first by the persona addressed when nothing was in flight', async () => {
    numberedReplies();
    const feed = new Feed(await server.connect());
    const started = await feed.call('conversation.start', {
      personas: ['aria', 'kira'],
      topic: 'travel',
      max_turns: 1,
      auto_run: false,
      subscribe: true,
    });
    await feed.call('conversation.interject', { conversation_id: started.conversation_id, message: 'Kira, which road should I take?' });
    await feed.until((notifications) => notifications.some((frame) => frame.method === 'conversation.ended'));
    expect(feed.turns().map((message) => [message.role, message.persona_id])).toEqual([
      ['user', null],
      ['assistant', 'kira'],
    ]);
  });

  it('lets a persona join later: it never hears what was said before', async () => {
    numberedReplies();
    const feed = new Feed(await server.connect());
    const started = await feed.call('conversation.start', {
      personas: ['aria', 'kira'],
      topic: 'the harbour',
      max_turns: 4,
      auto_run: false,
      subscribe: true,
    });
    await feed.call('conversation.interject', {
      conversation_id: started.conversation_id,
      message: 'A secret: the key is under the third stone.',
    });
    await feed.until(() => feed.turns().filter((message) => message.role === 'assistant').length >= 1);
    const newcomer = await feed.call('persona.create', {
      name: 'Latecomer',
      description: 'arrives late',
      topic_preferences: { harbour: 90 },
    });
    const joined = await feed.call('conversation.join', { conversation_id: started.conversation_id, persona_id: newcomer.id });
    expect(joined.members.find((member: { persona_id: string }) => member.persona_id === newcomer.id)).toMatchObject({ present: true });
    await feed.until((notifications) => notifications.some((frame) => frame.method === 'conversation.ended'));

    // each keeps its own memory of the conversation: the latecomer's holds nothing it did not witness
    const memories = await feed.call('memory.list', { persona_id: newcomer.id });
    const own = memories.memories.filter((memory: { content: string }) =>
      memory.content.startsWith('A group conversation about the harbour'),
    );
    expect(own).toHaveLength(1);
    expect(own[0].content).not.toContain('third stone');
    const ariaMemories = await feed.call('memory.list', { persona_id: 'aria' });
    expect(
      ariaMemories.memories.some(
        (memory: { content: string }) =>
          memory.content.startsWith('A group conversation about the harbour') && memory.content.includes('third stone'),
      ),
    ).toBe(true);

    const latecomer = personaRequests().filter((body) => speakerOf(body) === 'Latecomer');
    expect(latecomer.length).toBeGreaterThanOrEqual(1);
    for (const body of latecomer) expect(JSON.stringify(body.messages)).not.toContain('third stone');
    const others = personaRequests().filter(
      (body) => speakerOf(body) !== 'Latecomer' && JSON.stringify(body.messages).includes('the harbour'),
    );
    expect(others.some((body) => JSON.stringify(body.messages).includes('third stone'))).toBe(true);
  });

  it('refuses subscriptions over a transport that cannot push, and to conversations of others', async () => {
    const feed = new Feed(await server.connect());
    const other = new Feed(await server.connect());
    const started = await feed.call('conversation.start', { personas: ['aria', 'kira'], auto_run: false });
    const subscribed = await other.call('conversation.subscribe', { conversation_id: started.conversation_id });
    // sessions of the same (anonymous local) user may follow each other's conversations
    expect(subscribed).toMatchObject({ subscribed: true, already_subscribed: false, status: 'active' });
    expect(await other.call('conversation.subscribe', { conversation_id: started.conversation_id })).toMatchObject({
      already_subscribed: true,
    });
    expect(await other.call('conversation.unsubscribe', { conversation_id: started.conversation_id })).toEqual({
      conversation_id: started.conversation_id,
      unsubscribed: true,
    });
    const mcpLike = server.server.engine;
    const reply = await mcpLike.handleParsed(
      { jsonrpc: '2.0', id: 1, method: 'conversation.subscribe', params: { conversation_id: started.conversation_id } },
      () => ({
        session: { id: 'internal-session', userId: null },
        requestId: 1,
        signal: new AbortController().signal,
        transport: 'internal',
        logger: server.server.logger,
        notify: () => undefined,
        sendPartialResult: () => undefined,
        attachSession: () => undefined,
      }),
    );
    expect((reply as { error: { message: string } }).error.message).toMatch(/WebSocket/);
  });
});

describe('a running group across a restart', () => {
  it('resumes where it stopped and keeps moods and relationships', async () => {
    numberedReplies();
    ollama.setMode('slow');
    ollama.chunkDelayMs = 10;
    const dataDir = makeDataDir();
    try {
      let running = await startTestServer({ ollamaUrl: ollama.url, dataDir, flags: { 'social.groupTurnDelayMs': 0 } });
      let feed = new Feed(await running.connect('?session_id=restart-session-1'));
      const started = await feed.call('conversation.start', { personas: ['aria', 'kira'], topic: 'music', max_turns: 4, subscribe: true });
      await feed.until(() => feed.turns().length >= 1);
      await running.stop();

      running = await startTestServer({ ollamaUrl: ollama.url, dataDir, flags: { 'social.groupTurnDelayMs': 0 } });
      feed = new Feed(await running.connect('?session_id=restart-session-1'));
      const resubscribed = await feed.call('conversation.subscribe', { conversation_id: started.conversation_id });
      if (resubscribed.status === 'active')
        await feed.until((notifications) => notifications.some((frame) => frame.method === 'conversation.ended'));
      const history = await feed.call('conversation.history', { conversation_id: started.conversation_id });
      expect(history.messages.filter((message: { role: string }) => message.role === 'assistant')).toHaveLength(4);
      const status = await feed.call('conversation.group_status', { conversation_id: started.conversation_id });
      expect(status).toMatchObject({ status: 'finished', status_reason: 'turn_cap' });
      const relationship = await feed.call('relationship.get', { persona1_id: 'kira', persona2_id: 'aria' });
      expect(relationship.relationship.interaction_count).toBe(3);
      await running.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
