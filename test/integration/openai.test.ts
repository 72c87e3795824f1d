/**
 * The OpenAI-compatible endpoint as front-ends use it: the official `openai` client against the real
 * server (API keys required) and the fake Ollama.
 */
import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let ollama: FakeOllama;
let server: TestServer;
let alice: OpenAI;
let aliceKey: string;
let bobKey: string;

const client = (apiKey: string, extra: Partial<ConstructorParameters<typeof OpenAI>[0]> = {}): OpenAI =>
  new OpenAI({ apiKey, baseURL: `${server.server.httpUrl}/v1`, maxRetries: 0, ...extra });

/** The messages of a stored conversation, oldest first. */
async function stored(conversationId: string): Promise<Array<{ role: string; content: string }>> {
  const messages = await server.server.store.recentMessages(conversationId, 100);
  return messages.map((message) => ({ role: message.role, content: message.content }));
}

beforeAll(async () => {
  ollama = await startFakeOllama();
  server = await startTestServer({ ollamaUrl: ollama.url, flags: { 'auth.mode': 'required' } });
  aliceKey = (await server.server.auth.createKey({ name: 'Alice' })).key;
  bobKey = (await server.server.auth.createKey({ name: 'Bob' })).key;
  alice = client(aliceKey);
});
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
});

describe('GET /v1/models', () => {
  it('lists the personas as models with owned_by, created and our extras', async () => {
    const models = [];
    for await (const model of alice.models.list()) models.push(model);
    expect(models.map((model) => model.id).sort()).toEqual(['aria', 'kira']);
    const aria = models.find((model) => model.id === 'aria') as unknown as Record<string, unknown>;
    expect(aria).toMatchObject({ object: 'model', owned_by: 'persona-mcp', name: 'Aria', llm_model: 'llama3.1:8b' });
    expect(aria.created).toBeGreaterThan(1_600_000_000);
    expect((await alice.models.retrieve('Kira')).id).toBe('kira');
  });
});

