/**
 * The Ollama backend: streaming chat over `POST /api/chat` (NDJSON), the model list from `GET /api/tags`,
 * and a cheap, cached reachability probe for `/readyz` and `system.status`. Every failure becomes an
 * `AppError` (see `ollama-errors.ts`).
 */
import { z } from 'zod';
import { AppError, isAppError } from '../../domain/errors.js';
import type { Clock } from '../../ports/clock.js';
import { systemClock } from '../../ports/clock.js';
import type { LlmChatEvent, LlmChatRequest, LlmMessage, LlmModel, LlmProvider, LlmStatus } from '../../ports/llm.js';
import { causeOf } from '../../logger.js';
import { NdjsonLineSplitter } from './ndjson.js';
import { HttpClient, releaseAnswer, wasDroppedAfterSending } from '../llm-http/http-client.js';
import { RequestScope, sendIdempotent } from '../llm-http/request-scope.js';
import { StatusProbe } from '../llm-http/status-probe.js';
import {
  chatCancelled,
  errorFromResponse,
  ollamaDroppedRequest,
  ollamaFailed,
  ollamaTimedOut,
  ollamaUnreachable,
  replyBrokeOff,
} from './ollama-errors.js';

/** Where Ollama listens when OLLAMA_HOST is not set. */
export const DEFAULT_OLLAMA_URL = 'http://127.0.0.1:11434';

/** The subset of a pino logger this adapter uses. */
export interface OllamaLogger {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface OllamaProviderOptions {
  /** Ollama's base URL without trailing slash, e.g. `http://127.0.0.1:11434` (see `normalizeOllamaHost`). */
  baseUrl: string;
  /** Limit for a whole chat turn, from sending the request to the final token. Defaults to 120 000 ms. */
  requestTimeoutMs?: number;
  /**
   * Limit until the first byte of the reply arrives. Ollama loads the model before it answers, so this
   * covers a cold start. Defaults to 60 000 ms.
   */
  firstTokenTimeoutMs?: number;
  /**
   * Limit until Ollama sends response headers. Ollama sends them together with the first token, so this
   * only matters when set below `firstTokenTimeoutMs`, e.g. to fail fast on a host that swallows packets.
   * Defaults to `firstTokenTimeoutMs`.
   */
  connectTimeoutMs?: number;
  /** Limit for `listModels`. Defaults to 5000 ms. */
  listTimeoutMs?: number;
  /** Limit for the probe behind `status()`. Defaults to 2000 ms. */
  statusTimeoutMs?: number;
  /** How long `status()` reuses its last answer, so that probes under load do not hammer Ollama. Defaults to 2000 ms. */
  statusCacheMs?: number;
  /** Defaults to a logger that drops everything. */
  logger?: OllamaLogger;
  /** Clock for the status cache. Defaults to the system clock. */
  clock?: Clock;
}

const silentLogger: OllamaLogger = { warn() {}, debug() {} };

/**
 * One line of Ollama's chat stream. Unknown fields (timings, `thinking`, ...) are ignored. Checked by
 * hand, not with zod: a reply is one line per token, and a schema parse per line was the largest single
 * cost of a turn in the chat bench's profile.
 */
interface ChatChunk {
  model?: string | null;
  message?: { content?: string | null } | null;
  done?: boolean | null;
  error?: string | null;
  prompt_eval_count?: number | null;
  eval_count?: number | null;
}

const CHUNK_FIELDS: ReadonlyArray<[keyof ChatChunk, 'string' | 'boolean' | 'number']> = [
  ['model', 'string'],
  ['done', 'boolean'],
  ['error', 'string'],
  ['prompt_eval_count', 'number'],
  ['eval_count', 'number'],
];

/** The line as a chunk, or null when a field has an unexpected type. */
function asChatChunk(json: unknown): ChatChunk | null {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return null;
  const record = json as Record<string, unknown>;
  for (const [field, type] of CHUNK_FIELDS) {
    const value = record[field];
    if (value !== undefined && value !== null && typeof value !== type) return null;
  }
  const message = record.message;
  if (message !== undefined && message !== null) {
    if (typeof message !== 'object' || Array.isArray(message)) return null;
    const content = (message as Record<string, unknown>).content;
    if (content !== undefined && content !== null && typeof content !== 'string') return null;
  }
  return record as ChatChunk;
}

/** `{ embeddings: number[][] }`, checked by hand (a schema walk over 768 numbers per text costs more than the request). */
function embeddingsOf(json: unknown): number[][] | null {
  if (typeof json !== 'object' || json === null) return null;
  const embeddings = (json as { embeddings?: unknown }).embeddings;
  if (!Array.isArray(embeddings)) return null;
  for (const vector of embeddings as unknown[]) {
    if (!Array.isArray(vector)) return null;
    for (const value of vector as unknown[]) if (typeof value !== 'number') return null;
  }
  return embeddings as number[][];
}

const TagsResponse = z.object({
  models: z.array(
    z.object({
      name: z.string(),
      size: z.number().nullish(),
      modified_at: z.string().nullish(),
      details: z.object({ family: z.string().nullish(), parameter_size: z.string().nullish() }).nullish(),
    }),
  ),
});

export class OllamaProvider implements LlmProvider {
  readonly name = 'ollama';
  private readonly baseUrl: string;
  private readonly requestTimeoutMs: number;
  private readonly firstTokenTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly listTimeoutMs: number;
  private readonly statusTimeoutMs: number;
  private readonly logger: OllamaLogger;
  private readonly clock: Clock;
  private readonly statusProbe: StatusProbe;
  private readonly capabilityCache = new Map<string, string[]>();
  /** Kept-alive connections to Ollama (node:http, not fetch: a third of the CPU per call). */
  private readonly http: HttpClient;

