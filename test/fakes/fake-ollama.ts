/**
 * A fake Ollama: a real HTTP server on 127.0.0.1 (ephemeral port) that speaks the parts of Ollama's API
 * this project uses, so adapters are tested over real sockets rather than patched functions.
 *
 *   const ollama = await startFakeOllama();          // ollama.url = 'http://127.0.0.1:PORT'
 *   ollama.setMode('slow'); ollama.chunkDelayMs = 20; ollama.setReply('Hello there');
 *   ...
 *   await ollama.close();
 *
 * Routes:
 * - `POST /api/chat`: streams NDJSON like Ollama (`application/x-ndjson`), one line per word:
 *   `{"model","created_at","message":{"role":"assistant","content":"word "},"done":false}`, then
 *   `{"done":true,"done_reason":"stop","prompt_eval_count":P,"eval_count":E,...}` where P is the number of
 *   words in all request messages and E the number of content chunks. `"stream": false` gets one JSON
 *   object instead. A model not in `models` gets 404 `{"error":"model \"X\" not found, try pulling it first"}`.
 *   Bodies are recorded in `requests`.
 * - `POST /api/embed`: `{"embeddings":[[16 numbers]]}` per input, unit length, derived from a SHA-256 of
 *   the text (same text, same vector). Bodies are recorded in `embedRequests`.
 * - `GET /api/tags` (the `models`), `GET /api/version`, `POST /api/show` (`capabilities`, with "vision" for
 *   the `visionModels`; a chat with `images` to any other model fails as Ollama's does).
 * - `HEAD /api/blobs/sha256:D` (200 when the fake holds that blob, else 404) and `POST /api/blobs/sha256:D`
 *   (stores the body when its SHA-256 is D: 201; else 400), like Ollama's blob store.
 * - `POST /api/create` (`{model, from, system, parameters, adapters, stream}`): 404 like a pull error when
 *   `from` is not installed, 400 when an adapter names a blob the fake does not hold; else streams
 *   `{"status":...}` lines ending in `{"status":"success"}` and adds `model` to `models`. Bodies are
 *   recorded in `createRequests`.
 *
 * The default reply is `<Name> hears you: <last user message>`, where Name comes from "You are Name" in
 * the system prompt (else "Assistant"). `setReply` takes a text or a function of the request body.
 *
 * Modes (`setMode`) change how `/api/chat` and `/api/embed` answer; tags and version always answer:
 * - 'normal': the whole stream at once (each line still written separately).
 * - 'slow': waits `chunkDelayMs` (default 20) before each line.
 * - 'hang': accepts the request and never answers, not even headers (like Ollama loading a huge model),
 *   until `releaseHung()` answers the requests it kept as the mode then set does.
 * - 'stall': sends headers and the first content line, then nothing more.
 * - 'fail': HTTP 500 `{"error":"..."}`.  'busy': HTTP 503 `{"error":"server busy, ..."}` (Ollama's full queue).
 * - 'break': sends two content lines, then destroys the socket without the `done` line.
 * - 'error-midstream': sends two content lines, then a `{"error":"..."}` line, then ends.
 * `byteChunkSize` (default null) makes the chat stream go out in pieces of that many bytes, cutting lines
 * and characters anywhere, to test a client's line reassembly.
 *
 * A client that disconnects before its chat stream ended counts in `abortedStreams`; await it with
 * `waitForDisconnect(n)`. `activeStreams` counts chat responses still open.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamCounter } from './stream-counter.js';

export type FakeOllamaMode = 'normal' | 'slow' | 'hang' | 'stall' | 'fail' | 'busy' | 'break' | 'error-midstream';

/** A chat request body as the fake parsed it. Fields are not validated beyond being JSON. */
export interface FakeChatBody {
  model?: string;
  messages?: Array<{ role: string; content: string; images?: string[] }>;
  stream?: boolean;
  options?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface RecordedRequest {
  path: string;
  body: FakeChatBody;
  /** `Date.now()` when the body was read. */
  time: number;
}

export type FakeReply = string | ((body: FakeChatBody) => string);

export interface FakeOllamaOptions {
  /** Installed models. Defaults to `['llama3.1:8b', 'nomic-embed-text:latest']`. */
  models?: string[];
  /** Defaults to 'normal'. */
  mode?: FakeOllamaMode;
  /** Models with vision. Defaults to `['llava:latest']` (install it through `models` to use it). */
  visionModels?: string[];
  /** Delay before each line in 'slow' mode, and between pieces with `byteChunkSize`. Defaults to 20 ms. */
  chunkDelayMs?: number;
  /** Defaults to the echo reply described at the top of this file. */
  reply?: FakeReply;
}

export interface FakeOllama {
  /** Base URL, e.g. `http://127.0.0.1:54321`, without trailing slash. */
  readonly url: string;
  /** Installed models; change it freely (names without a tag mean `:latest`). */
  models: string[];
  /** Installed models that take pictures (`/api/show` lists "vision"; others refuse `images`). */
  visionModels: string[];
  chunkDelayMs: number;
  /** When set, the chat stream is written in pieces of this many bytes. Defaults to null (one line per write). */
  byteChunkSize: number | null;
  /** Every `/api/chat` request, in arrival order. */
  readonly requests: RecordedRequest[];
  /** Every `/api/embed` request, in arrival order. */
  readonly embedRequests: RecordedRequest[];
  /** Every `/api/create` request, in arrival order. */
  readonly createRequests: RecordedRequest[];
  /** Digests (`sha256:...`) of the blobs uploaded, with their sizes in bytes. */
  readonly blobs: Map<string, number>;
  /** Chat responses still open. */
  readonly activeStreams: number;
  /** Chat responses whose client disconnected before the response ended. */
  readonly abortedStreams: number;
  /**
   * When set, the `/api/chat` requests it picks are kept as 'hang' mode keeps them (until `releaseHung()`),
   * whatever the mode: one kind of call (a background appraisal) can hold its slot while others answer.
   * Clear it before `releaseHung()`, or the released requests are kept again.
   */
  holdWhen: ((body: FakeChatBody) => boolean) | null;
  setMode(mode: FakeOllamaMode): void;
  setReply(reply: FakeReply): void;
  /** Resolves once `abortedStreams >= count` (default 1), at once if that is already so. */
  waitForDisconnect(count?: number): Promise<void>;
  /** Resolves once `requests.length >= count` (default 1). */
  waitForRequest(count?: number): Promise<void>;
  /**
   * Resolves once a chat turn answering `text` (see `turnFor`) is among `requests[from..]`; `from`
   * defaults to the requests already recorded. Prefer it to `waitForRequest(n + 1)` while a turn is in
   * flight: a background call (formation, ratings) may be the request that arrives first.
   */
  waitForTurn(text: string, from?: number): Promise<void>;
  /**
   * The last `/api/chat` request whose last message contains `text`: the turn that answered that message.
   * Background work (memory formation, ratings, summaries) also calls the model, sometimes just after a
   * turn's reply, so `requests.at(-1)` may be one of those. Throws when no request matches.
   */
  chatAbout(text: string): RecordedRequest;
  /**
   * The last `/api/chat` request whose last user message is exactly `text`: the chat turn that answered
   * it (a background call that quotes the message wraps it in its own prompt). Throws when none matches.
   */
  turnFor(text: string): RecordedRequest;
  /**
   * Answers the requests 'hang' mode kept, in arrival order, as the current mode does (set 'normal' first
   * for ordinary answers). Returns how many there were.
   */
  releaseHung(): number;
  /** Drops every open connection (hanging streams included) and stops listening. */
  close(): Promise<void>;
}

const EMBEDDING_DIMENSIONS = 16;

/** Whether `request` is the chat turn answering `text`: its last user message is exactly that text. */
const isTurnFor = (request: RecordedRequest, text: string): boolean =>
  request.body.messages?.findLast((message) => message.role === 'user')?.content === text;

export async function startFakeOllama(options: FakeOllamaOptions = {}): Promise<FakeOllama> {
  let mode: FakeOllamaMode = options.mode ?? 'normal';
  /** What 'hang' mode kept: each answers its request when called. */
  const hung: Array<() => void> = [];
  let reply: FakeReply = options.reply ?? echoReply;
  const streams = new StreamCounter();

  const server = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: String(error) });
      else res.destroy();
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    if (req.method === 'GET' && path === '/api/version') return sendJson(res, 200, { version: '0.12.0' });
    if (req.method === 'GET' && path === '/api/tags') return sendJson(res, 200, { models: fake.models.map(tagOf) });
    if (req.method === 'POST' && path === '/api/show') {
      const body = JSON.parse((await readBody(req)) || '{}') as { model?: string };
      if (!isInstalled(fake.models, body.model)) return sendJson(res, 404, { error: `model '${body.model ?? ''}' not found` });
      return sendJson(res, 200, { capabilities: isInstalled(fake.visionModels, body.model) ? ['completion', 'vision'] : ['completion'] });
    }
    if (path.startsWith('/api/blobs/')) return blob(req, res, path.slice('/api/blobs/'.length));
    if (req.method === 'POST' && path === '/api/create') {
      let body: FakeChatBody;
      try {
        body = JSON.parse(await readBody(req)) as FakeChatBody;
      } catch {
        return sendJson(res, 400, { error: 'invalid JSON in request body' });
      }
      fake.createRequests.push({ path, body, time: Date.now() });
      return create(body, res);
    }
    if (req.method === 'POST' && (path === '/api/chat' || path === '/api/embed')) {
      let body: FakeChatBody;
      try {
        body = JSON.parse(await readBody(req)) as FakeChatBody;
      } catch {
        return sendJson(res, 400, { error: 'invalid JSON in request body' });
      }
      const record = { path, body, time: Date.now() };
      if (path === '/api/chat') fake.requests.push(record);
      else fake.embedRequests.push(record);
      streams.changed();
      return path === '/api/chat' ? chat(body, res) : embed(body, res);
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found');
  }

  /** Answers the modes shared by chat and embed; true when it did. */
  function answeredByMode(body: FakeChatBody, res: ServerResponse, answerLater: () => void): boolean {
    if (mode === 'hang') {
      hung.push(answerLater);
      return true;
    }
    if (mode === 'fail') {
      sendJson(res, 500, { error: 'llama runner process has terminated: exit status 2' });
      return true;
    }
    if (mode === 'busy') {
      sendJson(res, 503, { error: 'server busy, please try again.  maximum pending requests exceeded' });
      return true;
    }
    if (!isInstalled(fake.models, body.model)) {
      sendJson(res, 404, { error: `model "${body.model ?? ''}" not found, try pulling it first` });
      return true;
    }
    return false;
  }

  /** `breakOnPurpose`: given for a kept request answered by `releaseHung` (its stream was counted when it arrived). */
  async function chat(body: FakeChatBody, res: ServerResponse, breakOnPurpose = streams.track(res)): Promise<void> {
    if (fake.holdWhen?.(body) === true) return void hung.push(() => void chat(body, res, breakOnPurpose));
    if (answeredByMode(body, res, () => void chat(body, res, breakOnPurpose))) return;
    // As Ollama does for a model without a vision projector.
    if ((body.messages ?? []).some((message) => Array.isArray(message.images) && message.images.length > 0) && !isInstalled(fake.visionModels, body.model)) {
      return sendJson(res, 500, { error: 'this model is missing data required for image input' });
    }

    const model = body.model ?? '';
    const words = splitWords(typeof reply === 'string' ? reply : reply(body));
    const promptEvalCount = (body.messages ?? []).reduce(
      (sum, m) => sum + splitWords(String(m.content ?? '')).length,
      0,
    );
    const final = {
      model,
      created_at: new Date().toISOString(),
      done: true,
      done_reason: 'stop',
      total_duration: 1_000_000,
      load_duration: 100_000,
      prompt_eval_count: promptEvalCount,
      prompt_eval_duration: 200_000,
      eval_count: words.length,
      eval_duration: 700_000,
    };
    if (body.stream === false) {
      return sendJson(res, 200, { ...final, message: { role: 'assistant', content: words.join('') } });
    }

    const contentLine = (content: string): string =>
      JSON.stringify({
        model,
        created_at: new Date().toISOString(),
        message: { role: 'assistant', content },
        done: false,
      });
    let lines = words.map(contentLine);
    if (mode === 'stall') lines = lines.slice(0, 1);
    else if (mode === 'break' || mode === 'error-midstream') lines = lines.slice(0, 2);
    if (mode === 'error-midstream')
      lines.push(JSON.stringify({ error: 'an error was encountered while running the model' }));
    if (mode !== 'stall' && mode !== 'break' && mode !== 'error-midstream') {
      lines.push(JSON.stringify({ ...final, message: { role: 'assistant', content: '' } }));
    }

    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const pieces = fake.byteChunkSize
      ? cutBytes(lines.map((l) => `${l}\n`).join(''), fake.byteChunkSize)
      : lines.map((l) => `${l}\n`);
    for (const piece of pieces) {
      if (mode === 'slow' || fake.byteChunkSize) await delay(fake.chunkDelayMs);
      if (res.destroyed) return;
      await write(res, piece);
    }
    if (mode === 'stall') return;
    if (mode === 'break') {
      breakOnPurpose();
      res.socket?.destroy();
      return;
    }
    res.end();
  }

  async function blob(req: IncomingMessage, res: ServerResponse, digest: string): Promise<void> {
    if (req.method === 'HEAD') {
      res.writeHead(fake.blobs.has(digest) ? 200 : 404).end();
      return;
    }
    if (req.method !== 'POST') return sendJson(res, 405, { error: 'method not allowed' });
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    if (`sha256:${createHash('sha256').update(bytes).digest('hex')}` !== digest) return sendJson(res, 400, { error: 'digest mismatch' });
    fake.blobs.set(digest, bytes.length);
    res.writeHead(201).end();
  }

  async function create(body: FakeChatBody, res: ServerResponse): Promise<void> {
    const from = typeof body['from'] === 'string' ? body['from'] : '';
    if (!isInstalled(fake.models, from)) return sendJson(res, 404, { error: `model "${from}" not found, try pulling it first` });
    const adapters = (body['adapters'] ?? {}) as Record<string, string>;
    for (const digest of Object.values(adapters)) {
      if (!fake.blobs.has(digest)) return sendJson(res, 400, { error: `invalid digest "${digest}": blob not found` });
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const statuses = ['using existing layer sha256:aaaa', ...Object.keys(adapters).map((name) => `using adapter layer ${name}`), 'creating new layer sha256:bbbb', 'writing manifest', 'success'];
    for (const status of statuses) await write(res, `${JSON.stringify({ status })}\n`);
    const model = String(body.model ?? '');
    if (!isInstalled(fake.models, model)) fake.models.push(model.includes(':') ? model : `${model}:latest`);
    res.end();
  }

  function embed(body: FakeChatBody, res: ServerResponse): void {
    if (answeredByMode(body, res, () => embed(body, res))) return;
    const input = body['input'];
    const texts = Array.isArray(input) ? input.map(String) : [String(input ?? '')];
    sendJson(res, 200, { model: body.model, embeddings: texts.map(embeddingOf), total_duration: 1_000_000 });
  }

  const until = (isReached: () => boolean): Promise<void> => streams.until(isReached);

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const fake: FakeOllama = {
    url: `http://127.0.0.1:${port}`,
    models: options.models ? [...options.models] : ['llama3.1:8b', 'nomic-embed-text:latest'],
    visionModels: options.visionModels ? [...options.visionModels] : ['llava:latest'],
    chunkDelayMs: options.chunkDelayMs ?? 20,
    byteChunkSize: null,
    requests: [],
    embedRequests: [],
    createRequests: [],
    blobs: new Map(),
    holdWhen: null,
    get activeStreams() {
      return streams.active;
    },
    get abortedStreams() {
      return streams.aborted;
    },
    setMode: (next) => void (mode = next),
    releaseHung: () => {
      const kept = hung.splice(0);
      for (const answer of kept) answer();
      return kept.length;
    },
    setReply: (next) => void (reply = next),
    waitForDisconnect: (count = 1) => until(() => streams.aborted >= count),
    waitForRequest: (count = 1) => until(() => fake.requests.length >= count),
    waitForTurn: (text, from = fake.requests.length) =>
      until(() => fake.requests.slice(from).some((request) => isTurnFor(request, text))),
    chatAbout: (text) => {
      const found = fake.requests.findLast((request) => request.body.messages?.at(-1)?.content.includes(text) ?? false);
      if (found === undefined) throw new Error(`no /api/chat request ends with a message containing "${text}" (${fake.requests.length} requests)`);
      return found;
    },
    turnFor: (text) => {
      const found = fake.requests.findLast((request) => isTurnFor(request, text));
      if (found === undefined) throw new Error(`no /api/chat request has "${text}" as its last user message (${fake.requests.length} requests)`);
      return found;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
  return fake;
}

/** `<Name> hears you: <last user message>`, Name from "You are Name" in the system prompt. */
export function echoReply(body: FakeChatBody): string {
  const messages = body.messages ?? [];
  const system = messages.find((m) => m.role === 'system')?.content ?? '';
  const name = /\bYou are ([A-Z][\w-]*)/.exec(system)?.[1] ?? 'Assistant';
  const lastUser = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  return `${name} hears you: ${lastUser}`;
}

/** Word-sized pieces that join back into the text exactly ("Hi there" → ["Hi ", "there"]). */
function splitWords(text: string): string[] {
  return text.match(/^\s+|\S+\s*/g) ?? [];
}

function cutBytes(text: string, size: number): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  const pieces: Buffer[] = [];
  for (let start = 0; start < bytes.length; start += size) pieces.push(bytes.subarray(start, start + size));
  return pieces;
}

function isInstalled(models: string[], model: string | undefined): boolean {
  if (!model) return false;
  const withTag = (name: string): string => (name.includes(':') ? name : `${name}:latest`);
  return models.some((installed) => withTag(installed) === withTag(model));
}

function tagOf(name: string): object {
  const size = /:(\d+(?:\.\d+)?)b$/i.exec(name)?.[1];
  return {
    name,
    model: name,
    modified_at: '2025-01-01T00:00:00Z',
    size: 4_920_753_328,
    digest: createHash('sha256').update(name).digest('hex'),
    details: {
      parent_model: '',
      format: 'gguf',
      family: name.startsWith('nomic') ? 'nomic-bert' : 'llama',
      families: null,
      parameter_size: size ? `${Number(size).toFixed(1)}B` : '137M',
      quantization_level: 'Q4_K_M',
    },
  };
}

function embeddingOf(text: string): number[] {
  const digest = createHash('sha256').update(text).digest();
  const raw = Array.from({ length: EMBEDDING_DIMENSIONS }, (_, i) => (digest[i] ?? 0) / 127.5 - 1);
  const norm = Math.hypot(...raw) || 1;
  return raw.map((value) => value / norm);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function write(res: ServerResponse, data: string | Buffer): Promise<void> {
  return new Promise((resolve) => res.write(data, () => resolve()));
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
