import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LlmChatEvent, LlmChatRequest } from '../../ports/llm.js';
import { closedPortUrl, collect, eventsOfTwoReads, failureOf, resetAfterRequestServer, textOf } from '../../../test/helpers/llm-events.js';
import { startFakeOllama, type FakeOllama } from '../../../test/fakes/fake-ollama.js';
import { DEFAULT_OLLAMA_URL, normalizeOllamaHost, OllamaProvider } from './ollama-provider.js';

const request: LlmChatRequest = {
  model: 'llama3.1:8b',
  messages: [
    { role: 'system', content: 'You are Aria, a curious musician.' },
    { role: 'user', content: 'What are you playing today?' },
  ],
  maxTokens: 256,
  contextTokens: 4096,
  options: { temperature: 0.7 },
};

/** A tiny server that answers /api/chat with exactly these bytes, for shapes the fake never produces. */
async function rawChatServer(body: string): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** A server that drops the first connection it gets and answers later ones; counts the requests it saw. */
async function dropFirstServer(body: string): Promise<{ url: string; server: Server; hits: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    if (hits === 1) req.socket.destroy();
    else res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, hits: () => hits };
}

/**
 * A backend that streams a chat's lines one write at a time and, like a server closing an idle connection just
 * as the next request arrives on it, resets a connection's second request; counts the requests it saw.
 */
async function resetSecondRequestServer(lines: string[]): Promise<{ url: string; server: Server; hits: () => number }> {
  let hits = 0;
  const answered = new WeakSet<object>();
  const server = createServer((req, res) => {
    hits++;
    if (answered.has(req.socket)) return void req.socket.resetAndDestroy();
    answered.add(req.socket);
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const writeFrom = (index: number): void => {
      if (index === lines.length) return void res.end();
      res.write(lines[index]);
      setImmediate(() => writeFrom(index + 1));
    };
    writeFrom(0);
  });
  server.keepAliveTimeout = 0; // no Keep-Alive hint, as Ollama
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, hits: () => hits };
}