  constructor(options: OllamaProviderOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.http = new HttpClient(this.baseUrl);
    this.requestTimeoutMs = options.requestTimeoutMs ?? 120_000;
    this.firstTokenTimeoutMs = options.firstTokenTimeoutMs ?? 60_000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? this.firstTokenTimeoutMs;
    this.listTimeoutMs = options.listTimeoutMs ?? 5_000;
    this.statusTimeoutMs = options.statusTimeoutMs ?? 2_000;
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    this.statusProbe = new StatusProbe({
      provider: this.name,
      endpoint: this.baseUrl,
      cacheMs: options.statusCacheMs ?? 2_000,
      clock: this.clock,
      listModelNames: async () => (await this.fetchTags(this.statusTimeoutMs, undefined, 1)).map((model) => model.name),
      onUnreachable: (message) => this.logger.warn({ endpoint: this.baseUrl }, message),
    });
  }

  /** Never retried: once tokens have streamed, a second request would not continue the same reply. */
  chat(request: LlmChatRequest, signal: AbortSignal): AsyncIterable<LlmChatEvent> {
    return this.streamChat(request, signal);
  }

  private async *streamChat(request: LlmChatRequest, signal: AbortSignal): AsyncGenerator<LlmChatEvent> {
    if (signal.aborted) throw chatCancelled();
    // Background work (the turn appraisal, doc2query, summaries, judgements) is read whole by its job:
    // asked for unstreamed, its reply is one JSON object instead of an NDJSON line, a parse and a yield
    // through the adapter stack per token (most of a background call's CPU here; Ollama writes less too).
    const isStreamed = request.priority !== 'background';
    const scope = new RequestScope(signal);
    scope.startTimer('total', this.requestTimeoutMs);
    // Unstreamed, Ollama answers (headers and all) only once the reply is complete: the whole-reply limit applies.
    if (isStreamed) scope.startTimer('first-token', this.firstTokenTimeoutMs);
    // Ollama sends headers with the first token, so a headers limit only adds something when it is shorter.
    if (isStreamed && this.connectTimeoutMs < this.firstTokenTimeoutMs) scope.startTimer('headers', this.connectTimeoutMs);
    let hasResponse = false;
    const startedAt = this.clock.now();
    try {
      const response = await this.http.request('/api/chat', {
        headers: { accept: 'application/x-ndjson' },
        body: JSON.stringify({
          model: request.model,
          messages: request.messages.map(toOllamaMessage),
          stream: isStreamed,
          options: { num_predict: request.maxTokens, num_ctx: request.contextTokens, ...request.options },
        }),
        signal: scope.signal,
      });
      hasResponse = true;
      scope.stopTimer('headers');
      if (!response.ok) {
        const failure = await errorFromResponse(response, this.baseUrl, request.model);
        // Ollama refuses pictures for a model without a vision projector ("missing data required for image input").
        if (request.messages.some((message) => (message.images?.length ?? 0) > 0) && /image/i.test(failure.message)) throw cannotSee(request.model, failure.message);
        throw failure;
      }
      if (!isStreamed) {
        const chunk = parseChunk((await response.text()).trim());
        if (!chunk.done) throw replyBrokeOff('the reply ended before its final message');
        scope.finish();
        const text = chunk.message?.content;
        if (text) yield { type: 'delta', text };
        yield { type: 'done', promptTokens: chunk.prompt_eval_count ?? null, completionTokens: chunk.eval_count ?? null, model: chunk.model ?? request.model };
        return;
      }
      const chunks = response.body[Symbol.asyncIterator]();
      const splitter = new NdjsonLineSplitter();
      for (;;) {
        const { value, done: ended } = await chunks.next();
        if (!ended) scope.stopTimer('first-token');
        const read = readLines(ended ? splitter.flush() : splitter.push(value));
        if (read.text !== '') yield { type: 'delta', text: read.text };
        if (read.failure !== null) throw read.failure;
        const last = read.last;
        if (last !== null) {
          // The reply is whole: the connection is kept for the next call, not closed with the scope.
          scope.finish();
          if (!ended) releaseAnswer(chunks);
          this.logger.debug({ model: request.model, ms: this.clock.now() - startedAt, completionTokens: last.eval_count }, 'ollama chat finished');
          yield {
            type: 'done',
            promptTokens: last.prompt_eval_count ?? null,
            completionTokens: last.eval_count ?? null,
            model: last.model ?? request.model,
          };
          return;
        }
        if (ended) throw replyBrokeOff('the stream ended without its final message');
      }
    } catch (error) {
      const appError = this.explain(error, scope, hasResponse, chatCancelled);
      if (appError.kind !== 'cancelled') {
        // An expected condition (Ollama down, a model not pulled): what happened, without a stack.
        this.logger.warn({ model: request.model, kind: appError.kind, cause: causeOf(appError.detail) }, appError.message);
      }
      throw appError;
    } finally {
      // Closes the socket when the stream is still open: the caller stopped early, or something failed.
      scope.dispose();
    }
  }

