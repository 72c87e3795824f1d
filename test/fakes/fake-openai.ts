/**
 * A fake OpenAI-compatible server (what llama.cpp's `llama-server`, vLLM, LM Studio and LocalAI offer): a
 * real HTTP server on 127.0.0.1 (ephemeral port) speaking the parts of the API this project uses, so the
 * OpenAI adapter is tested over real sockets rather than patched functions.
 *
 *   const server = await startFakeOpenAi();          // server.url = 'http://127.0.0.1:PORT/v1'
 *   server.setMode('slow'); server.setReply('Hello there');
 *   ...
 *   await server.close();
 *
 * Routes (under `/v1`):
 * - `POST /chat/completions`: with `"stream": true`, Server-Sent Events like OpenAI: one
 *   `data: {"object":"chat.completion.chunk","choices":[{"delta":{"content":"word "}}]}` per word, a chunk
 *   with `finish_reason: "stop"`, then (when `stream_options.include_usage`) a chunk with `choices: []` and
 *   `usage`, then `data: [DONE]`. Without streaming, one `chat.completion` object. `usage.prompt_tokens` is
 *   the number of words in all request messages, `completion_tokens` the number of content chunks.
 *   A model not in `models` gets 404 `{"error":{"code":"model_not_found",...}}`. Bodies go to `requests`.
 * - `POST /embeddings`: `{"data":[{"embedding":[16 numbers],"index":i}]}`, unit length, from a SHA-256 of
 *   the text. Bodies go to `embedRequests`.
 * - `GET /models`: `{"object":"list","data":[{"id":...,"object":"model","owned_by":"fake"}]}`.
 *
 * When `apiKey` is set, every request must carry `Authorization: Bearer <apiKey>`, else 401 like OpenAI.
 * The `authorization` header of every request is kept in `authorizations`.
 *
 * Modes (`setMode`) change how chat and embeddings answer; `/models` always answers:
 * - 'normal'; 'slow': waits `chunkDelayMs` before each event; 'hang': never answers, not even headers;
 * - 'stall': headers and the first content event, then nothing;
 * - 'fail': HTTP 500; 'busy': HTTP 429 with `retry-after: 1` (a rate limit or a full queue);
 * - 'break': two content events, then the socket is destroyed without `[DONE]`;
 * - 'error-midstream': two content events, then `data: {"error":{...}}` and the end.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamCounter } from './stream-counter.js';

export type FakeOpenAiMode = 'normal' | 'slow' | 'hang' | 'stall' | 'fail' | 'busy' | 'break' | 'error-midstream';

export interface FakeOpenAiBody {
  model?: string;
  messages?: Array<{ role: string; content: unknown }>;
  stream?: boolean;
  [key: string]: unknown;
}

export interface FakeOpenAiRequest {
  path: string;
  body: FakeOpenAiBody;
}

export type FakeOpenAiReply = string | ((body: FakeOpenAiBody) => string);

export interface FakeOpenAiOptions {
  /** Served models. Defaults to `['qwen2.5-7b-instruct', 'text-embedding-3-small']`. */
  models?: string[];
  mode?: FakeOpenAiMode;
  /** Delay before each event in 'slow' mode. Defaults to 20 ms. */
  chunkDelayMs?: number;
  reply?: FakeOpenAiReply;
  /** When set, requests without `Authorization: Bearer <apiKey>` get 401. */
  apiKey?: string;
}

export interface FakeOpenAi {
  /** Base URL including `/v1`, e.g. `http://127.0.0.1:54321/v1`, as OPENAI_BASE_URL takes it. */
  readonly url: string;
  models: string[];
  chunkDelayMs: number;
  readonly requests: FakeOpenAiRequest[];
  readonly embedRequests: FakeOpenAiRequest[];
  /** The `authorization` header of every request (undefined when absent). */
  readonly authorizations: Array<string | undefined>;
  readonly activeStreams: number;
  /** Chat responses whose client disconnected before the response ended. */
  readonly abortedStreams: number;
  setMode(mode: FakeOpenAiMode): void;
  setReply(reply: FakeOpenAiReply): void;
  waitForDisconnect(count?: number): Promise<void>;
  waitForRequest(count?: number): Promise<void>;
  close(): Promise<void>;
}

const EMBEDDING_DIMENSIONS = 16;

