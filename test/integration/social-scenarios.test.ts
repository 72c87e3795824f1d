/**
 * Social dynamics as a user meets them (issue 14): scripted user turns over a real WebSocket against the
 * fake Ollama. A branch holds until the user returns; fatigue clears with rest; the persona addressed
 * answers first; every participant's prompt carries the topic and the scene.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/app/app.js';
import { silentLogger } from '../../src/logger.js';
import { echoReply, startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { makeDataDir, startTestServer, testConfig, type TestServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

let ollama: FakeOllama;
let server: TestServer;

beforeAll(async () => {
  ollama = await startFakeOllama();
  server = await startTestServer({ ollamaUrl: ollama.url, flags: { 'social.groupTurnDelayMs': 0 } });
});
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
});

interface WireThread {
  thread_id: number;
  label: string;
  is_branch: boolean;
  is_current: boolean;
  message_count: number;
}

/** One user talking with one persona in one conversation: each step is what a user would send. */
class ChatScript {
  conversationId = '';
  constructor(
    readonly client: TestClient,
    readonly personaId: string,
  ) {}

  async say(message: string): Promise<any> {
    const reply = await this.client.result('persona.chat', {
      persona_id: this.personaId,
      message,
      ...(this.conversationId ? { conversation_id: this.conversationId } : {}),
    });
    this.conversationId = reply.conversation_id;
    return reply;
  }

  branch(params: Record<string, unknown>): Promise<any> {
    return this.client.result('conversation.branch', { conversation_id: this.conversationId, ...params });
  }

  async threads(): Promise<{ current: WireThread; all: WireThread[] }> {
    const listed = await this.client.result('conversation.threads', { conversation_id: this.conversationId });
    const current = listed.threads.find((thread: WireThread) => thread.is_current);
    return { current, all: listed.threads };
  }
}

describe('a branch the user makes', () => {
  it('takes the next messages until the user returns, by a clear return or by conversation.branch back', async () => {
    const client = await server.connect();
    const persona = await client.result('persona.create', {
      name: 'Fern',
      description: 'a gardener and reader',
      topic_preferences: { books: 70 },
    });
    const chat = new ChatScript(client, persona.id);

    await chat.say('Tell me about the ancient libraries of the elves');
    const libraries = (await chat.threads()).current;
    const gardening = await chat.branch({ label: 'gardening' });
    expect(gardening).toMatchObject({ label: 'gardening', is_branch: true, returned: false });

    // the check: two messages after the branch are both in it, and it stays current
    await chat.say('I grow tomatoes in my garden.');
    await chat.say('Do you know good recipes for mushroom soup with garlic?');
    let threads = await chat.threads();
    expect(threads.current).toMatchObject({ thread_id: gardening.thread_id, label: 'gardening', is_branch: true });
    // two user messages and the two replies; no detected thread was split off
    expect(threads.current.message_count).toBe(4);
    expect(threads.all).toHaveLength(2);

    // a clear return: "back to" and the elves take the talk to the first thread
    await chat.say('Back to the elves: were their libraries ancient?');
    threads = await chat.threads();
    expect(threads.current.thread_id).toBe(libraries.thread_id);
    expect(threads.all).toHaveLength(2);

    // going back explicitly, by id: the branch holds again
    const again = await chat.branch({ thread_id: gardening.thread_id });
    expect(again).toMatchObject({ thread_id: gardening.thread_id, label: 'gardening', returned: true });
    await chat.say('What grows well next to tomatoes, and when should I plant beans?');
    threads = await chat.threads();
    expect(threads.current).toMatchObject({ thread_id: gardening.thread_id, message_count: 6 });

    // and back to where the branch was opened from
    const back = await chat.branch({ back: true });
    expect(back).toMatchObject({ thread_id: libraries.thread_id, returned: true, is_branch: false });
    expect((await chat.threads()).current.thread_id).toBe(libraries.thread_id);
  });

  it('a reply still being generated when the user branches stays with the message it answers', async () => {
    const client = await server.connect();
    const chat = new ChatScript(client, 'aria');
    await chat.say('Tell me about the ancient libraries of the elves and their old songs');
    ollama.chunkDelayMs = 30;
    ollama.setMode('slow');
    try {
      const inFlight = chat.say('Which elven library held the oldest songs of the elves?');
      await ollama.waitForTurn('Which elven library held the oldest songs of the elves?');
      // the same user, from a second connection (one connection answers its requests in order)
      const second = await server.connect();
      const gardening = await second.result('conversation.branch', { conversation_id: chat.conversationId, label: 'gardening' });
      await inFlight;
      let threads = await chat.threads();
      expect(threads.current).toMatchObject({ thread_id: gardening.thread_id, message_count: 0 });
      expect(threads.all.find((thread) => thread.thread_id !== gardening.thread_id)?.message_count).toBe(4);
      await chat.say('I grow tomatoes in my garden.');
      threads = await chat.threads();
      expect(threads.current).toMatchObject({ thread_id: gardening.thread_id, message_count: 2 });
    } finally {
      ollama.setMode('normal');
    }
  });

  it('says clearly when there is nothing to go back to', async () => {
    const client = await server.connect();
    const chat = new ChatScript(client, 'aria');
    await chat.say('Tell me about the ancient libraries of the elves');
    const nothing = await client.call('conversation.branch', { conversation_id: chat.conversationId, back: true });
    expect(nothing.error).toMatchObject({ code: -32040 });
    expect(nothing.error.message).toContain('no earlier thread');
    const unknown = await client.call('conversation.branch', { conversation_id: chat.conversationId, thread_id: 999_999 });
    expect(unknown.error.message).toContain('has no thread 999999');
    const both = await client.call('conversation.branch', { conversation_id: chat.conversationId, thread_id: 1, back: true });
    expect(both.error.message).toContain('either back: true or thread_id');
  });
});

