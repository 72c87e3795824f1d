/**
 * The OpenAI-compatible endpoint on the server's own port: `GET /v1/models` lists the personas as
 * models, `POST /v1/chat/completions` talks to one (SSE streaming or not) through the same chat turn
 * as every other transport, so memory, mood, relationships and history apply. API keys are Bearer
 * tokens; the Host allow-list and Origin rule of every HTTP path (`request-guard.ts`) run before this
 * route sees a request, so a browser request that gets here comes from an allowed origin and may be
 * given CORS headers. Details: docs/openai.md.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { AppError, isAppError, type AppErrorKind } from '../../domain/errors.js';
import type { Clock } from '../../ports/clock.js';
import type { PersonaRecord } from '../../ports/store.js';
import { APPLICATION_ERRORS, INTERNAL_ERROR } from '../../rpc/error-codes.js';
import { describeZodError, type RequestOutcome } from '../../rpc/jsonrpc.js';
import type { SessionBinding } from '../../rpc/registry.js';
import { logRequest } from '../../rpc/request-log.js';
import type { Caller } from '../../services/auth-service.js';
import type { ChatTurnRequest, ChatTurnResult } from '../../services/chat-service.js';
import type { ConversationRecord, MessageRecord } from '../../ports/store.js';
import { SESSION_ID_PATTERN } from '../../services/session-service.js';
import type { RequestRateLimits } from '../../ports/rate-limits.js';
import type { ClientAddress } from '../client-address.js';
import { requestApiKey } from '../credentials.js';
import { rateLimitMessage } from '../rate-limit-message.js';
import { holdConnection } from '../http-hold.js';
import type { HttpRoute } from '../http-server.js';
import { derivedSessionId, planTurn, type TurnPlan } from './conversation-mapping.js';
import { chatCompletionRequest, chunk, completion, openAiError, usage, usageChunk, type ModelEntry, type OpenAiError } from './wire.js';

/** What the endpoint needs of the server: narrow on purpose (no Core). */
export interface OpenAiEndpointDeps {
  logger: Logger;
  /** Largest request body read, in bytes (limits.maxFrameBytes). */
  maxBodyBytes: number;
  /** Aborted on shutdown: in-flight turns stop. */
  shutdownSignal: AbortSignal;
  /** The time of `created` in completions. */
  clock: Clock;
  authenticate(apiKey: string | null): Promise<Caller>;
  /** Request rates per API key and per address (each HTTP request costs one); none: not limited. */
  rateLimits?: RequestRateLimits;
  /** The client's address (behind a trusted proxy, the one it forwarded). Defaults to the peer's. */
  clientAddress?: ClientAddress;
  personas: { list(): PersonaRecord[]; resolve(idOrName: string): PersonaRecord };
  modelFor(persona: PersonaRecord): string;
  /** The reply cap of a turn that names none (`chat.defaultTokenBudget`); max_tokens only lowers it. */
  defaultTokenBudget(): number;
  /**
   * Runs `work` in the turn line of the persona's conversation in the session (`turn-order.ts`), with the
   * chat use case's turn (stored, with every prompt contributor and observer) for it to run there.
   */
  inTurnLine<T>(binding: SessionBinding, personaId: string, signal: AbortSignal, work: (runTurn: RunTurn) => Promise<T>): Promise<T>;
  /** The owner of a stored session; undefined when there is none. */
  sessionOwner(sessionId: string): Promise<string | null | undefined>;
  /** Creates the session row (owned by the binding's user) or marks it seen. */
  touchSession(binding: SessionBinding): Promise<void>;
  activeConversation(binding: SessionBinding, personaId: string): Promise<ConversationRecord | null>;
  endConversation(conversation: ConversationRecord, reason: string): Promise<void>;
  startConversation(binding: SessionBinding, persona: PersonaRecord): Promise<ConversationRecord>;
  recentMessages(conversationId: string, limit: number): Promise<MessageRecord[]>;
}

/** One chat turn, run in the line `inTurnLine` holds. */
export type RunTurn = (binding: SessionBinding, request: ChatTurnRequest, options: { signal: AbortSignal; onDelta?: (delta: string) => void }) => Promise<ChatTurnResult>;

export const OPENAI_BASE_PATH = '/v1';