  /** `GET /api/tags`. Retried once on a connection error, which is safe because it changes nothing. */
  async listModels(signal?: AbortSignal): Promise<LlmModel[]> {
    return this.fetchTags(this.listTimeoutMs, signal, 2);
  }

  /**
   * `POST /api/embed` with every text in one request. Limited by `listTimeoutMs` (an embedding is a
   * short request); retried once on a connection error, which is safe because it changes nothing.
   */
  embed(texts: readonly string[], model: string, signal?: AbortSignal): Promise<number[][]> {
    const explain = (error: unknown, scope: RequestScope, hasResponse: boolean) => this.explain(error, scope, hasResponse, embedCancelled);
    return sendIdempotent({ signal, timeoutMs: this.listTimeoutMs, attempts: 2, cancelled: embedCancelled, explain }, async (scope, responded) => {
      const response = await this.http.request('/api/embed', { body: JSON.stringify({ model, input: texts }), signal: scope.signal });
      responded();
      if (!response.ok) throw await errorFromResponse(response, this.baseUrl, model);
      const embeddings = embeddingsOf(await response.json().catch(() => undefined));
      if (embeddings === null || embeddings.length !== texts.length) {
        throw ollamaFailed('Ollama sent embeddings this server cannot read.', embeddings === null ? { shape: 'not { embeddings: number[][] }' } : { count: embeddings.length });
      }
      return embeddings;
    });
  }

