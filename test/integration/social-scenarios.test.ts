/**
 * Social dynamics as a user meets them (issue 14): scripted user turns over a real WebSocket against the
 * fake Ollama. A branch holds until the user returns; fatigue clears with rest; the persona addressed
 * answers first; every participant's prompt carries the topic and the scene.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/ws-client.js';

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