export function openAiRoute(deps: OpenAiEndpointDeps): HttpRoute {
  return async (request, response, url) => {
    if (url.pathname !== OPENAI_BASE_PATH && !url.pathname.startsWith(`${OPENAI_BASE_PATH}/`)) return false;
    const started = performance.now();
    const method = `${request.method ?? 'GET'} ${url.pathname}`;
    const report = (outcome: Omit<RequestOutcome, 'durationMs' | 'method'>): void =>
      logRequest(deps.logger, 'openai', { method, ...outcome, durationMs: performance.now() - started });

    if (request.method === 'OPTIONS') {
      // A preflight from an allowed origin (others were refused by the request guard).
      response.writeHead(204, corsHeaders(request));
      response.end();
      return true;
    }
    let caller: Caller;
    try {
      caller = await deps.authenticate(requestApiKey(request, url));
    } catch (error) {
      if (!isAppError(error) || error.kind !== 'unauthorized') throw error;
      sendError(response, openAiError(401, 'authentication_error', `${error.message} Send it as "Authorization: Bearer KEY".`, 'invalid_api_key'), { 'www-authenticate': 'Bearer' }, request);
      report({ outcome: 'unauthorized', code: 401, error: error.message });
      return true;
    }
    if (deps.rateLimits !== undefined) {
      const address = deps.clientAddress?.(request) ?? request.socket.remoteAddress ?? 'unknown';
      const verdict = await deps.rateLimits.take({ keyId: caller.keyId, address }, 1);
      if (!verdict.allowed) {
        const message = rateLimitMessage(verdict.limit, verdict.perSecond, verdict.retryAfterMs);
        sendError(response, openAiError(429, 'rate_limit_error', message, 'rate_limit_exceeded'), { 'retry-after': String(Math.ceil(verdict.retryAfterMs / 1000)) }, request);
        holdConnection(request, response, verdict.retryAfterMs, deps.clock);
        report({ outcome: 'rate_limited', code: 429, error: message });
        return true;
      }
    }

    const path = url.pathname.replace(/\/+$/, '');
    if (path === `${OPENAI_BASE_PATH}/models` && (request.method === 'GET' || request.method === 'HEAD')) {
      sendJson(response, 200, { object: 'list', data: deps.personas.list().map((persona) => modelEntry(persona, deps.modelFor(persona))) }, request);
      report({ outcome: 'ok', code: null, error: null });
      return true;
    }
    const modelPath = /^\/v1\/models\/([^/]+)$/.exec(path);
    if (modelPath !== null && request.method === 'GET') {
      try {
        const persona = deps.personas.resolve(decodeURIComponent(modelPath[1] ?? ''));
        sendJson(response, 200, modelEntry(persona, deps.modelFor(persona)), request);
        report({ outcome: 'ok', code: null, error: null });
      } catch (error) {
        const failure = toOpenAiError(error, deps.logger);
        sendError(response, failure, {}, request);
        report({ outcome: isAppError(error) ? error.kind : 'internal_error', code: failure.status, error: failure.body.error.message });
      }
      return true;
    }
    if (path === `${OPENAI_BASE_PATH}/chat/completions`) {
      if (request.method !== 'POST') {
        sendError(response, openAiError(405, 'invalid_request_error', 'Use POST for /v1/chat/completions.'), { allow: 'POST' }, request);
        return true;
      }
      await chatCompletions(deps, request, response, caller, report);
      return true;
    }
    sendError(response, openAiError(404, 'invalid_request_error', `Nothing at ${url.pathname}. This server offers GET /v1/models and POST /v1/chat/completions.`, 'unknown_url'), {}, request);
    report({ outcome: 'not_found', code: 404, error: 'unknown path' });
    return true;
  };
}

type Report = (outcome: Omit<RequestOutcome, 'durationMs' | 'method'>) => void;