  /**
   * `POST /api/show`: the model's `capabilities` ("vision" when it takes pictures). Null when Ollama is
   * too old to say, or cannot be asked; cached per model, since a model's abilities do not change.
   */
  async capabilities(model: string, signal?: AbortSignal): Promise<string[] | null> {
    const cached = this.capabilityCache.get(model);
    if (cached !== undefined) return cached;
    const scope = new RequestScope(signal);
    scope.startTimer('total', this.listTimeoutMs);
    try {
      const response = await this.http.request('/api/show', { body: JSON.stringify({ model }), signal: scope.signal });
      if (!response.ok) return null;
      const body = (await response.json().catch(() => null)) as { capabilities?: unknown } | null;
      scope.finish();
      const capabilities = Array.isArray(body?.capabilities) ? body.capabilities.filter((item): item is string => typeof item === 'string') : null;
      if (capabilities !== null) this.capabilityCache.set(model, capabilities);
      return capabilities;
    } catch {
      return null;
    } finally {
      scope.dispose();
    }
  }

  /** Never throws; answers from a cache for `statusCacheMs`, and concurrent callers share one probe. */
  status(): Promise<LlmStatus> {
    return this.statusProbe.status();
  }

  private fetchTags(timeoutMs: number, signal: AbortSignal | undefined, attempts: number): Promise<LlmModel[]> {
    const explain = (error: unknown, scope: RequestScope, hasResponse: boolean) => this.explain(error, scope, hasResponse, listCancelled);
    const onRetry = (attempt: number) => this.logger.debug({ endpoint: this.baseUrl, attempt }, 'retrying /api/tags after a connection error');
    return sendIdempotent({ signal, timeoutMs, attempts, cancelled: listCancelled, explain, onRetry }, async (scope, responded) => {
      const response = await this.http.request('/api/tags', { signal: scope.signal });
      responded();
      if (!response.ok) throw await errorFromResponse(response, this.baseUrl);
      const parsed = TagsResponse.safeParse(await response.json().catch(() => undefined));
      if (!parsed.success) throw ollamaFailed('Ollama sent a model list this server cannot read.', parsed.error);
      return parsed.data.models.map((model) => ({
        name: model.name,
        sizeBytes: model.size ?? null,
        family: model.details?.family ?? null,
        parameterSize: model.details?.parameter_size ?? null,
        modifiedAt: model.modified_at ?? null,
      }));
    });
  }