describe('POST /v1/chat/completions', () => {
  it('streams a reply from Aria through the chat turn: her prompt, stored messages, usage', async () => {
    const stream = await alice.chat.completions.create({
      model: 'aria',
      messages: [{ role: 'system', content: "The front-end's own prompt" }, { role: 'user', content: 'Hello Aria, sing me something' }],
      stream: true,
      stream_options: { include_usage: true },
      user: 'stream-test',
    });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    let chunks = 0;
    for await (const part of stream) {
      chunks += 1;
      text += part.choices[0]?.delta.content ?? '';
      finish = part.choices[0]?.finish_reason ?? finish;
      usage = part.usage ?? usage;
    }
    expect(text).toBe('Aria hears you: Hello Aria, sing me something');
    // at least one delta between the opening and closing chunks (the fake's lines arrive together: one delta)
    expect(chunks).toBeGreaterThan(2);
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBeGreaterThan(0);
    // The persona's own system prompt went to the model, not the front-end's.
    const sent = ollama.turnFor('Hello Aria, sing me something').body.messages ?? [];
    expect(sent[0]?.content).toContain('Aria');
    expect(JSON.stringify(sent)).not.toContain("The front-end's own prompt");
  });

  it('stores only the new message when a front-end resends the whole history, and replays a regenerate', async () => {
    const first = await alice.chat.completions.create({ model: 'kira', messages: [{ role: 'user', content: 'What are you reading?' }], user: 'history-test' });
    const firstReply = first.choices[0]!.message.content!;
    const conversationId = (first as unknown as { conversation_id: string }).conversation_id;
    const history: OpenAI.ChatCompletionMessageParam[] = [
      { role: 'user', content: 'What are you reading?' },
      { role: 'assistant', content: firstReply },
      { role: 'user', content: 'Tell me more' },
    ];
    const second = await alice.chat.completions.create({ model: 'kira', messages: history, user: 'history-test' });
    expect(second.choices[0]!.message.content).toBe('Kira hears you: Tell me more');
    expect((second as unknown as { conversation_id: string }).conversation_id).toBe(conversationId);
    // The model saw the earlier turn from our history.
    expect(JSON.stringify(ollama.turnFor('Tell me more').body.messages)).toContain('What are you reading?');

    const regenerated = await alice.chat.completions.create({ model: 'kira', messages: history, user: 'history-test' });
    expect(regenerated.choices[0]!.message.content).toBe('Kira hears you: Tell me more');
    expect(await stored(conversationId)).toEqual([
      { role: 'user', content: 'What are you reading?' },
      { role: 'assistant', content: firstReply },
      { role: 'user', content: 'Tell me more' },
      { role: 'assistant', content: 'Kira hears you: Tell me more' },
    ]);

    // Without an assistant message it is a new chat: a new conversation, the old one ended.
    const fresh = await alice.chat.completions.create({ model: 'kira', messages: [{ role: 'user', content: 'Hi again' }], user: 'history-test' });
    const freshId = (fresh as unknown as { conversation_id: string }).conversation_id;
    expect(freshId).not.toBe(conversationId);
    expect((await server.server.store.getConversation(conversationId))?.status).toBe('ended');
  });

  it('gives each `user` its own session, and keeps users of other keys out of it', async () => {
    const one = await alice.chat.completions.create({ model: 'aria', messages: [{ role: 'user', content: 'one' }], user: 'ann' });
    const two = await alice.chat.completions.create({ model: 'aria', messages: [{ role: 'user', content: 'two' }], user: 'ben' });
    const sessionOf = (completion: unknown): string => (completion as { session_id: string }).session_id;
    expect(sessionOf(one)).not.toBe(sessionOf(two));
    expect((await server.server.store.getSession(sessionOf(one)))?.userId).not.toBeNull();

    const bob = client(bobKey, { defaultHeaders: { 'x-session-id': sessionOf(one) } });
    const refused = await bob.chat.completions.create({ model: 'aria', messages: [{ role: 'user', content: 'let me in' }] }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(APIError);
    expect((refused as APIError).status).toBe(403);
  });

  it('answers OpenAI-style errors: no key 401, unknown persona 404, bad body 400, foreign origin 403', async () => {
    const noKey = await client('not-a-key').models.list().catch((error: unknown) => error);
    expect((noKey as APIError).status).toBe(401);

    const unknown = await alice.chat.completions.create({ model: 'nobody', messages: [{ role: 'user', content: 'hi' }] }).catch((error: unknown) => error);
    expect(unknown).toMatchObject({ status: 404, code: 'model_not_found', param: 'model' });

    const url = `${server.server.httpUrl}/v1/chat/completions`;
    const headers = { authorization: `Bearer ${aliceKey}`, 'content-type': 'application/json' };
    const badJson = await fetch(url, { method: 'POST', headers, body: '{nope' });
    expect(badJson.status).toBe(400);
    expect(((await badJson.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    const noMessages = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ model: 'aria', messages: [] }) });
    expect(noMessages.status).toBe(400);
    const lastIsAssistant = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ model: 'aria', messages: [{ role: 'assistant', content: 'hi' }] }) });
    expect(((await lastIsAssistant.json()) as { error: { param: string } }).error.param).toBe('messages');
    const huge = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ model: 'aria', messages: [{ role: 'user', content: 'x'.repeat(2_000_000) }] }) });
    expect(huge.status).toBe(413);

    const badSession = await fetch(url, { method: 'POST', headers: { ...headers, 'x-session-id': '../etc' }, body: JSON.stringify({ model: 'aria', messages: [{ role: 'user', content: 'hi' }] }) });
    expect(badSession.status).toBe(400);

    const foreign = await fetch(`${server.server.httpUrl}/v1/models`, { headers: { ...headers, origin: 'https://evil.example' } });
    expect(foreign.status).toBe(403);
  });

  it('lets max_tokens shorten a reply below the default budget, never lengthen it', async () => {
    const big = await alice.chat.completions.create({ model: 'aria', max_tokens: 1_000_000, messages: [{ role: 'user', content: 'a long answer' }], user: 'cap-test' });
    expect(big.choices[0]!.message.content).toBe('Aria hears you: a long answer');
    expect(ollama.turnFor('a long answer').body.options?.num_predict).toBe(server.server.config.chat.defaultTokenBudget);
    await alice.chat.completions.create({ model: 'aria', max_completion_tokens: 50, messages: [{ role: 'user', content: 'brief' }], user: 'cap-test' });
    expect(ollama.turnFor('brief').body.options?.num_predict).toBe(50);
  });

  it('answers 503 with what to do when Ollama is down, streaming or not', async () => {
    const down = await startTestServer({ ollamaUrl: 'http://127.0.0.1:9' });
    try {
      const key = (await down.server.auth.createKey({ name: 'Local' })).key;
      const local = new OpenAI({ apiKey: key, baseURL: `${down.server.httpUrl}/v1`, maxRetries: 0 });
      const plain = await local.chat.completions.create({ model: 'aria', messages: [{ role: 'user', content: 'hi' }] }).catch((error: unknown) => error);
      expect(plain).toMatchObject({ status: 503, code: 'llm_unavailable' });
      // Said once: the remedy is in the message, the table's general advice in `hint`.
      expect((plain as APIError).message.match(/ollama serve/g)).toHaveLength(1);
      expect((plain as APIError).error).toMatchObject({ hint: expect.stringContaining('persona-mcp doctor') });
      const streamed = await local.chat.completions.create({ model: 'aria', messages: [{ role: 'user', content: 'hi' }], stream: true }).catch((error: unknown) => error);
      expect(streamed).toMatchObject({ status: 503 });
    } finally {
      await down.cleanup();
    }
  });
});