async function chatCompletions(deps: OpenAiEndpointDeps, request: IncomingMessage, response: ServerResponse, caller: Caller, report: Report): Promise<void> {
  const fail = (failure: OpenAiError, outcome: string, session?: SessionBinding): void => {
    sendError(response, failure, {}, request);
    report({ outcome, code: failure.status, error: failure.body.error.message, ...(session ? { session } : {}) });
  };
  const body = await readBody(request, deps.maxBodyBytes);
  if (body.kind === 'too_large') {
    return fail(openAiError(413, 'invalid_request_error', `The request body is over ${deps.maxBodyBytes} bytes (limits.maxFrameBytes).`, 'request_too_large'), 'request_too_large');
  }
  let json: unknown;
  try {
    json = JSON.parse(body.text);
  } catch {
    return fail(openAiError(400, 'invalid_request_error', 'The request body is not valid JSON.', 'invalid_json'), 'parse_error');
  }
  const parsed = chatCompletionRequest.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return fail(openAiError(400, 'invalid_request_error', describeZodError(parsed.error).replace(/^Invalid params: /, ''), 'invalid_value', issue?.path.join('.') ?? null), 'invalid_params');
  }
  const params = parsed.data;
  if (params.n !== undefined && params.n !== null && params.n !== 1) {
    return fail(openAiError(400, 'invalid_request_error', 'Only n = 1 is supported: a persona gives one reply per turn.', 'unsupported_value', 'n'), 'invalid_params');
  }

  let binding: SessionBinding;
  let persona: PersonaRecord;
  try {
    binding = await sessionFor(deps, request, caller, params.user ?? endUserHeader(request));
    persona = deps.personas.resolve(params.model);
  } catch (error) {
    const failure = toOpenAiError(error, deps.logger);
    return fail(failure, isAppError(error) ? error.kind : error instanceof InvalidRequest ? 'invalid_params' : 'internal_error');
  }

  // The turn stops when the client goes away (a front-end's Stop button closes the request) or on shutdown.
  const gone = new AbortController();
  response.on('close', () => {
    if (!response.writableFinished) gone.abort(new AppError('cancelled', 'The client closed the request.'));
  });
  const signal = AbortSignal.any([gone.signal, deps.shutdownSignal]);
  const id = `chatcmpl-${randomUUID().replace(/-/g, '')}`;
  const created = Math.floor(deps.clock.now() / 1000);
  const model = persona.id;
  const isStreaming = params.stream === true;
  const headers = { 'x-session-id': binding.id };

  try {
    await deps.touchSession(binding);
    // The stream's headers go out with its first event, so a turn that fails before any text (Ollama
    // down, a busy queue) still answers with a proper HTTP status and error body.
    const emit = (delta: Record<string, unknown>, finishReason: 'stop' | null = null): void => {
      if (!response.headersSent) startStream(response, request, headers);
      writeEvent(response, chunk(id, created, model, delta, finishReason));
    };
    let isFirstDelta = true;
    const emitText = (content: string): void => {
      emit(isFirstDelta ? { role: 'assistant', content } : { content });
      isFirstDelta = false;
    };
    // Replay or new turn is decided in the conversation's turn line: a request sent while a turn ahead of
    // it runs (a front-end's retry, a second tab) plans against the history that turn leaves.
    const answer = await deps.inTurnLine(binding, persona.id, signal, async (runTurn): Promise<Answer> => {
      const current = await deps.activeConversation(binding, persona.id);
      const plan = planTurn(params.messages, current === null ? [] : await deps.recentMessages(current.id, 2));
      if (plan.kind === 'invalid') return plan;
      if (plan.kind === 'replay') return { kind: 'replay', reply: plan.reply, conversationId: current?.id ?? '' };
      let conversation = current;
      if (plan.startsNewChat) {
        if (conversation !== null) await deps.endConversation(conversation, 'new_chat');
        conversation = await deps.startConversation(binding, persona);
      }
      const maxTokens = params.max_completion_tokens ?? params.max_tokens ?? undefined;
      // max_tokens can shorten a reply below the server's default, never lengthen it: front-ends send their
      // own "max response length" (often thousands), which would crowd memories and history out of the prompt.
      const tokenBudget = maxTokens === undefined ? undefined : Math.min(maxTokens, deps.defaultTokenBudget());
      const turn = await runTurn(
        binding,
        { message: plan.message, personaId: persona.id, ...(conversation ? { conversationId: conversation.id } : {}), ...(tokenBudget !== undefined ? { tokenBudget } : {}) },
        { signal, ...(isStreaming ? { onDelta: emitText } : {}) },
      );
      return { kind: 'turn', turn };
    });
    if (answer.kind === 'invalid') return fail(openAiError(400, 'invalid_request_error', answer.reason, 'invalid_value', 'messages'), 'invalid_params', binding);

    const turn = answer.kind === 'turn' ? answer.turn : null;
    let text: string;
    let figures: ReturnType<typeof usage>;
    let conversationId: string;
    if (answer.kind === 'turn') {
      text = answer.turn.reply;
      figures = usage(answer.turn.promptTokens, answer.turn.completionTokens);
      conversationId = answer.turn.conversation.id;
    } else {
      text = answer.reply.content;
      figures = usage(answer.reply.promptTokens ?? 0, answer.reply.tokens);
      conversationId = answer.conversationId;
      if (isStreaming) emitText(text);
    }
    const extras = { persona: { id: persona.id, name: persona.name }, conversation_id: conversationId, session_id: binding.id, ...(turn ? { continue_score: turn.continueScore.score } : { replayed: true }) };
    if (isStreaming) {
      if (isFirstDelta) emitText('');
      emit({}, 'stop');
      if (params.stream_options?.include_usage === true) writeEvent(response, usageChunk(id, created, model, figures));
      response.end('data: [DONE]\n\n');
    } else {
      sendJson(response, 200, completion(id, created, model, text, figures, extras), request, { ...headers, 'x-conversation-id': conversationId });
    }
    report({ outcome: answer.kind === 'replay' ? 'replayed' : 'ok', code: null, error: null, session: binding });
  } catch (error) {
    const failure = toOpenAiError(error, deps.logger);
    report({ outcome: isAppError(error) ? error.kind : 'internal_error', code: failure.status, error: failure.body.error.message, session: binding });
    if (response.writableEnded || response.destroyed) return;
    if (response.headersSent) {
      // Mid-stream: OpenAI's clients read an `error` event and raise it.
      writeEvent(response, failure.body);
      response.end();
    } else {
      sendError(response, failure, headers, request);
    }
  }
}