describe('OllamaProvider', () => {
  let ollama: FakeOllama;
  let provider: OllamaProvider;

  beforeEach(async () => {
    ollama = await startFakeOllama({ chunkDelayMs: 5 });
    provider = new OllamaProvider({ baseUrl: ollama.url, requestTimeoutMs: 5_000 });
  });
  afterEach(async () => {
    await ollama.close();
  });

  describe('chat', () => {
    it('streams word deltas that join into the reply, then one done event with token counts', async () => {
      const events = await collect(provider.chat(request, new AbortController().signal));

      expect(textOf(events)).toBe('Aria hears you: What are you playing today?');
      expect(events.filter((event) => event.type === 'delta').length).toBeGreaterThan(0);
      expect(events.at(-1)).toEqual({ type: 'done', promptTokens: 11, completionTokens: 8, model: 'llama3.1:8b' });
    });

    it('passes the lines of one read on as one delta, and a line read on its own at once', async () => {
      const line = (content: string, done = false) => `${JSON.stringify({ model: 'llama3.1:8b', message: { role: 'assistant', content }, done })}\n`;
      const events = await eventsOfTwoReads('application/x-ndjson', line('Aria ') + line('hears '), line('you.') + line('', true), (baseUrl) =>
        new OllamaProvider({ baseUrl }).chat(request, new AbortController().signal),
      );

      expect(events).toEqual([
        { type: 'delta', text: 'Aria hears ' },
        { type: 'delta', text: 'you.' },
        { type: 'done', promptTokens: null, completionTokens: null, model: 'llama3.1:8b' },
      ]);
    });

    it("reads token lines as Ollama's Go encoder writes them (<, >, & escaped) and lines of any other shape alike", async () => {
      const goString = (text: string) => JSON.stringify(text).replaceAll('<', '\\u003c').replaceAll('>', '\\u003e').replaceAll('&', '\\u0026');
      const message = (content: string, extra = '') => `{"role":"assistant","content":${goString(content)}${extra}}`;
      const token = (content: string) => `{"model":"llama3.1:8b","created_at":"2026-11-29T10:00:00.1Z","message":${message(content)},"done":false}\n`;
      const reordered = `{"done":false,"message":${message('left \\ ')},"model":"llama3.1:8b"}\n`;
      const thinking = `{"model":"llama3.1:8b","created_at":"2026-11-29T10:00:00.2Z","message":${message('', ',"thinking":"hmm"')},"done":false}\n`;
      const final = `{"model":"llama3.1:8b","created_at":"2026-11-29T10:00:00.3Z","message":${message('')},"done_reason":"stop","done":true,"eval_count":4}\n`;
      const events = await eventsOfTwoReads('application/x-ndjson', token('He said "<b>hi</b>" & ') + reordered, token('☃ 😀\n') + thinking + final, (baseUrl) =>
        new OllamaProvider({ baseUrl }).chat(request, new AbortController().signal),
      );

      expect(events).toEqual([
        { type: 'delta', text: 'He said "<b>hi</b>" & left \\ ' },
        { type: 'delta', text: '☃ 😀\n' },
        { type: 'done', promptTokens: null, completionTokens: 4, model: 'llama3.1:8b' },
      ]);
    });

    it('sends the model, messages and options the way Ollama expects them', async () => {
      await collect(provider.chat(request, new AbortController().signal));

      expect(ollama.requests[0]?.body).toEqual({
        model: 'llama3.1:8b',
        messages: request.messages,
        stream: true,
        options: { num_predict: 256, num_ctx: 4096, temperature: 0.7 },
      });
    });

    it('reassembles lines and characters cut at arbitrary byte boundaries', async () => {
      ollama.byteChunkSize = 7;
      ollama.chunkDelayMs = 0;
      ollama.setReply('Kira grins 🌸 — «ça va?» and waits.');

      const events = await collect(provider.chat(request, new AbortController().signal));

      expect(textOf(events)).toBe('Kira grins 🌸 — «ça va?» and waits.');
      expect(events.at(-1)).toMatchObject({ type: 'done', completionTokens: 8 });
    });

    it('sends a streamed chat again, once, when its kept-alive connection is reset before any answer, and the reply comes once', async () => {
      const line = (content: string, done = false) => `${JSON.stringify({ model: 'm', message: { role: 'assistant', content }, done })}\n`;
      const backend = await resetSecondRequestServer([line('Aria '), line('hears '), line('you.'), line('', true)]);
      const raw = new OllamaProvider({ baseUrl: backend.url });
      try {
        expect(textOf(await collect(raw.chat(request, new AbortController().signal)))).toBe('Aria hears you.');
        await new Promise((resolve) => setTimeout(resolve, 10)); // the connection goes back to the pool
        const events = await collect(raw.chat(request, new AbortController().signal));

        expect(textOf(events)).toBe('Aria hears you.');
        expect(events.at(-1)).toMatchObject({ type: 'done' });
        expect(backend.hits()).toBe(3); // the first chat, the reset one, and its one resend
      } finally {
        backend.server.closeAllConnections();
        backend.server.close();
      }
    });

    it('reads a final done line that has no newline', async () => {
      const raw = await rawChatServer(
        '{"message":{"content":"Hi"},"done":false}\n{"model":"m","done":true,"eval_count":1}',
      );
      const events = await collect(
        new OllamaProvider({ baseUrl: raw.url }).chat(request, new AbortController().signal),
      );
      raw.server.close();

      expect(events).toEqual([
        { type: 'delta', text: 'Hi' },
        { type: 'done', promptTokens: null, completionTokens: 1, model: 'm' },
      ]);
    });

    it('fails with llm_failed when a line is not JSON', async () => {
      const raw = await rawChatServer('{"message":{"content":"Hi"},"done":false}\n<html>oops</html>\n');
      const error = await failureOf(
        new OllamaProvider({ baseUrl: raw.url }).chat(request, new AbortController().signal),
      );
      raw.server.close();

      expect(error.kind).toBe('llm_failed');
      expect(error.message).toMatch(/reply from Ollama broke off/);
    });

    it('fails with llm_failed when a line has the wrong shape (a number for text, a string for done)', async () => {
      for (const line of ['{"message":{"content":5},"done":false}', '{"message":{"content":"Hi"},"done":"yes"}', '["not","an","object"]', '{"message":"Hi","done":false}']) {
        const raw = await rawChatServer(`${line}\n`);
        const error = await failureOf(new OllamaProvider({ baseUrl: raw.url }).chat(request, new AbortController().signal));
        raw.server.close();
        expect(error.kind).toBe('llm_failed');
        expect(error.message).toMatch(/reply from Ollama broke off/);
      }
    });

    it('reports the error line Ollama sends mid-stream', async () => {
      const raw = await rawChatServer('{"message":{"content":"Hi"},"done":false}\n{"error":"model crashed"}\n');
      const error = await failureOf(new OllamaProvider({ baseUrl: raw.url }).chat(request, new AbortController().signal));
      raw.server.close();
      expect(error.kind).toBe('llm_failed');
      expect(JSON.stringify(error)).toMatch(/model crashed/);
    });

    it('names `ollama pull` when the model is not installed', async () => {
      const error = await failureOf(provider.chat({ ...request, model: 'mistral:7b' }, new AbortController().signal));

      expect(error.kind).toBe('model_not_installed');
      expect(error.message).toBe(
        'Model "mistral:7b" is not installed in Ollama. Run `ollama pull mistral:7b`, or choose another model.',
      );
      expect(error.data).toEqual({ model: 'mistral:7b' });
    });

    it('says how to start Ollama when nothing listens', async () => {
      const url = await closedPortUrl();
      const error = await failureOf(new OllamaProvider({ baseUrl: url }).chat(request, new AbortController().signal));

      expect(error.kind).toBe('llm_unavailable');
      expect(error.message).toBe(
        `Ollama is not reachable at ${url} (ECONNREFUSED). Start it with \`ollama serve\`, or set OLLAMA_HOST to where it runs.`,
      );
    });

    it.each([
      ['busy', 'llm_busy', /busy/],
      ['fail', 'llm_failed', /Ollama failed: llama runner process has terminated: exit status 2 \(HTTP 500\)/],
      ['break', 'llm_failed', /broke off \(the connection closed mid-reply\)/],
      ['error-midstream', 'llm_failed', /broke off \(Ollama reported: an error was encountered/],
    ] as const)('maps mode %s to %s', async (mode, kind, message) => {
      ollama.setMode(mode);
      const error = await failureOf(provider.chat(request, new AbortController().signal));

      expect(error.kind).toBe(kind);
      expect(error.message).toMatch(message);
    });

    it('keeps the deltas that arrived before the stream broke', async () => {
      ollama.setMode('error-midstream');
      const seen: LlmChatEvent[] = [];
      await failureOf(provider.chat(request, new AbortController().signal), seen);

      expect(textOf(seen)).toBe('Aria hears ');
      expect(seen.every((event) => event.type === 'delta')).toBe(true);
    });

    it('closes the backend request when the caller aborts mid-stream', async () => {
      ollama.setMode('slow');
      const controller = new AbortController();
      const seen: LlmChatEvent[] = [];
      const chat = provider.chat(request, controller.signal);

      const failure = failureOf(
        (async function* abortAfterFirstDelta() {
          for await (const event of chat) {
            yield event;
            controller.abort();
          }
        })(),
        seen,
      );

      expect((await failure).kind).toBe('cancelled');
      await ollama.waitForDisconnect();
      expect(seen).toHaveLength(1);
    });

    it('closes the backend request when the caller aborts before Ollama answers', async () => {
      ollama.setMode('hang');
      const controller = new AbortController();
      const failure = failureOf(provider.chat(request, controller.signal));
      await ollama.waitForRequest();
      controller.abort();

      expect((await failure).kind).toBe('cancelled');
      await ollama.waitForDisconnect();
    });

    it('closes the backend request when the consumer stops reading early', async () => {
      ollama.setMode('slow');
      for await (const event of provider.chat(request, new AbortController().signal)) {
        expect(event.type).toBe('delta');
        break;
      }

      await ollama.waitForDisconnect();
      expect(ollama.activeStreams).toBe(0);
    });

    it('leaves the connection open when the stream ends a moment after its final line, as Ollama writes it', async () => {
      const ends: Array<'open' | 'closed by the client'> = [];
      let ended = Promise.resolve();
      // Ollama flushes the done line, then ends the chunked answer with a write of its own when its handler returns.
      const server = createServer((req, res) => {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        res.write('{"message":{"content":"Hi"},"done":false}\n{"message":{"content":""},"done":true,"eval_count":1}\n');
        ended = new Promise((resolve) =>
          setTimeout(() => {
            ends.push(req.socket.destroyed ? 'closed by the client' : 'open');
            res.end();
            resolve();
          }, 30),
        );
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const local = new OllamaProvider({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
      try {
        for (let turn = 0; turn < 3; turn++) {
          expect(textOf(await collect(local.chat(request, new AbortController().signal)))).toBe('Hi');
          await ended;
        }
        expect(ends).toEqual(['open', 'open', 'open']);
      } finally {
        server.closeAllConnections();
        server.close();
      }
    });

    it('never retries a chat, even when the connection dropped before any answer', async () => {
      const flaky = await dropFirstServer('{"message":{"content":"Hi"},"done":true}\n');
      const error = await failureOf(
        new OllamaProvider({ baseUrl: flaky.url }).chat(request, new AbortController().signal),
      );
      flaky.server.close();

      expect(error.kind).toBe('llm_failed');
      expect(flaky.hits()).toBe(1);
    });

    it('answers llm_failed, not unreachable, when a proxy resets the sent request before its first token', async () => {
      const proxy = await resetAfterRequestServer();
      try {
        const error = await failureOf(new OllamaProvider({ baseUrl: proxy.url }).chat(request, new AbortController().signal));

        expect(error.kind).toBe('llm_failed');
        expect(error.message).toBe(
          `Ollama at ${proxy.url} closed the connection before answering (ECONNRESET); the request had been sent. ` +
            "Try again; if it keeps happening, a proxy between may be cutting requests that wait for their first token (raise its read timeout), or check Ollama's log.",
        );
        expect(proxy.connections()).toBe(1);
      } finally {
        await proxy.close();
      }
    });

    it('throws cancelled without calling Ollama when the signal is already aborted', async () => {
      const error = await failureOf(provider.chat(request, AbortSignal.abort()));

      expect(error.kind).toBe('cancelled');
      expect(ollama.requests).toHaveLength(0);
    });

    it('asks for background work unstreamed and hands its whole reply over as one delta, then done', async () => {
      const background: LlmChatRequest = { ...request, priority: 'background', task: 'summary' };
      const events = await collect(provider.chat(background, new AbortController().signal));

      expect(ollama.requests[0]?.body).toMatchObject({ stream: false, options: { num_predict: 256, num_ctx: 4096 } });
      expect(events).toEqual([
        { type: 'delta', text: 'Aria hears you: What are you playing today?' },
        { type: 'done', promptTokens: 11, completionTokens: 8, model: 'llama3.1:8b' },
      ]);
    });

    it('reads an unstreamed reply as Ollama writes it (one object, final fields included), and refuses one that is not final', async () => {
      const final = '{"model":"m","created_at":"2026-01-01T00:00:00Z","message":{"role":"assistant","content":"Seven."},"done_reason":"stop","done":true,"prompt_eval_count":12,"eval_count":2}';
      const { url, server } = await rawChatServer(final);
      const unfinished = await rawChatServer('{"model":"m","message":{"role":"assistant","content":"Sev"},"done":false}');
      try {
        const background: LlmChatRequest = { ...request, priority: 'background' };
        const events = await collect(new OllamaProvider({ baseUrl: url }).chat(background, new AbortController().signal));
        expect(events).toEqual([
          { type: 'delta', text: 'Seven.' },
          { type: 'done', promptTokens: 12, completionTokens: 2, model: 'm' },
        ]);
        const error = await failureOf(new OllamaProvider({ baseUrl: unfinished.url }).chat(background, new AbortController().signal));
        expect(error.kind).toBe('llm_failed');
      } finally {
        server.close();
        unfinished.server.close();
      }
    });

    it('limits an unstreamed reply by requestTimeoutMs only (its headers come with the whole reply), and hangs up', async () => {
      ollama.setMode('hang');
      const impatient = new OllamaProvider({ baseUrl: ollama.url, requestTimeoutMs: 300, firstTokenTimeoutMs: 100, connectTimeoutMs: 50 });
      const error = await failureOf(impatient.chat({ ...request, priority: 'background' }, new AbortController().signal));

      expect(error.kind).toBe('llm_timeout');
      expect(error.message).toMatch(/within 0\.3 s \(the whole reply took too long\)/);
      await ollama.waitForDisconnect();
    });

    it('times out when no reply starts within firstTokenTimeoutMs, and hangs up', async () => {
      ollama.setMode('hang');
      const impatient = new OllamaProvider({ baseUrl: ollama.url, requestTimeoutMs: 5_000, firstTokenTimeoutMs: 200 });
      const error = await failureOf(impatient.chat(request, new AbortController().signal));

      expect(error.kind).toBe('llm_timeout');
      expect(error.message).toMatch(/^Ollama did not answer within 0\.2 s \(no reply had started/);
      await ollama.waitForDisconnect();
    });

    it('times out when the whole reply takes longer than requestTimeoutMs', async () => {
      ollama.setMode('stall');
      const impatient = new OllamaProvider({ baseUrl: ollama.url, requestTimeoutMs: 200, firstTokenTimeoutMs: 5_000 });
      const seen: LlmChatEvent[] = [];
      const error = await failureOf(impatient.chat(request, new AbortController().signal), seen);

      expect(error.kind).toBe('llm_timeout');
      expect(error.message).toMatch(/within 0\.2 s \(the whole reply took too long\)/);
      expect(seen).toEqual([{ type: 'delta', text: 'Aria ' }]);
      await ollama.waitForDisconnect();
    });
  });

  describe('listModels', () => {
    it('lists the installed models with their details', async () => {
      const models = await provider.listModels();

      expect(models).toEqual([
        {
          name: 'llama3.1:8b',
          sizeBytes: 4_920_753_328,
          family: 'llama',
          parameterSize: '8.0B',
          modifiedAt: '2025-01-01T00:00:00Z',
        },
        expect.objectContaining({ name: 'nomic-embed-text:latest', family: 'nomic-bert' }),
      ]);
    });

    it('retries once when the connection drops', async () => {
      const flaky = await dropFirstServer('{"models":[{"name":"qwen2.5:7b"}]}');
      const models = await new OllamaProvider({ baseUrl: flaky.url }).listModels();
      flaky.server.close();

      expect(models).toEqual([
        { name: 'qwen2.5:7b', sizeBytes: null, family: null, parameterSize: null, modifiedAt: null },
      ]);
      expect(flaky.hits()).toBe(2);
    });

    it('throws llm_unavailable when nothing listens', async () => {
      const down = new OllamaProvider({ baseUrl: await closedPortUrl() });
      await expect(down.listModels()).rejects.toMatchObject({ kind: 'llm_unavailable' });
    });
  });

  describe('status', () => {
    it('reports a reachable Ollama with its models', async () => {
      expect(await provider.status()).toEqual({
        reachable: true,
        provider: 'ollama',
        endpoint: ollama.url,
        models: ['llama3.1:8b', 'nomic-embed-text:latest'],
      });
    });

    it('reports an unreachable Ollama without throwing', async () => {
      const url = await closedPortUrl();
      const status = await new OllamaProvider({ baseUrl: url }).status();

      expect(status).toMatchObject({ reachable: false, provider: 'ollama', endpoint: url });
      expect(status.error).toMatch(/ollama serve/);
    });

    it('reuses its answer for statusCacheMs', async () => {
      let now = 1_000_000;
      const cached = new OllamaProvider({ baseUrl: ollama.url, clock: { now: () => now } });
      await cached.status();
      ollama.models = ['qwen2.5:7b'];

      now += 1_999;
      expect((await cached.status()).models).toEqual(['llama3.1:8b', 'nomic-embed-text:latest']);
      now += 1;
      expect((await cached.status()).models).toEqual(['qwen2.5:7b']);
    });
  });
});

describe('normalizeOllamaHost', () => {
  it.each([
    [undefined, DEFAULT_OLLAMA_URL],
    ['', DEFAULT_OLLAMA_URL],
    ['  ', DEFAULT_OLLAMA_URL],
    ['0.0.0.0:11434', 'http://127.0.0.1:11434'],
    ['0.0.0.0', 'http://127.0.0.1:11434'],
    ['localhost', 'http://localhost:11434'],
    [':11434', 'http://127.0.0.1:11434'],
    [':8080', 'http://127.0.0.1:8080'],
    ['gpu-box:1234', 'http://gpu-box:1234'],
    ['http://h:1234/', 'http://h:1234'],
    ['http://h:1234/ollama/', 'http://h:1234/ollama'],
    ['https://x', 'https://x'],
    ['https://x:8443', 'https://x:8443'],
    ['[::1]:11434', 'http://[::1]:11434'],
  ])('%j → %s', (value, expected) => {
    expect(normalizeOllamaHost(value)).toBe(expected);
  });

  it('rejects a value that is not a host', () => {
    expect(() => normalizeOllamaHost('ftp://x')).toThrow(/http or https/);
    expect(() => normalizeOllamaHost('host:notaport')).toThrow(/OLLAMA_HOST "host:notaport"/);
  });
});
