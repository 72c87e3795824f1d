/** Chat turns end to end: real server, real SQLite, the fake Ollama over HTTP. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/ws-client.js';

let ollama: FakeOllama;
let server: TestServer;

beforeAll(async () => {
  ollama = await startFakeOllama();
  server = await startTestServer({ ollamaUrl: ollama.url, flags: { 'llm.timeoutMs': 1500, 'llm.firstTokenTimeoutMs': 1000 } });
});
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
});
afterEach(() => {
  ollama.setMode('normal');
  ollama.setReply((body) => `${body.messages?.[0]?.content.match(/You are (\w+)/)?.[1] ?? 'Someone'} hears you: ${body.messages?.at(-1)?.content}`);
});

async function chatter(persona = 'aria'): Promise<TestClient> {
  const client = await server.connect();
  await client.result('persona.switch', { persona_id: persona });
  return client;
}

describe('persona.chat', () => {
  it('answers with the reply and the old server fields, and stores both messages', async () => {
    const client = await chatter('aria');
    const result = await client.result('persona.chat', { message: 'Sing me a song about the sea' });
    expect(result.response).toBe('Aria hears you: Sing me a song about the sea');
    expect(result).toMatchObject({ response_type: 'chat', persona_id: 'aria', model: 'llama3.1:8b' });
    expect(result.continue_score).toBeGreaterThanOrEqual(0);
    expect(result.continue_score).toBeLessThanOrEqual(100);
    expect(result.tokens_used).toBeGreaterThan(0);
    expect(result.processing_time).toBeGreaterThanOrEqual(0);
    expect(result.persona_state.social_energy).toBeLessThan(150);
    expect(result.persona_state.interaction_fatigue).toBeGreaterThan(0);

    const history = await client.result('conversation.history', { persona_id: 'aria' });
    expect(history.messages.map((message: { role: string; content: string }) => [message.role, message.content])).toEqual([
      ['user', 'Sing me a song about the sea'],
      ['assistant', 'Aria hears you: Sing me a song about the sea'],
    ]);
  });

  it('sends the persona system prompt, the history and token_budget as num_predict', async () => {
    const client = await chatter('kira');
    await client.result('persona.chat', { message: 'What is the oldest book you know?' });
    await client.result('persona.chat', { message: 'And who wrote it?', token_budget: 123 });
    // That turn's chat request (background memory work may call the model after it, while it generates).
    const request = ollama.requests.filter((candidate) => candidate.body.messages?.some((message) => message.content === 'And who wrote it?')).at(-1)!.body;
    expect(request.model).toBe('llama3.1:8b');
    expect(request.options).toMatchObject({ num_predict: 123, num_ctx: 4096 });
    const messages = request.messages!;
    expect(messages[0]!.role).toBe('system');
    expect(messages[0]!.content).toContain('Kira');
    expect(messages.slice(1).map((message) => message.content)).toEqual([
      'What is the oldest book you know?',
      'Kira hears you: What is the oldest book you know?',
      'And who wrote it?',
    ]);
  });

  it('keeps each persona its own conversation across switches', async () => {
    const client = await chatter('aria');
    await client.result('persona.chat', { message: 'My name is Sam.' });
    await client.result('persona.switch', { persona_id: 'kira' });
    await client.result('persona.chat', { message: 'Tell me about stars.' });
    const back = await client.result('persona.switch', { persona_id: 'aria' });
    expect(back.conversation_id).toMatch(/^conv_/);
    await client.result('persona.chat', { message: 'Do you remember me?' });
    const sent = ollama.chatAbout('Do you remember me?').body.messages!.map((message) => message.content);
    expect(sent).toContain('My name is Sam.');
    expect(sent).not.toContain('Tell me about stars.');
  });

  it('talks to a persona named in the request without switching', async () => {
    const client = await server.connect();
    const result = await client.result('persona.chat', { message: 'hi', persona_id: 'Kira' });
    expect(result.response).toBe('Kira hears you: hi');
  });

  it('answers -32002 when no persona is active', async () => {
    const client = await server.connect();
    const frame = await client.call('persona.chat', { message: 'hello?' });
    expect(frame.error.code).toBe(-32002);
    expect(frame.error.message).toContain('persona.switch');
  });

  it('refuses an over-long message and an empty one with limit_exceeded', async () => {
    const client = await chatter();
    expect((await client.call('persona.chat', { message: 'x'.repeat(16_001) })).error.code).toBe(-32022);
    expect((await client.call('persona.chat', { message: '   ' })).error.code).toBe(-32022);
  });
});

describe('streaming', () => {
  it('sends persona.chat.chunk notifications before the final response when stream is true', async () => {
    const client = await chatter('aria');
    client.send({ jsonrpc: '2.0', id: 'req-1', method: 'persona.chat', params: { message: 'one two three', stream: true } });
    const frames: any[] = [];
    for (;;) {
      const frame = await client.next();
      frames.push(frame);
      if (frame.id === 'req-1') break;
    }
    const chunks = frames.slice(0, -1);
    // the fake's lines arrive together, and the lines of one read are one delta
    expect(chunks.length).toBeGreaterThan(0);
    for (const chunk of chunks) {
      expect(chunk).toMatchObject({ jsonrpc: '2.0', method: 'persona.chat.chunk', params: { request_id: 'req-1' } });
      expect(chunk).not.toHaveProperty('id');
    }
    expect(chunks.map((chunk) => chunk.params.delta).join('')).toBe(frames.at(-1).result.response);
  });

  it('sends exactly one frame for a plain request', async () => {
    const client = await chatter('aria');
    const frame = await client.call('persona.chat', { message: 'no streaming please' });
    expect(frame.result.response).toContain('no streaming please');
    expect(await client.quietFor(200)).toBe(true);
  });

  it('streams the legacy persona.chat_stream frames with the request id, and stores the turn', async () => {
    const client = await chatter('kira');
    client.send({ jsonrpc: '2.0', id: 77, method: 'persona.chat_stream', params: { message: 'legacy hello there', token_budget: 50 } });
    const frames: any[] = [];
    for (;;) {
      const frame = await client.next();
      frames.push(frame);
      if (frame.result.event_type !== 'stream_start' && frame.result.event_type !== 'stream_chunk') break;
    }
    for (const frame of frames) {
      expect(frame.id).toBe(77);
      expect(frame.result.stream_id).toBe(frames[0].result.stream_id);
      expect(typeof frame.result.timestamp).toBe('string');
    }
    expect(frames[0].result).toMatchObject({ event_type: 'stream_start', data: { persona_id: 'kira', persona_name: 'Kira', message: 'legacy hello there', token_budget: 50 } });
    const chunks = frames.filter((frame) => frame.result.event_type === 'stream_chunk');
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks[0].result.chunk).toBe(chunks[0].result.data.chunk);
    expect(chunks.map((frame) => frame.result.data.chunk_number)).toEqual(chunks.map((_, index) => index + 1));
    const complete = frames.at(-1).result;
    expect(complete).toMatchObject({ event_type: 'stream_complete', full_response: 'Kira hears you: legacy hello there', persona_name: 'Kira', chunk_count: chunks.length });
    expect(complete.data.full_response).toBe(complete.full_response);

    const history = await client.result('conversation.history', { persona_id: 'kira' });
    expect(history.messages.at(-1).content).toBe('Kira hears you: legacy hello there');
  });

  it('ends a legacy stream with stream_error when the LLM fails', async () => {
    const client = await chatter('aria');
    ollama.setMode('fail');
    client.send({ jsonrpc: '2.0', id: 78, method: 'persona.chat_stream', params: { message: 'will fail' } });
    expect((await client.next()).result.event_type).toBe('stream_start');
    const last = await client.next();
    expect(last).toMatchObject({ id: 78, result: { event_type: 'stream_error', error: { code: -32014 } } });
  });
});

describe('LLM failures', () => {
  it('answers llm_unavailable when Ollama is down, keeping the user message', async () => {
    const downServer = await startTestServer({ ollamaUrl: 'http://127.0.0.1:1' });
    try {
      const client = await downServer.connect();
      await client.result('persona.switch', { persona_id: 'aria' });
      const frame = await client.call('persona.chat', { message: 'Are you there?' });
      expect(frame.error.code).toBe(-32010);
      expect(frame.error.message).toContain('ollama serve');
      const history = await client.result('conversation.history', { persona_id: 'aria' });
      expect(history.messages.map((message: { content: string }) => message.content)).toEqual(['Are you there?']);
      const status = await client.result('system.status');
      expect(status.ollama_status).toBe('unavailable');
      expect(status.status).toBe('degraded');
    } finally {
      await downServer.cleanup();
    }
  });

  it('names the ollama pull command when the model is missing', async () => {
    const client = await chatter('aria');
    await client.result('persona.update', { persona_id: 'aria', model: 'mistral:7b' });
    try {
      const frame = await client.call('persona.chat', { message: 'hello' });
      expect(frame.error.code).toBe(-32011);
      expect(frame.error.message).toContain('ollama pull mistral:7b');
    } finally {
      await client.result('persona.update', { persona_id: 'aria', model: null });
    }
  });

  it('answers llm_timeout when Ollama hangs', async () => {
    const client = await chatter('aria');
    ollama.setMode('hang');
    const frame = await client.call('persona.chat', { message: 'hello?' });
    expect(frame.error.code).toBe(-32012);
  });

  it('answers llm_failed when the stream breaks off', async () => {
    const client = await chatter('aria');
    ollama.setMode('break');
    const frame = await client.call('persona.chat', { message: 'break please' });
    expect(frame.error.code).toBe(-32014);
  });

  it('aborts the generation when the client disconnects mid-turn', async () => {
    const client = await chatter('aria');
    ollama.setMode('slow');
    ollama.chunkDelayMs = 50;
    ollama.setReply('a very long reply that takes a while to stream word by word');
    const aborted = ollama.abortedStreams;
    client.send({ jsonrpc: '2.0', id: 1, method: 'persona.chat', params: { message: 'talk slowly' } });
    await ollama.waitForTurn('talk slowly');
    await client.close();
    await ollama.waitForDisconnect(aborted + 1);
    expect(ollama.abortedStreams).toBe(aborted + 1);
  });
});