describe('fatigue over a day with Kira (a clock the test moves)', () => {
  it('thirty turns wear her out; restored, or rested a quarter of an hour, she greets a new conversation with "continue"', async () => {
    // Real time plus whatever the test adds: rate limits and timers keep working, rest takes no waiting.
    let offset = 0;
    const clock = { now: () => Date.now() + offset };
    const dataDir = makeDataDir();
    const running = await startServer(testConfig(dataDir, {}, ollama.url), { logger: silentLogger(), clock });
    const client = await TestClient.connect(running.websocketUrl);
    try {
      const state = async (): Promise<any> => (await client.result('emotional.get_state', { persona_id: 'kira' })).emotional_state;
      const chat = new ChatScript(client, 'kira');
      for (let turn = 1; turn <= 30; turn++) await chat.say(`What does the evidence say about experiment ${turn}?`);
      const worn = await state();
      expect(worn.interaction_fatigue).toBeGreaterThanOrEqual(0.95);
      expect(worn.energy_level).toBeLessThan(0.2);

      // the check: energy restored, a new conversation, "Hello Kira" → continue
      const restored = await client.result('emotional.update_state', { persona_id: 'kira', energy_level: 1 });
      expect(restored.updated_state).toMatchObject({ energy_level: 1, interaction_fatigue: 0 });
      const fresh = new ChatScript(client, 'kira');
      fresh.conversationId = (await client.result('conversation.start', { persona_id: 'kira' })).conversation_id;
      const hello = await fresh.say('Hello Kira');
      expect(hello.continue_decision).toBe('continue');
      expect(hello.continue_score).toBeGreaterThanOrEqual(60);

      // worn out again, without a rest: a new conversation keeps the fatigue (she is still tired) ...
      await client.result('emotional.update_state', { persona_id: 'kira', interaction_fatigue: 1 });
      const tired = new ChatScript(client, 'kira');
      tired.conversationId = (await client.result('conversation.start', { persona_id: 'kira' })).conversation_id;
      const tiredHello = await tired.say('Hello Kira');
      expect((await state()).interaction_fatigue).toBeGreaterThanOrEqual(0.95);
      // ... but at full energy she never ends it at the first message
      expect(tiredHello.continue_decision).not.toBe('end');

      // a quarter of an hour of rest: the next new conversation starts fresh (one turn's 0.05)
      offset += 15 * 60_000;
      expect((await state()).interaction_fatigue).toBeCloseTo(0.7, 1);
      const rested = new ChatScript(client, 'kira');
      rested.conversationId = (await client.result('conversation.start', { persona_id: 'kira' })).conversation_id;
      expect((await rested.say('Hello Kira')).continue_decision).toBe('continue');
      expect((await state()).interaction_fatigue).toBe(0.05);
    } finally {
      await client.close();
      await running.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('who answers in a group (direct address before continue scores)', () => {
  /** A server whose groups wait a minute between turns: each user line is answered before the next turn. */
  let patient: TestServer;
  beforeAll(async () => {
    patient = await startTestServer({ ollamaUrl: ollama.url, flags: { 'social.groupTurnDelayMs': 60_000 } });
  });
  afterAll(() => patient.cleanup());

  function speakerOf(body: { messages?: Array<{ content: string }> }): string {
    return /\bYou are ([A-Z][\w-]*)/.exec(body.messages?.[0]?.content ?? '')?.[1] ?? '?';
  }

  /**
   * Subscribed to one group, reading every frame in one place: `interject` and `nextTurn` resolve with the
   * persona turn that follows, `call` with a method's result.
   */
  async function openGroup(client: TestClient, personas: string[], topic: string, extra: Record<string, unknown> = {}) {
    let onTurn = null as ((message: any) => void) | null;
    const answers = new Map<string, (frame: any) => void>();
    let nextId = 0;
    const call = (method: string, params: Record<string, unknown>): Promise<any> => {
      const id = `group-${++nextId}`;
      const answered = new Promise<any>((resolve) => answers.set(id, resolve));
      client.send({ jsonrpc: '2.0', id, method, params });
      return answered.then((frame) => {
        if (frame.error) throw new Error(`${method}: ${JSON.stringify(frame.error)}`);
        return frame.result;
      });
    };
    const turnAfter = async (send: () => Promise<unknown>): Promise<any> => {
      const turn = new Promise((resolve) => (onTurn = resolve));
      await send();
      return turn;
    };
    let open = true;
    void (async () => {
      while (open) {
        const frame = await client.next(30_000).catch(() => null);
        if (frame === null) return;
        if (typeof frame.id === 'string' && answers.has(frame.id)) answers.get(frame.id)!(frame);
        else if (frame.method === 'conversation.turn' && frame.params.message.role === 'assistant') onTurn?.(frame.params.message);
      }
    })();
    let id = '';
    let started: any = null;
    await turnAfter(async () => {
      started = await call('conversation.start', { personas, topic, max_turns: 20, subscribe: true, ...extra });
      id = started.conversation_id;
    }); // the group opened with one turn and now waits a minute
    return {
      started,
      call,
      interject: (line: string) => turnAfter(() => call('conversation.interject', { conversation_id: id, message: line })),
      /** The next turn now, without waiting out the delay. */
      nextTurn: () => turnAfter(() => call('conversation.resume', { conversation_id: id })),
      end: async () => {
        await call('conversation.end', { conversation_id: id });
        open = false;
      },
    };
  }

  it('an interjection naming Bram is answered by Bram, though Kira wants to talk about research far more', async () => {
    const client = await patient.connect();
    const bram = await client.result('persona.create', {
      name: 'Bram',
      description: 'a quiet farmer',
      topic_preferences: { farming: 80, research: 5 },
    });
    const group = await openGroup(client, ['kira', 'aria', bram.id], 'research and magic');
    // Bram is low on energy and bored by research: his continue score says "end", Kira's says "continue"
    await group.call('emotional.update_state', { persona_id: bram.id, energy_level: 0.15 });
    const answer = await group.interject('Bram, what do you think of the research?');
    expect(answer.persona_id).toBe(bram.id);
    // he was asked to keep it brief and wrap up (his score alone would have kept him silent)
    const prompt = ollama.requests
      .map((request) => request.body)
      .filter((body) => speakerOf(body) === 'Bram')
      .at(-1);
    expect(prompt?.messages?.[0]?.content).toContain('You are starting to wind down');
    const next = await group.interject('And what about you, Aria? Kira, you too.');
    expect(next.persona_id).toBe('aria');
    // Kira was named too and has not answered yet: she is owed the next turn
    const owed = await group.nextTurn();
    expect(owed.persona_id).toBe('kira');
    await group.end();
  });

  it('the topic and the scene reach every persona, a late joiner too, while it hears only what it witnessed', async () => {
    const client = await patient.connect();
    const wick = await client.result('persona.create', { name: 'Wick', description: 'arrives late', topic_preferences: { books: 90 } });
    const group = await openGroup(client, ['aria', 'kira'], 'the sunken library', { context: 'A rainy night in the harbour tavern.' });
    // the topic is the topic; the scene comes back as context, not echoed as the topic
    expect(group.started).toMatchObject({ topic: 'the sunken library', context: 'A rainy night in the harbour tavern.' });
    await group.interject('Before anyone else arrives: the key is under the third stone.');
    await group.call('conversation.join', { conversation_id: group.started.conversation_id, persona_id: wick.id });
    const answer = await group.interject('Wick, welcome! What brings you here?');
    expect(answer.persona_id).toBe(wick.id);
    await group.nextTurn();
    await group.end();

    const requests = ollama.requests
      .map((request) => request.body)
      .filter((body) => JSON.stringify(body.messages).includes('the sunken library'));
    const bySpeaker = (name: string) => requests.filter((body) => speakerOf(body) === name);
    expect(bySpeaker('Wick').length).toBeGreaterThanOrEqual(1);
    expect(bySpeaker('Aria').length + bySpeaker('Kira').length).toBeGreaterThanOrEqual(3);
    for (const body of [...bySpeaker('Wick'), ...bySpeaker('Aria'), ...bySpeaker('Kira')]) {
      const system = body.messages![0]!.content;
      expect(system).toContain('The topic of this conversation: the sunken library');
      expect(system).toContain('A rainy night in the harbour tavern.');
    }
    // witnessed turns unchanged: the latecomer never heard the secret
    for (const body of bySpeaker('Wick')) expect(JSON.stringify(body.messages)).not.toContain('third stone');
    expect(
      bySpeaker('Aria')
        .concat(bySpeaker('Kira'))
        .some((body) => JSON.stringify(body.messages).includes('third stone')),
    ).toBe(true);
  });

  it("the user answering a persona's question gives the floor back to the one who asked", async () => {
    ollama.setReply((body) => (speakerOf(body) === 'Kira' ? 'Fascinating. Where did you find it?' : `${speakerOf(body)} nods.`));
    try {
      const client = await patient.connect();
      const group = await openGroup(client, ['aria', 'kira'], 'old maps');
      const asked = await group.interject('Kira, look at this map I found.');
      expect(asked).toMatchObject({ persona_id: 'kira', content: 'Fascinating. Where did you find it?' });
      // the answer names nobody; Aria spoke less recently and likes maps just as much, but Kira asked
      const answer = await group.interject('In the cellar of the old harbour archive.');
      expect(answer.persona_id).toBe('kira');
      await group.end();
    } finally {
      ollama.setReply(echoReply);
    }
  });
});

describe('what every participant is told', () => {
  it('conversation.start with one persona keeps context and topic apart', async () => {
    const client = await server.connect();
    const withContext = await client.result('conversation.start', { persona_id: 'aria', context: 'At the market, noon.' });
    expect(withContext).toMatchObject({ topic: null, context: 'At the market, noon.' });
    const withTopic = await client.result('conversation.start', { persona_id: 'aria', topic: 'songs of the sea', context: 'On a ship.' });
    expect(withTopic).toMatchObject({ topic: 'songs of the sea', context: 'On a ship.' });
    await client.result('persona.chat', { conversation_id: withTopic.conversation_id, message: 'Sing me something.' });
    const system = ollama.turnFor('Sing me something.').body.messages![0]!.content;
    expect(system).toContain('The topic of this conversation: songs of the sea');
    expect(system).toContain('On a ship.');
  });
});

describe('a group with a drained persona', () => {
  it('is refused when fewer than two could talk, saying who rests and how to restore them', async () => {
    const client = await server.connect();
    // one exchange costs Ash more than he has: he rests until a quarter is back (10 × 0.25 / 1 per minute)
    const ash = await client.result('persona.create', {
      name: 'Ash',
      description: 'tires at once',
      topic_preferences: { maps: 80 },
      social_energy: { max_energy: 10, available_time: 60, cost_per_turn: 20, recovery_per_minute: 1 },
    });
    await client.result('persona.chat', { persona_id: ash.id, message: 'Tell me about maps.' });
    const refused = await client.call('conversation.start', { personas: [ash.id, 'kira'], topic: 'maps' });
    expect(refused.error).toMatchObject({ code: -32040, data: { resting: [{ persona_id: ash.id }] } });
    expect(refused.error.data.resting[0].cooldown_remaining).toBeGreaterThan(140); // 150 s when asked at once
    expect(refused.error.message).toContain('Ash is resting (3 min left)');
    expect(refused.error.message).toContain('emotional.update_state');
    // two others can talk: the group starts; paused (auto_run: false) it is not checked
    const three = await client.result('conversation.start', { personas: [ash.id, 'kira', 'aria'], topic: 'maps', auto_run: false });
    expect(three.participants).toEqual([ash.id, 'kira', 'aria']);
    await client.result('emotional.update_state', { persona_id: ash.id, energy_level: 1 });
    const restored = await client.result('conversation.start', { personas: [ash.id, 'kira'], topic: 'maps', auto_run: false });
    expect(restored.kind).toBe('personas');
  });

  it('is refused when a persona is drained without a cooldown (the issue: one turn, then the group ended), at start and at resume', async () => {
    const client = await server.connect();
    const ember = await client.result('persona.create', { name: 'Ember', description: 'burns out', topic_preferences: { maps: 80 } });
    const paused = await client.result('conversation.start', { personas: [ember.id, 'kira'], topic: 'maps', auto_run: false });
    // 5 % of her energy: available, but below DRAINED_ENERGY_SHARE her continue decision is "end" whatever is said
    await client.result('emotional.update_state', { persona_id: ember.id, energy_level: 0.05 });
    const refused = await client.call('conversation.start', { personas: [ember.id, 'kira'], topic: 'maps' });
    expect(refused.error).toMatchObject({ code: -32040, data: { resting: [{ persona_id: ember.id, cooldown_remaining: 0, energy_level: 0.05 }] } });
    expect(refused.error.message).toContain('Ember is drained (5 % of its energy');
    expect(refused.error.data.resting[0].can_talk_in).toBeGreaterThan(0);
    // resuming a group that is not running is checked the same way, and nothing runs
    const resumed = await client.call('conversation.resume', { conversation_id: paused.conversation_id });
    expect(resumed.error).toMatchObject({ code: -32040 });
    expect((await client.result('conversation.group_status', { conversation_id: paused.conversation_id })).status).toBe('paused');
    // an interjection would wake it too: refused the same way, and the message is not stored
    const interjected = await client.call('conversation.interject', { conversation_id: paused.conversation_id, message: 'Ember, are you there?' });
    expect(interjected.error).toMatchObject({ code: -32040, data: { resting: [{ persona_id: ember.id }] } });
    expect(interjected.error.message).toContain('an admin (or the persona\'s owner');
    const history = await client.result('conversation.history', { conversation_id: paused.conversation_id });
    expect(history.messages.map((message: { content: string }) => message.content)).not.toContain('Ember, are you there?');
    expect((await client.result('conversation.group_status', { conversation_id: paused.conversation_id })).status).toBe('paused');
    await client.result('emotional.update_state', { persona_id: ember.id, energy_level: 1 });
    expect((await client.result('conversation.resume', { conversation_id: paused.conversation_id, turns: 1 })).status).not.toBe('finished');
    await client.result('conversation.end', { conversation_id: paused.conversation_id });
  });
});
