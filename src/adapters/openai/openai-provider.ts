/**
 * An OpenAI-compatible backend: streaming chat over `POST /v1/chat/completions` (Server-Sent Events, read
 * with the server's own `HttpClient` and `eventsource-parser`), and through the official `openai` client the
 * model list from `GET /v1/models`, embeddings from `POST /v1/embeddings`, and a cached reachability probe.
 * The chat left the `openai` client because its `fetch`, web streams and per-event objects cost ~2 ms of
 * CPU per reply against ~0.9 ms this way (issue 15; bench/README.md, round 7); its error classes still
 * name a failed answer (`APIError.generate`), so both paths fail alike. llama.cpp's `llama-server`, vLLM, LM Studio,
 * LocalAI and hosted OpenAI-style APIs all speak this. Every failure becomes an `AppError`
 * (see `openai-errors.ts`); the same limits as the Ollama backend apply (total, first token, headers).
 */
import OpenAI, { APIError } from 'openai';
import type { ChatCompletionContentPart, ChatCompletionCreateParamsStreaming, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { AppError, isAppError } from '../../domain/errors.js';
import type { Clock } from '../../ports/clock.js';
import { systemClock } from '../../ports/clock.js';
import type { LlmChatEvent, LlmChatRequest, LlmMessage, LlmModel, LlmProvider, LlmStatus } from '../../ports/llm.js';
import { HttpClient, releaseAnswer, wasDroppedAfterSending, type HttpAnswer } from '../llm-http/http-client.js';
import { RequestScope, sendIdempotent } from '../llm-http/request-scope.js';
import { StatusProbe } from '../llm-http/status-probe.js';
import { errorFromApi, isApiError, openAiBrokeOff, openAiCancelled, openAiDroppedRequest, openAiTimedOut, openAiUnreachable } from './openai-errors.js';
import { ServerSentEventSplitter } from './sse-events.js';

/** The subset of a pino logger this adapter uses. */
export interface OpenAiLogger {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface OpenAiProviderOptions {
  /** The backend's name in config and model references (`openai`, `vllm`, ...). Defaults to `openai`. */
  name?: string;
  /** Base URL including `/v1`, e.g. `http://127.0.0.1:8080/v1` (llama-server) or `https://api.openai.com/v1`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer KEY`; local servers usually need none, and then no header is sent. */
  apiKey?: string | undefined;
  /**
   * Pass sampling options OpenAI's own API does not know (`top_k`, `min_p`, `repeat_penalty`) in the body:
   * llama.cpp, vLLM, LM Studio and LocalAI read them, the hosted OpenAI API refuses them. Defaults to true.
   */
  sendExtraOptions?: boolean;
  /** Limit for a whole chat turn. Defaults to 120 000 ms. */
  requestTimeoutMs?: number;
  /** Limit until the first streamed event (a server loading its model included). Defaults to 60 000 ms. */
  firstTokenTimeoutMs?: number;
  /** Limit for listing models and for embeddings. Defaults to 5000 ms. */
  listTimeoutMs?: number;
  /** Limit for the probe behind `status()`. Defaults to 2000 ms. */
  statusTimeoutMs?: number;
  /** How long `status()` reuses its last answer. Defaults to 2000 ms. */
  statusCacheMs?: number;
  logger?: OpenAiLogger;
  clock?: Clock;
}

/** Sampling options OpenAI's API itself takes, from the Ollama-style names personas use. */
const STANDARD_OPTIONS: Record<string, string> = {
  temperature: 'temperature',
  top_p: 'top_p',
  seed: 'seed',
  presence_penalty: 'presence_penalty',
  frequency_penalty: 'frequency_penalty',
};
/** Options the common local servers read beyond OpenAI's own (llama.cpp, vLLM, LM Studio, LocalAI). */
const EXTRA_OPTIONS = new Set(['top_k', 'min_p', 'repeat_penalty', 'typical_p', 'mirostat', 'mirostat_tau', 'mirostat_eta']);

const silentLogger: OpenAiLogger = { warn() {}, debug() {} };

export class OpenAiProvider implements LlmProvider {
  readonly name: string;
  private readonly client: OpenAI;
  private readonly baseUrl: string;
  private readonly sendExtraOptions: boolean;
  private readonly requestTimeoutMs: number;
  private readonly firstTokenTimeoutMs: number;
  private readonly listTimeoutMs: number;
  private readonly statusTimeoutMs: number;
  private readonly logger: OpenAiLogger;
  private readonly clock: Clock;
  private readonly statusProbe: StatusProbe;
  /** Kept-alive connections for the chat stream. */
  private readonly http: HttpClient;
  private readonly chatHeaders: Record<string, string>;

  constructor(options: OpenAiProviderOptions) {
    this.name = options.name ?? 'openai';
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.sendExtraOptions = options.sendExtraOptions ?? true;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 120_000;
    this.firstTokenTimeoutMs = options.firstTokenTimeoutMs ?? 60_000;
    this.listTimeoutMs = options.listTimeoutMs ?? 5_000;
    this.statusTimeoutMs = options.statusTimeoutMs ?? 2_000;
    this.logger = options.logger ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    this.statusProbe = new StatusProbe({
      provider: this.name,
      endpoint: this.baseUrl,
      cacheMs: options.statusCacheMs ?? 2_000,
      clock: this.clock,
      listModelNames: async () => (await this.fetchModels(this.statusTimeoutMs, undefined, 1)).map((model) => model.name),
      onUnreachable: (message) => this.logger.warn({ backend: this.name, endpoint: this.baseUrl }, message),
    });
    const hasKey = options.apiKey !== undefined && options.apiKey !== '';
    this.http = new HttpClient(this.baseUrl);
    this.chatHeaders = { accept: 'text/event-stream', ...(hasKey ? { authorization: `Bearer ${options.apiKey}` } : {}) };
    this.client = new OpenAI({
      baseURL: this.baseUrl,
      // The client insists on a key; local servers need none, so without one the header is left out below.
      apiKey: hasKey ? options.apiKey : 'no-key',
      ...(hasKey ? {} : { defaultHeaders: { Authorization: null } }),
      // Our own limits (RequestScope) decide; the client's are set past them so they never fire first.
      timeout: Math.max(this.requestTimeoutMs, this.listTimeoutMs) + 5_000,
      // Retries are ours to decide: a chat is never retried, a list or embedding once on a connection error.
      maxRetries: 0,
    });
  }

  chat(request: LlmChatRequest, signal: AbortSignal): AsyncIterable<LlmChatEvent> {
    return this.streamChat(request, signal);
  }

  private async *streamChat(request: LlmChatRequest, signal: AbortSignal): AsyncGenerator<LlmChatEvent> {
    if (signal.aborted) throw openAiCancelled('The chat');
    const scope = new RequestScope(signal);
    scope.startTimer('total', this.requestTimeoutMs);
    scope.startTimer('first-token', this.firstTokenTimeoutMs);
    let hasResponse = false;
    const startedAt = this.clock.now();
    try {
      const response = await this.http.request('/chat/completions', { body: JSON.stringify(this.chatParams(request)), headers: this.chatHeaders, signal: scope.signal });
      hasResponse = true;
      if (!response.ok) throw await apiErrorOf(response);
      let finishReason: string | null = null;
      let usage: CompletionChunk['usage'] = null;
      let model = request.model;
      let isOver = false;
      const chunks = response.body[Symbol.asyncIterator]();
      const splitter = new ServerSentEventSplitter();
      for (;;) {
        const { value, done: ended } = await chunks.next();
        if (ended) break;
        // The events of one network read go on as one delta (see the Ollama adapter's `readLines`); an
        // event that ends the reply with an error still lets the text before it through.
        let text = '';
        let failure: { error: unknown } | null = null;
        try {
          for (const event of splitter.push(value)) {
            scope.stopTimer('first-token');
            if (event.data === '[DONE]') {
              isOver = true;
              break;
            }
            const chunk = this.parseChunk(event.data, event.event);
            if (chunk.model) model = chunk.model;
            if (chunk.usage) usage = chunk.usage;
            const choice = chunk.choices?.[0];
            text += choice?.delta?.content ?? '';
            if (choice?.finish_reason) finishReason = choice.finish_reason;
          }
        } catch (error) {
          failure = { error };
        }
        if (text !== '') yield { type: 'delta', text };
        if (failure !== null) throw failure.error;
        if (isOver) break;
      }
      if (finishReason === null) throw openAiBrokeOff(this.name, 'the stream ended without a finish reason');
      // The reply is whole: the connection is kept for the next call (what follows [DONE] is read and dropped).
      scope.finish();
      if (isOver) releaseAnswer(chunks);
      this.logger.debug({ backend: this.name, model, ms: this.clock.now() - startedAt, finishReason }, 'openai chat finished');
      yield {
        type: 'done',
        promptTokens: usage?.prompt_tokens ?? null,
        completionTokens: usage?.completion_tokens ?? null,
        model: request.model,
      };
    } catch (error) {
      const appError = this.explain(error, scope, hasResponse, () => openAiCancelled('The chat'), request.model);
      if (appError.kind !== 'cancelled') {
        this.logger.warn({ backend: this.name, model: request.model, kind: appError.kind, detail: appError.detail }, appError.message);
      }
      throw appError;
    } finally {
      scope.dispose();
    }
  }

  /** One event's data as a completion chunk; an error event, or data that is not a chunk, ends the reply. */
  private parseChunk(data: string, eventType: string | undefined): CompletionChunk {
    let json: unknown;
    try {
      json = JSON.parse(data);
    } catch (error) {
      throw openAiBrokeOff(this.name, 'an event was not valid JSON', { data: data.slice(0, 200), error });
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw openAiBrokeOff(this.name, 'an event had an unexpected shape', { data: data.slice(0, 200) });
    const record = json as Record<string, unknown>;
    // An error inside a started stream: `data: {"error": {...}}`, or an `event: error`.
    if (record['error'] !== undefined && record['error'] !== null) throw openAiBrokeOff(this.name, `the server reported: ${errorMessageOf(record['error'])}`, record['error']);
    if (eventType === 'error') throw openAiBrokeOff(this.name, `the server reported: ${errorMessageOf(record)}`, record);
    if (!isCompletionChunk(record)) throw openAiBrokeOff(this.name, 'an event had an unexpected shape', { data: data.slice(0, 200) });
    return record;
  }

  private chatParams(request: LlmChatRequest): ChatCompletionCreateParamsStreaming {
    const params: ChatCompletionCreateParamsStreaming & Record<string, unknown> = {
      model: request.model,
      messages: request.messages.map(toOpenAiMessage),
      stream: true,
      // Token counts arrive in a last chunk only when asked for (llama.cpp, vLLM and LM Studio honour it).
      stream_options: { include_usage: true },
      max_tokens: request.maxTokens,
    };
    for (const [key, value] of Object.entries(request.options ?? {})) {
      const standard = STANDARD_OPTIONS[key];
      if (standard !== undefined) params[standard] = value;
      else if (this.sendExtraOptions && EXTRA_OPTIONS.has(key)) params[key] = value;
    }
    return params;
  }

  /** `GET /v1/models`; retried once on a connection error, which is safe because it changes nothing. */
  listModels(signal?: AbortSignal): Promise<LlmModel[]> {
    return this.fetchModels(this.listTimeoutMs, signal, 2);
  }

  /** `POST /v1/embeddings` with every text in one request, vectors in input order. */
  embed(texts: readonly string[], model: string, signal?: AbortSignal): Promise<number[][]> {
    const cancelled = () => openAiCancelled('The embedding request');
    const explain = (error: unknown, scope: RequestScope, hasResponse: boolean) => this.explain(error, scope, hasResponse, cancelled, model);
    return sendIdempotent({ signal, timeoutMs: this.listTimeoutMs, attempts: 2, cancelled, explain }, async (scope, responded) => {
      const response = await this.client.embeddings.create({ model, input: [...texts], encoding_format: 'float' }, { signal: scope.signal });
      responded();
      const vectors = [...response.data].sort((a, b) => a.index - b.index).map((item) => item.embedding);
      if (vectors.length !== texts.length || vectors.some((vector) => !Array.isArray(vector))) {
        throw new AppError('llm_failed', `"${this.name}" sent embeddings this server cannot read.`, { detail: { count: vectors.length } });
      }
      return vectors;
    });
  }

  /** Never throws; answers from a cache for `statusCacheMs`, and concurrent callers share one probe. */
  status(): Promise<LlmStatus> {
    return this.statusProbe.status();
  }

  private fetchModels(timeoutMs: number, signal: AbortSignal | undefined, attempts: number): Promise<LlmModel[]> {
    const cancelled = () => openAiCancelled('Listing the models');
    const explain = (error: unknown, scope: RequestScope, hasResponse: boolean) => this.explain(error, scope, hasResponse, cancelled);
    return sendIdempotent({ signal, timeoutMs, attempts, cancelled, explain }, async (scope, responded) => {
      const models: LlmModel[] = [];
      // One page is what local servers send; hosted APIs page, and the client follows the pages.
      for await (const model of this.client.models.list({ signal: scope.signal })) {
        responded();
        models.push({
          name: model.id,
          sizeBytes: null,
          family: null,
          parameterSize: null,
          modifiedAt: typeof model.created === 'number' && model.created > 0 ? new Date(model.created * 1000).toISOString() : null,
        });
      }
      return models;
    });
  }

  /** Names the failure: ours (already an AppError), the caller's abort, a limit, the server's answer, or the network. */
  private explain(error: unknown, scope: RequestScope, hasResponse: boolean, cancelled: () => AppError, model?: string): AppError {
    const stop = scope.stopCause;
    if (stop?.by === 'caller') return cancelled();
    if (stop?.by === 'timeout') return openAiTimedOut(this.name, stop.timeout, stop.ms);
    if (isAppError(error)) return error;
    if (isApiError(error)) {
      // An error event inside a started stream arrives as an APIError without an HTTP status.
      if (error.status === undefined) return openAiBrokeOff(this.name, `the server reported: ${error.message}`, error);
      return errorFromApi(error, this.name, this.baseUrl, model);
    }
    if (!hasResponse) return wasDroppedAfterSending(error) ? openAiDroppedRequest(this.name, this.baseUrl, error) : openAiUnreachable(this.name, this.baseUrl, error);
    return openAiBrokeOff(this.name, 'the connection closed mid-reply', error);
  }
}

/**
 * The fields of a streamed `chat.completion.chunk` the adapter reads; the rest is ignored. Checked by hand,
 * as Ollama's lines are: a reply is one event per token.
 */
interface CompletionChunk {
  model?: string | null;
  choices?: Array<{ delta?: { content?: string | null } | null; finish_reason?: string | null }> | null;
  usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
}

function isCompletionChunk(json: object): json is CompletionChunk {
  const { model, choices, usage } = json as Record<string, unknown>;
  if (model !== undefined && model !== null && typeof model !== 'string') return false;
  if (usage !== undefined && usage !== null && typeof usage !== 'object') return false;
  if (choices === undefined || choices === null) return true;
  if (!Array.isArray(choices)) return false;
  const first: unknown = choices[0];
  if (first === undefined) return true;
  if (typeof first !== 'object' || first === null) return false;
  const { delta, finish_reason: finishReason } = first as Record<string, unknown>;
  if (finishReason !== undefined && finishReason !== null && typeof finishReason !== 'string') return false;
  if (delta === undefined || delta === null) return true;
  if (typeof delta !== 'object') return false;
  const content = (delta as Record<string, unknown>)['content'];
  return content === undefined || content === null || typeof content === 'string';
}

/** `{"message": "..."}` of an error object, else the object as JSON. */
function errorMessageOf(error: unknown): string {
  if (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string') return (error as { message: string }).message;
  return typeof error === 'string' ? error : JSON.stringify(error);
}

/**
 * A non-2xx answer as the `openai` client's own error (`NotFoundError`, `RateLimitError`, ...), built the
 * way the client builds it, so `errorFromApi` names it as before.
 */
async function apiErrorOf(response: HttpAnswer): Promise<APIError> {
  const text = await response.text().catch((error: unknown) => (error instanceof Error ? error.message : String(error)));
  let json: object | undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null) json = parsed;
  } catch {
    // Not JSON (a proxy's page): the text is the message.
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(response.headers)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  return APIError.generate(response.status, json, json === undefined ? text : undefined, headers);
}

/** A message in OpenAI's shape; attached images become `image_url` parts with a data URL. */
function toOpenAiMessage(message: LlmMessage): ChatCompletionMessageParam {
  if (message.role === 'user' && message.images !== undefined && message.images.length > 0) {
    const parts: ChatCompletionContentPart[] = [
      { type: 'text', text: message.content },
      ...message.images.map((image): ChatCompletionContentPart => ({ type: 'image_url', image_url: { url: `data:${image.mimeType};base64,${image.data}` } })),
    ];
    return { role: 'user', content: parts };
  }
  return { role: message.role, content: message.content };
}