  /** Names the failure: ours (already an AppError), the caller's abort, a limit, or the network. */
  private explain(error: unknown, scope: RequestScope, hasResponse: boolean, cancelled: () => AppError): AppError {
    const stop = scope.stopCause;
    if (stop?.by === 'caller') return cancelled();
    if (stop?.by === 'timeout') return ollamaTimedOut(stop.timeout, stop.ms);
    if (isAppError(error)) return error;
    if (!hasResponse) return wasDroppedAfterSending(error) ? ollamaDroppedRequest(this.baseUrl, error) : ollamaUnreachable(this.baseUrl, error);
    return replyBrokeOff('the connection closed mid-reply', error);
  }
}

/** Ollama's message shape: pictures are a list of bare base64 strings. */
function toOllamaMessage(message: LlmMessage): { role: string; content: string; images?: string[] } {
  if (message.images === undefined || message.images.length === 0) return { role: message.role, content: message.content };
  return { role: message.role, content: message.content, images: message.images.map((image) => image.data) };
}

function cannotSee(model: string, detail: string): AppError {
  return new AppError('model_cannot_see', `The model ${model} cannot look at pictures (Ollama: ${detail}). Pick a vision model for this persona (e.g. \`ollama pull llava\`), or describe the picture in words; your message was kept.`, {
    data: { model },
  });
}

function embedCancelled(): AppError {
  return new AppError('cancelled', 'The embedding request was cancelled.');
}

function listCancelled(): AppError {
  return new AppError('cancelled', 'Listing the models was cancelled.');
}

/**
 * The lines of one network read as one delta: a model that streams a token per write sends one line per
 * read, but lines that arrived together (an instant model, or a reply read while the event loop was busy)
 * go on as one piece instead of one event per token through the provider stack and one chunk notification
 * each to the client. `last` is the final line (`done`), lines after it ignored; `failure`, a line that is
 * not a chunk — the text before it is still passed on.
 */
function readLines(lines: readonly string[]): { text: string; last: ChatChunk | null; failure: unknown } {
  let text = '';
  for (const line of lines) {
    const token = tokenOf(line);
    if (token !== null) {
      text += token;
      continue;
    }
    let chunk: ChatChunk;
    try {
      chunk = parseChunk(line);
    } catch (error) {
      return { text, last: null, failure: error };
    }
    text += chunk.message?.content ?? '';
    if (chunk.done) return { text, last: chunk, failure: null };
  }
  return { text, last: null, failure: null };
}

/**
 * A token line exactly as Ollama writes one (Go's encoding/json: the fields in its struct's order, the empty
 * ones left out): `{"model":"…","created_at":"…","message":{"role":"assistant","content":"…"},"done":false}`.
 * Only the content's JSON string is parsed; any other line (the final one, an error, thinking, tool calls,
 * another field or order) is parsed whole by {@link parseChunk}.
 */
const TOKEN_LINE = /^\{"model":"[^"\\]*","created_at":"[^"\\]*","message":\{"role":"assistant","content":("(?:[^"\\]|\\.)*")\},"done":false\}$/;

/**
 * The text of a token line, or null for a line to parse whole. A reply is one line per token: the whole
 * line's `JSON.parse` and shape check cost ~3× this (0.86 against 0.28 µs a line in a loop).
 */
function tokenOf(line: string): string | null {
  const content = TOKEN_LINE.exec(line)?.[1];
  if (content === undefined) return null;
  try {
    return JSON.parse(content) as string;
  } catch {
    return null; // not valid JSON after all (a raw control character): parseChunk names the failure
  }
}

function parseChunk(line: string): ChatChunk {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (error) {
    throw replyBrokeOff('a line was not valid JSON', { line: line.slice(0, 200), error });
  }
  const chunk = asChatChunk(json);
  if (chunk === null) throw replyBrokeOff('a line had an unexpected shape', { line: line.slice(0, 200) });
  if (chunk.error) throw replyBrokeOff(`Ollama reported: ${chunk.error}`, chunk);
  return chunk;
}

/**
 * Turns an OLLAMA_HOST value into a base URL without trailing slash, following Ollama's own rules so
 * that one variable serves both `ollama` and this server: no scheme means `http` on port 11434
 * (`localhost` → `http://localhost:11434`, `:8080` → `http://127.0.0.1:8080`); an explicit scheme
 * without a port keeps that scheme's port (`https://x` → `https://x`); the bind-all address `0.0.0.0`
 * becomes `127.0.0.1`, where a client can reach it. Empty or undefined → `DEFAULT_OLLAMA_URL`.
 * Throws a plain `Error` naming the value when it is not a host or URL.
 */
export function normalizeOllamaHost(value: string | undefined): string {
  const raw = (value ?? '').trim();
  if (raw === '') return DEFAULT_OLLAMA_URL;
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw);
  const candidate = hasScheme ? raw : `http://${raw.startsWith(':') ? `127.0.0.1${raw}` : raw}`;
  let url: URL;
  try {
    url = new URL(candidate);
  } catch {
    throw new Error(`OLLAMA_HOST "${raw}" is not a host or URL; use e.g. 127.0.0.1:11434 or http://host:11434.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`OLLAMA_HOST "${raw}" must use http or https.`);
  }
  if (!hasScheme && url.port === '') url.port = '11434';
  if (url.hostname === '0.0.0.0' || url.hostname === '[::]') url.hostname = '127.0.0.1';
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}
