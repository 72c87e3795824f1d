import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LlmChatEvent, LlmChatRequest } from '../../ports/llm.js';
import { AppError } from '../../domain/errors.js';
import { closedPortUrl, collect, eventsOfTwoReads, failureOf, resetAfterRequestServer, textOf } from '../../../test/helpers/llm-events.js';
import { startFakeOpenAi, type FakeOpenAi } from '../../../test/fakes/fake-openai.js';
import { OpenAiProvider } from './openai-provider.js';

const request: LlmChatRequest = {
  model: 'qwen2.5-7b-instruct',
  messages: [
    { role: 'system', content: 'You are Kira, a sharp-witted engineer.' },
    { role: 'user', content: 'What are you building?' },
  ],
  maxTokens: 256,
  contextTokens: 4096,
  options: { temperature: 0.7, top_k: 40, num_ctx: 8192 },
};

describe('OpenAiProvider', () => {
  let server: FakeOpenAi;
  let provider: OpenAiProvider;

  beforeEach(async () => {
    server = await startFakeOpenAi({ chunkDelayMs: 5 });
    provider = new OpenAiProvider({ name: 'local', baseUrl: server.url, requestTimeoutMs: 5_000 });
  });
  afterEach(async () => {
    await server.close();
  });

  it('streams a reply as deltas, then done with the usage counts', async () => {
    const events = await collect(provider.chat(request, new AbortController().signal));

    expect(textOf(events)).toBe('Kira hears you: What are you building?');
    expect(events.filter((event) => event.type === 'delta').length).toBeGreaterThan(0);
    expect(events.at(-1)).toEqual({ type: 'done', promptTokens: 10, completionTokens: 7, model: 'qwen2.5-7b-instruct' });
  });

  it('passes the events of one read on as one delta, and an event read on its own at once', async () => {
    const event = (content: string | null, finish: string | null = null) =>
      `data: ${JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: finish }] })}\n\n`;
    const events = await eventsOfTwoReads('text/event-stream', event('Kira ') + event('hears '), event('you.') + event(null, 'stop') + 'data: [DONE]\n\n', (baseUrl) =>
      new OpenAiProvider({ name: 'local', baseUrl }).chat(request, new AbortController().signal),
    );

    expect(events).toEqual([
      { type: 'delta', text: 'Kira hears ' },
      { type: 'delta', text: 'you.' },
      { type: 'done', promptTokens: null, completionTokens: null, model: 'qwen2.5-7b-instruct' },
    ]);
  });

  it('sends max_tokens, asks for usage, maps known options and leaves out the ones it cannot use', async () => {
    await collect(provider.chat(request, new AbortController().signal));

    expect(server.requests[0]?.body).toMatchObject({
      model: 'qwen2.5-7b-instruct',
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 256,
      temperature: 0.7,
      top_k: 40,
    });
    expect(server.requests[0]?.body).not.toHaveProperty('num_ctx');
  });

  it('sends no extra sampling options to a server that refuses them', async () => {
    const strict = new OpenAiProvider({ baseUrl: server.url, sendExtraOptions: false });
    await collect(strict.chat(request, new AbortController().signal));

    expect(server.requests[0]?.body).toHaveProperty('temperature', 0.7);
    expect(server.requests[0]?.body).not.toHaveProperty('top_k');
  });

  it('sends images of a user message as image_url parts', async () => {
    const withImage: LlmChatRequest = {
      ...request,
      messages: [{ role: 'user', content: 'What is this?', images: [{ mimeType: 'image/png', data: 'iVBORw0KGgo=' }] }],
    };
    await collect(provider.chat(withImage, new AbortController().signal));

    expect(server.requests[0]?.body.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
        ],
      },
    ]);
  });

  it('sends no Authorization header without a key, and the bearer key with one', async () => {
    await collect(provider.chat(request, new AbortController().signal));
    expect(server.authorizations).toEqual([undefined]);

    const keyed = await startFakeOpenAi({ apiKey: 'sk-test' });
    try {
      const withKey = new OpenAiProvider({ baseUrl: keyed.url, apiKey: 'sk-test' });
      expect(textOf(await collect(withKey.chat(request, new AbortController().signal)))).toContain('Kira');
      const wrongKey = new OpenAiProvider({ baseUrl: keyed.url, apiKey: 'sk-wrong' });
      const error = await failureOf(wrongKey.chat(request, new AbortController().signal));
      expect(error.kind).toBe('llm_failed');
      expect(error.message).toContain('refused the API key (HTTP 401)');
    } finally {
      await keyed.close();
    }
  });

  it('names a model the server does not have, with what to do', async () => {
    const error = await failureOf(provider.chat({ ...request, model: 'phi3' }, new AbortController().signal));

    expect(error.kind).toBe('model_not_installed');
    expect(error.message).toContain('Model "phi3" is not served by "local"');
    expect(error.data).toMatchObject({ model: 'phi3', backend: 'local', status: 404 });
  });

  it('reports 429 as busy, 500 as failed, and an unreachable server as unavailable', async () => {
    server.setMode('busy');
    expect((await failureOf(provider.chat(request, new AbortController().signal))).kind).toBe('llm_busy');
    server.setMode('fail');
    const failed = await failureOf(provider.chat(request, new AbortController().signal));
    expect(failed.kind).toBe('llm_failed');
    expect(failed.message).toContain('HTTP 500');
    const nowhere = new OpenAiProvider({ name: 'gone', baseUrl: await closedPortUrl('/v1') });
    const unreachable = await failureOf(nowhere.chat(request, new AbortController().signal));
    expect(unreachable.kind).toBe('llm_unavailable');
    expect(unreachable.message).toMatch(/"gone" is not reachable at http:\/\/127\.0\.0\.1:\d+\/v1 \(ECONNREFUSED\)/);
  });

  it('reports a request a proxy reset before its first token as failed, not unreachable', async () => {
    const proxy = await resetAfterRequestServer('/v1');
    try {
      const error = await failureOf(new OpenAiProvider({ name: 'behind-proxy', baseUrl: proxy.url }).chat(request, new AbortController().signal));

      expect(error.kind).toBe('llm_failed');
      expect(error.message).toContain(`"behind-proxy" at ${proxy.url} closed the connection before answering (ECONNRESET); the request had been sent.`);
    } finally {
      await proxy.close();
    }
  });

  it('reports a stream that breaks off or carries an error event, after the text it had', async () => {
    server.setMode('break');
    const seen: LlmChatEvent[] = [];
    const broken = await failureOf(provider.chat(request, new AbortController().signal), seen);
    expect(broken.kind).toBe('llm_failed');
    expect(broken.message).toContain('broke off');
    expect(textOf(seen)).toBe('Kira hears ');

    server.setMode('error-midstream');
    const reported = await failureOf(provider.chat(request, new AbortController().signal));
    expect(reported.kind).toBe('llm_failed');
    expect(reported.message).toContain('the model crashed');
  });

  it('times out when no token arrives, and when the whole reply takes too long', async () => {
    server.setMode('hang');
    const quick = new OpenAiProvider({ baseUrl: server.url, firstTokenTimeoutMs: 150, requestTimeoutMs: 5_000 });
    const firstToken = await failureOf(quick.chat(request, new AbortController().signal));
    expect(firstToken.kind).toBe('llm_timeout');
    expect(firstToken.data).toMatchObject({ stage: 'first-token', timeoutMs: 150 });

    server.setMode('slow');
    server.chunkDelayMs = 100;
    const short = new OpenAiProvider({ baseUrl: server.url, firstTokenTimeoutMs: 1_000, requestTimeoutMs: 250 });
    const total = await failureOf(short.chat(request, new AbortController().signal));
    expect(total.kind).toBe('llm_timeout');
    expect(total.data).toMatchObject({ stage: 'total' });
  });

  it('aborts the request on the server when the caller gives up', async () => {
    server.setMode('stall');
    const controller = new AbortController();
    const chat = collect(provider.chat(request, controller.signal));
    await server.waitForRequest();
    controller.abort();

    const error = await chat.then(
      () => null,
      (caught: unknown) => caught as AppError,
    );
    expect(error?.kind).toBe('cancelled');
    await server.waitForDisconnect();
    expect(server.abortedStreams).toBe(1);
  });

  it('lists models, embeds in input order, and reports status', async () => {
    expect((await provider.listModels()).map((model) => model.name)).toEqual(['qwen2.5-7b-instruct', 'text-embedding-3-small']);
    const vectors = await provider.embed(['one', 'two'], 'text-embedding-3-small');
    expect(vectors).toHaveLength(2);
    expect(vectors[0]).toHaveLength(16);
    expect(vectors[0]).not.toEqual(vectors[1]);
    expect(server.embedRequests[0]?.body).toMatchObject({ model: 'text-embedding-3-small', input: ['one', 'two'] });
    expect(await provider.status()).toEqual({ reachable: true, provider: 'local', endpoint: server.url, models: ['qwen2.5-7b-instruct', 'text-embedding-3-small'] });

    const nowhere = new OpenAiProvider({ baseUrl: await closedPortUrl('/v1') });
    const down = await nowhere.status();
    expect(down.reachable).toBe(false);
    expect(down.error).toContain('not reachable');
  });
});