/** What a request came to in the turn line: refused, a stored reply again, or a turn. */
type Answer = Extract<TurnPlan, { kind: 'invalid' }> | { kind: 'replay'; reply: MessageRecord; conversationId: string } | { kind: 'turn'; turn: ChatTurnResult };

/** A request the endpoint refuses itself (400), with the parameter at fault. */
class InvalidRequest extends Error {
  constructor(
    message: string,
    readonly param: string | null,
  ) {
    super(message);
  }
}

/**
 * The end user a front-end names in a header when it does not set `user`: ours (`X-Persona-User`), or
 * the one Open WebUI forwards (`X-OpenWebUI-User-Id`, with ENABLE_FORWARD_USER_INFO_HEADERS).
 */
function endUserHeader(request: IncomingMessage): string | null {
  for (const name of ['x-persona-user', 'x-openwebui-user-id']) {
    const value = request.headers[name];
    const text = Array.isArray(value) ? value[0] : value;
    if (text !== undefined && text !== '') return text.slice(0, 256);
  }
  return null;
}

/** The session a request acts for (docs/openai.md#sessions), checked to be the caller's. */
async function sessionFor(deps: OpenAiEndpointDeps, request: IncomingMessage, caller: Caller, endUser: string | null): Promise<SessionBinding> {
  const header = request.headers['x-session-id'];
  const requested = Array.isArray(header) ? header[0] : header;
  if (requested === undefined || requested === '') return { id: derivedSessionId(caller.userId, endUser), userId: caller.userId, role: caller.role };
  if (!SESSION_ID_PATTERN.test(requested)) {
    throw new InvalidRequest('X-Session-Id must be 8-64 characters of A-Z, a-z, 0-9, "_" or "-"; send none to use the session of your key (or of `user`).', 'X-Session-Id');
  }
  const owner = await deps.sessionOwner(requested);
  if (owner !== undefined && owner !== caller.userId) {
    throw new AppError('forbidden', 'That session belongs to another user; send another X-Session-Id or none.');
  }
  return { id: requested, userId: caller.userId, role: caller.role };
}