export async function startFakeOpenAi(options: FakeOpenAiOptions = {}): Promise<FakeOpenAi> {
  let mode: FakeOpenAiMode = options.mode ?? 'normal';
  let reply: FakeOpenAiReply = options.reply ?? echoReply;
  const streams = new StreamCounter();

  const server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendError(res, 500, String(error), 'server_error');
      else res.destroy();
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    fake.authorizations.push(req.headers.authorization);
    if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      return sendError(res, 401, 'Incorrect API key provided.', 'invalid_api_key');
    }
    if (req.method === 'GET' && path === '/v1/models') {
      return sendJson(res, 200, { object: 'list', data: fake.models.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'fake' })) });
    }
    if (req.method === 'POST' && (path === '/v1/chat/completions' || path === '/v1/embeddings')) {
      let body: FakeOpenAiBody;
      try {
        body = JSON.parse(await readBody(req)) as FakeOpenAiBody;
      } catch {
        return sendError(res, 400, 'We could not parse the JSON body of your request.', 'invalid_json');
      }
      if (path === '/v1/chat/completions') fake.requests.push({ path, body });
      else fake.embedRequests.push({ path, body });
      streams.changed();
      return path === '/v1/chat/completions' ? chat(body, res) : embed(body, res);
    }
    sendError(res, 404, `Unknown request URL: ${req.method} ${path}.`, 'unknown_url');
  }

  function answeredByMode(body: FakeOpenAiBody, res: ServerResponse): boolean {
    if (mode === 'hang') return true;
    if (mode === 'fail') {
      sendError(res, 500, 'The server had an error while processing your request.', 'server_error');
      return true;
    }
    if (mode === 'busy') {
      res.setHeader('retry-after', '1');
      sendError(res, 429, 'Rate limit reached; the server is busy. Please try again later.', 'rate_limit_exceeded');
      return true;
    }
    if (!fake.models.includes(body.model ?? '')) {
      sendError(res, 404, `The model \`${body.model ?? ''}\` does not exist or you do not have access to it.`, 'model_not_found');
      return true;
    }
    return false;
  }

  async function chat(body: FakeOpenAiBody, res: ServerResponse): Promise<void> {
    const breakOnPurpose = streams.track(res);
    if (answeredByMode(body, res)) return;

    const model = body.model ?? '';
    const words = splitWords(typeof reply === 'string' ? reply : reply(body));
    const usage = {
      prompt_tokens: (body.messages ?? []).reduce((sum, m) => sum + splitWords(textOf(m.content)).length, 0),
      completion_tokens: words.length,
      total_tokens: 0,
    };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    const id = 'chatcmpl-fake';
    const created = Math.floor(Date.now() / 1000);
    if (body.stream !== true) {
      return sendJson(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: words.join('') }, finish_reason: 'stop' }],
        usage,
      });
    }
    const chunk = (choices: unknown[], extra: object = {}): string =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices, ...extra })}\n\n`;
    let events = [
      chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]),
      ...words.map((word) => chunk([{ index: 0, delta: { content: word }, finish_reason: null }])),
    ];
    if (mode === 'stall') events = events.slice(0, 2);
    else if (mode === 'break' || mode === 'error-midstream') events = events.slice(0, 3);
    if (mode === 'error-midstream') events.push(`data: ${JSON.stringify({ error: { message: 'the model crashed', type: 'server_error' } })}\n\n`);
    if (mode === 'normal' || mode === 'slow') {
      events.push(chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]));
      const streamOptions = body['stream_options'] as { include_usage?: boolean } | undefined;
      if (streamOptions?.include_usage) events.push(chunk([], { usage }));
      events.push('data: [DONE]\n\n');
    }

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    for (const event of events) {
      if (mode === 'slow') await delay(fake.chunkDelayMs);
      if (res.destroyed) return;
      await write(res, event);
    }
    if (mode === 'stall') return;
    if (mode === 'break') {
      breakOnPurpose();
      res.socket?.destroy();
      return;
    }
    res.end();
  }

  function embed(body: FakeOpenAiBody, res: ServerResponse): void {
    if (answeredByMode(body, res)) return;
    const input = body['input'];
    const texts = Array.isArray(input) ? input.map(String) : [String(input ?? '')];
    sendJson(res, 200, {
      object: 'list',
      model: body.model,
      data: texts.map((text, index) => ({ object: 'embedding', index, embedding: embeddingOf(text) })),
      usage: { prompt_tokens: texts.length, total_tokens: texts.length },
    });
  }

  const until = (isReached: () => boolean): Promise<void> => streams.until(isReached);

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const fake: FakeOpenAi = {
    url: `http://127.0.0.1:${port}/v1`,
    models: options.models ? [...options.models] : ['qwen2.5-7b-instruct', 'text-embedding-3-small'],
    chunkDelayMs: options.chunkDelayMs ?? 20,
    requests: [],
    embedRequests: [],
    authorizations: [],
    get activeStreams() {
      return streams.active;
    },
    get abortedStreams() {
      return streams.aborted;
    },
    setMode: (next) => void (mode = next),
    setReply: (next) => void (reply = next),
    waitForDisconnect: (count = 1) => until(() => streams.aborted >= count),
    waitForRequest: (count = 1) => until(() => fake.requests.length >= count),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
  return fake;
}

/** `<Name> hears you: <last user message>`, Name from "You are Name" in the system prompt. */
export function echoReply(body: FakeOpenAiBody): string {
  const messages = body.messages ?? [];
  const system = textOf(messages.find((m) => m.role === 'system')?.content);
  const name = /\bYou are ([A-Z][\w-]*)/.exec(system)?.[1] ?? 'Assistant';
  const lastUser = textOf([...messages].reverse().find((m) => m.role === 'user')?.content);
  return `${name} hears you: ${lastUser}`;
}

/** A message's text: a string, or the text parts of a content array. */
function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part: unknown) => (typeof part === 'object' && part !== null && 'text' in part && typeof part.text === 'string' ? part.text : ''))
      .join(' ');
  }
  return '';
}

function splitWords(text: string): string[] {
  return text.match(/^\s+|\S+\s*/g) ?? [];
}

function embeddingOf(text: string): number[] {
  const digest = createHash('sha256').update(text).digest();
  const raw = Array.from({ length: EMBEDDING_DIMENSIONS }, (_, i) => (digest[i] ?? 0) / 127.5 - 1);
  const norm = Math.hypot(...raw) || 1;
  return raw.map((value) => value / norm);
}

function sendError(res: ServerResponse, status: number, message: string, code: string): void {
  sendJson(res, status, { error: { message, type: status === 429 ? 'requests' : 'invalid_request_error', param: null, code } });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function write(res: ServerResponse, data: string): Promise<void> {
  return new Promise((resolve) => res.write(data, () => resolve()));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