function modelEntry(persona: PersonaRecord, llmModel: string): ModelEntry {
  return {
    id: persona.id,
    object: 'model',
    created: Math.floor(persona.createdAt / 1000),
    owned_by: 'persona-mcp',
    name: persona.name,
    description: persona.description,
    llm_model: llmModel,
  };
}

/** HTTP status and OpenAI error type for each of our error kinds. */
const STATUS_BY_KIND: Partial<Record<AppErrorKind, [number, string]>> = {
  persona_not_found: [404, 'invalid_request_error'],
  conversation_not_found: [404, 'invalid_request_error'],
  session_not_found: [400, 'invalid_request_error'],
  request_too_large: [413, 'invalid_request_error'],
  limit_exceeded: [429, 'rate_limit_error'],
  rate_limited: [429, 'rate_limit_error'],
  llm_busy: [429, 'rate_limit_error'],
  unauthorized: [401, 'authentication_error'],
  forbidden: [403, 'permission_error'],
  conflict: [409, 'invalid_request_error'],
  llm_unavailable: [503, 'server_error'],
  model_not_installed: [503, 'server_error'],
  llm_timeout: [504, 'server_error'],
  llm_failed: [502, 'server_error'],
  cancelled: [499, 'invalid_request_error'],
};

function toOpenAiError(error: unknown, logger: Logger): OpenAiError {
  if (error instanceof InvalidRequest) return openAiError(400, 'invalid_request_error', error.message, 'invalid_value', error.param);
  if (isAppError(error)) {
    const [status, type] = STATUS_BY_KIND[error.kind] ?? [500, 'server_error'];
    const hint = APPLICATION_ERRORS[error.kind].whatToDo;
    const param = error.kind === 'persona_not_found' ? 'model' : null;
    const code = error.kind === 'persona_not_found' ? 'model_not_found' : error.kind;
    // The message says what happened, often with its own remedy; the table's general advice goes in `hint`
    // (as `error.data.hint` on JSON-RPC) so that a front-end showing the message does not say it twice.
    return openAiError(status, type, error.message, code, param, hint);
  }
  logger.error({ err: error }, 'OpenAI endpoint failed');
  return openAiError(500, 'server_error', 'Internal error: the server failed to handle the request; it has been logged.', String(INTERNAL_ERROR));
}

/** Browsers calling from an allowed origin may read the answer and send the Authorization header. */
function corsHeaders(request: IncomingMessage): Record<string, string> {
  const origin = request.headers.origin;
  if (origin === undefined || origin === '') return {};
  return {
    'access-control-allow-origin': origin,
    vary: 'Origin',
    'access-control-allow-methods': 'GET, POST, OPTIONS',
    'access-control-allow-headers': 'authorization, content-type, x-session-id, x-persona-user',
    'access-control-expose-headers': 'x-session-id, x-conversation-id',
    'access-control-max-age': '600',
  };
}

function sendJson(response: ServerResponse, status: number, body: unknown, request: IncomingMessage, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...corsHeaders(request), ...headers });
  response.end(request.method === 'HEAD' ? undefined : text);
}

function sendError(response: ServerResponse, failure: OpenAiError, headers: Record<string, string> = {}, request?: IncomingMessage): void {
  const text = JSON.stringify(failure.body);
  response.writeHead(failure.status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...(request ? corsHeaders(request) : {}), ...headers });
  response.end(text);
}

function startStream(response: ServerResponse, request: IncomingMessage, headers: Record<string, string>): void {
  response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no', ...corsHeaders(request), ...headers });
  response.flushHeaders();
}

function writeEvent(response: ServerResponse, data: unknown): void {
  if (!response.writableEnded && !response.destroyed) response.write(`data: ${JSON.stringify(data)}\n\n`);
}

/** Reads the body up to `limit` bytes; beyond, the rest is drained unread so the answer still gets out. */
function readBody(request: IncomingMessage, limit: number): Promise<{ kind: 'ok'; text: string } | { kind: 'too_large' }> {
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    request.resume();
    return Promise.resolve({ kind: 'too_large' });
  }
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    request.on('data', (part: Buffer) => {
      size += part.length;
      if (size <= limit) parts.push(part);
    });
    request.once('end', () => resolve(size > limit ? { kind: 'too_large' } : { kind: 'ok', text: Buffer.concat(parts).toString('utf8') }));
    request.once('error', reject);
  });
}
