/**
 * JSON-RPC 2.0 engine: parses frames, validates requests and params, dispatches to the registry and
 * builds responses, following the specification (https://www.jsonrpc.org/specification) to the
 * letter: notifications get no response, batches answer with an array of the non-notification
 * responses (or nothing), an empty batch is one −32600, ids are echoed exactly. Transport-agnostic.
 */
import { ZodError } from 'zod';
import { isAppError } from '../domain/errors.js';
import {
  APPLICATION_ERRORS,
  INTERNAL_ERROR,
  INVALID_PARAMS,
  INVALID_REQUEST,
  METHOD_NOT_FOUND,
  PARSE_ERROR,
} from './error-codes.js';
import { ExactNumber, keepExactIds, stringifyMessage } from './exact-ids.js';
import { stringifyResponse } from './shared-results.js';
import { exceedsJsonDepth, MAX_JSON_DEPTH } from '../domain/json-depth.js';
import type { JsonRpcId, MethodContext, MethodDefinition, MethodRegistry, SessionBinding } from './registry.js';
import { checkAccess, type AccessLookups } from './access.js';

/** Without lookups every persona counts as shared: owner rules admit admins only. */
const NO_LOOKUPS: AccessLookups = { personaOwner: () => null };
import type { Logger } from 'pino';
import type { MeasuredRequest } from '../ports/metrics.js';
import { causeOf } from '../logger.js';

export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export type JsonRpcResponse =
  | { jsonrpc: '2.0'; id: JsonRpcId; result: unknown }
  | { jsonrpc: '2.0'; id: JsonRpcId; error: JsonRpcErrorObject };

export interface JsonRpcRequest {
  jsonrpc: '2.0';
  method: string;
  params?: unknown;
  /** Absent for a notification. */
  id?: JsonRpcId;
}

/** What validating a method's params gives (zod's safeParse result). */
type ParamsCheck = ReturnType<MethodDefinition['params']['safeParse']>;

/** Builds the per-request context; the transport knows the connection behind it. */
export type ContextFactory = (requestId: JsonRpcId | undefined, method: string) => MethodContext;

export interface RequestOutcome extends MeasuredRequest {
  /** The JSON-RPC error code answered; null on success. */
  code: number | null;
  /** The error message answered (no detail, no stack); null on success. */
  error: string | null;
  /** Who asked: the request's session and user (absent when the frame could not be read at all). */
  session?: SessionBinding;
  requestId?: JsonRpcId;
  /** The params as received (only logged at `debug`: they hold message text). */
  params?: unknown;
}

export interface JsonRpcEngineOptions {
  logger: Logger;
  /** What the access check (`requires` of each method) needs to know; without it, owner rules admit admins only. */
  access?: AccessLookups;
  /** Check every result against its declared schema (tests and development; costs time). */
  validateResults?: boolean;
  /** Largest batch accepted; bigger ones answer one −32600 error. Defaults to 100. */
  maxBatchSize?: number;
  /** Called once per finished request (metrics). */
  onRequestComplete?: (outcome: RequestOutcome) => void;
}

export function errorResponse(id: JsonRpcId, error: JsonRpcErrorObject): JsonRpcResponse {
  return { jsonrpc: '2.0', id, error };
}

export class JsonRpcEngine {
  private readonly registry: MethodRegistry;
  private readonly options: JsonRpcEngineOptions;
  private readonly maxBatchSize: number;
  /** `noParams`: methods whose params, when none are sent, are always the same empty object. */
  private readonly paramsWhenNone = new Map<MethodDefinition, ParamsCheck>();
  /** `oneStringParam`: per method, the one-member params already validated, by member name and value. */
  private readonly oneStringParams = new Map<MethodDefinition, Map<string, Map<string, ParamsCheck>>>();

  constructor(registry: MethodRegistry, options: JsonRpcEngineOptions) {
    this.registry = registry;
    this.options = options;
    this.maxBatchSize = options.maxBatchSize ?? 100;
  }

  /** Handles one text frame. Resolves to the response text, or null when nothing is to be sent. */
  async handleText(text: string, createContext: ContextFactory): Promise<string | null> {
    const parsed = parseFrame(text);
    if (!parsed.ok) {
      this.reportUnparsable(createContext);
      return stringifyMessage(parsed.response);
    }
    const response = await this.handleParsed(parsed.message, createContext);
    return response === null ? null : stringifyResponse(response);
  }

  /** Reports a frame that was not JSON (−32700) to `onRequestComplete`, for transports that parse frames themselves. */
  reportUnparsable(createContext: ContextFactory): void {
    const session = createContext(null, UNPARSABLE).session;
    this.options.onRequestComplete?.({ method: UNPARSABLE, outcome: 'parse_error', durationMs: 0, code: PARSE_ERROR, error: 'Parse error', session });
  }

  /**
   * Answers every request in a message with the same error, without running anything (rate limits,
   * shutdown). Notifications get nothing, as always.
   */
  rejectAll(message: unknown, error: JsonRpcErrorObject): JsonRpcResponse | JsonRpcResponse[] | null {
    const members = Array.isArray(message) ? message : [message];
    const responses = members.flatMap((member) => {
      const request = parseRequest(member);
      if (request instanceof InvalidRequest) return [errorResponse(request.id, request.error)];
      return 'id' in request ? [errorResponse(request.id ?? null, error)] : [];
    });
    if (responses.length === 0) return null;
    return Array.isArray(message) ? responses : (responses[0] ?? null);
  }

  /** Handles an already-parsed message or batch. */
  handleParsed(message: unknown, createContext: ContextFactory): Promise<JsonRpcResponse | JsonRpcResponse[] | null> {
    const reply = this.handleParsedNow(message, createContext);
    return reply instanceof Promise ? reply : Promise.resolve(reply);
  }

  /**
   * As `handleParsed`, but a request whose handler answered without waiting (a cached read such as
   * `persona.list`) is answered now, not in a promise: the transport can write it in the same turn of
   * the event loop, as a bare `ws` server would, without a promise and two microtask hops per request.
   */
  handleParsedNow(message: unknown, createContext: ContextFactory): JsonRpcResponse | JsonRpcResponse[] | null | Promise<JsonRpcResponse | JsonRpcResponse[] | null> {
    // A single request (nearly all traffic) goes straight on: no extra promise around it.
    if (!Array.isArray(message)) return this.handleOne(message, createContext);
    return this.handleBatch(message, createContext);
  }

  /**
   * What a message costs against rate limits: the requests it runs. A batch costs its size, but one
   * over `maxBatchSize` runs nothing (one -32600 answers it), so it costs 1: a client learns the limit
   * instead of being refused each member for a rate it never used.
   */
  costOf(message: unknown): number {
    if (!Array.isArray(message)) return 1;
    return message.length > this.maxBatchSize ? 1 : Math.max(1, message.length);
  }

  private async handleBatch(message: unknown[], createContext: ContextFactory): Promise<JsonRpcResponse | JsonRpcResponse[] | null> {
    if (message.length === 0) {
      return errorResponse(null, { code: INVALID_REQUEST, message: 'Invalid Request: an empty batch.' });
    }
    if (message.length > this.maxBatchSize) {
      return errorResponse(null, {
        code: INVALID_REQUEST,
        message: `Invalid Request: the batch has ${message.length} members; at most ${this.maxBatchSize} are accepted.`,
        data: { kind: 'limit_exceeded', limit: this.maxBatchSize },
      });
    }
    const responses = await Promise.all(message.map((member) => this.handleOne(member, createContext)));
    const answered = responses.filter((response): response is JsonRpcResponse => response !== null);
    return answered.length > 0 ? answered : null;
  }

  private handleOne(message: unknown, createContext: ContextFactory): JsonRpcResponse | null | Promise<JsonRpcResponse | null> {
    const started = performance.now();
    const request = parseRequest(message);
    if (request instanceof InvalidRequest) {
      const session = createContext(request.id, INVALID).session;
      this.finish(INVALID, 'invalid_request', request.error, session, request.id, message, started);
      return errorResponse(request.id, request.error);
    }

    const isNotification = !('id' in request);
    const id = request.id ?? null;
    // Made before anything can fail, so that every outcome names who asked (the request log).
    const context = createContext(isNotification ? undefined : id, request.method);
    const error = this.refusal(request, context);
    if (error !== null) {
      this.finish(request.method, error.outcome, error.error, context.session, request.id, request.params, started);
      return isNotification ? null : errorResponse(id, error.error);
    }
    // `refusal` found it (a Map look-up again is cheaper than an object to carry it back in).
    const method = this.registry.get(request.method) as MethodDefinition;
    const parsed = request.params === undefined || request.params === null ? this.noParams(method) : this.validateParams(method, request.params);
    if (!parsed.success) {
      const invalid = { code: INVALID_PARAMS, message: describeZodError(parsed.error), data: { issues: zodIssues(parsed.error) } };
      this.finish(request.method, 'invalid_params', invalid, context.session, request.id, request.params, started);
      return isNotification ? null : errorResponse(id, invalid);
    }

    let answer: unknown;
    try {
      answer = method.handler(parsed.data, context);
    } catch (thrown) {
      return this.failed(request, method, context, thrown, started);
    }
    if (!(answer instanceof Promise)) return this.succeeded(request, method, context, answer, started);
    return answer.then(
      (result: unknown) => this.succeeded(request, method, context, result, started),
      (thrown: unknown) => this.failed(request, method, context, thrown, started),
    );
  }

  /**
   * A method's params when the request has none: validated once per method. When that gives an empty
   * object (no defaults), one frozen empty object is shared by every such call (persona.list is polled
   * without params: validating `{}` was a tenth of its allocation, bench/README.md round 9).
   */
  private noParams(method: MethodDefinition): ParamsCheck {
    const known = this.paramsWhenNone.get(method);
    if (known !== undefined) return known;
    const parsed = method.params.safeParse({});
    if (!parsed.success || typeof parsed.data !== 'object' || parsed.data === null || Object.keys(parsed.data).length > 0) return parsed;
    const shared = { success: true, data: Object.freeze({}) } as ParamsCheck;
    this.paramsWhenNone.set(method, shared);
    return shared;
  }

  /**
   * A method's params validated: params of one string member (`{"persona_id":"aria"}`, what polled calls
   * send) are looked up among those validated before, and validated once per value when validation gives
   * them back unchanged (no trimming, no defaults added): then one frozen object is shared by every such
   * call. zod's parse was a sixth of a persona.status request's allocation (bench/README.md, round 10).
   * Schemas are functions of the value (no refinement looks anything up), so the same value validates alike.
   */
  private validateParams(method: MethodDefinition, params: unknown): ParamsCheck {
    const member = soleStringMember(params);
    if (member === null) return method.params.safeParse(params);
    const byName = this.oneStringParams.get(method);
    const known = byName?.get(member)?.get((params as Record<string, string>)[member] as string);
    if (known !== undefined) return known;
    const parsed = method.params.safeParse(params);
    const value = (params as Record<string, string>)[member] as string;
    if (!parsed.success || soleStringMember(parsed.data) !== member || (parsed.data as Record<string, unknown>)[member] !== value) return parsed;
    const shared = { success: true, data: Object.freeze({ [member]: value }) } as ParamsCheck;
    const names = byName ?? new Map<string, Map<string, ParamsCheck>>();
    this.oneStringParams.set(method, names);
    const values = names.get(member) ?? new Map<string, ParamsCheck>();
    names.set(member, values);
    // Values come from clients: bounded, and forgetting them only means validating again.
    if (values.size >= MAX_SHARED_PARAMS) values.clear();
    values.set(value, shared);
    return shared;
  }

  /** The response to a request its handler answered (null for a notification), once the result is checked. */
  private succeeded(request: JsonRpcRequest, method: MethodDefinition, context: MethodContext, result: unknown, started: number): JsonRpcResponse | null {
    if (this.options.validateResults) {
      const checked = method.result.safeParse(result);
      if (!checked.success) {
        return this.failed(request, method, context, new Error(`Result of ${request.method} does not match its schema: ${describeZodError(checked.error)}`), started);
      }
    }
    this.finish(request.method, 'ok', null, context.session, request.id, request.params, started);
    return 'id' in request ? { jsonrpc: '2.0', id: request.id ?? null, result } : null;
  }

  /** The error response to a request whose handler threw (null for a notification), logged and counted. */
  private failed(request: JsonRpcRequest, method: MethodDefinition, context: MethodContext, thrown: unknown, started: number): JsonRpcResponse | null {
    const failure = this.toErrorObject(thrown, method.name, context.logger);
    this.finish(request.method, isAppError(thrown) ? thrown.kind : 'internal_error', failure, context.session, request.id, request.params, started);
    return 'id' in request ? errorResponse(request.id ?? null, failure) : null;
  }

  /**
   * Why a well-formed request is refused before its params are validated: an unknown method, params
   * that are not an object, an access rule the caller does not meet, params nested too deeply. Null
   * when it may go on. (Kept out of `handleOne` so that the common path makes no closures.)
   */
  private refusal(request: JsonRpcRequest, context: MethodContext): { outcome: string; error: JsonRpcErrorObject } | null {
    const method = this.registry.get(request.method);
    if (method === undefined) {
      return { outcome: 'method_not_found', error: { code: METHOD_NOT_FOUND, message: `Method not found: ${request.method}. Call rpc.discover for the list.` } };
    }
    const params = request.params === undefined || request.params === null ? NO_PARAMS : request.params;
    if (typeof params !== 'object' || Array.isArray(params)) {
      return {
        outcome: 'invalid_params',
        error: { code: INVALID_PARAMS, message: 'Invalid params: params must be an object with named members (by-position arrays are not supported).' },
      };
    }
    try {
      this.authorize(method, params as Record<string, unknown>, context.session);
    } catch (error) {
      return { outcome: isAppError(error) ? error.kind : 'internal_error', error: this.toErrorObject(error, request.method, context.logger) };
    }
    if (exceedsJsonDepth(params, MAX_JSON_DEPTH - 1)) {
      return {
        outcome: 'invalid_params',
        error: {
          code: INVALID_PARAMS,
          message: `Invalid params: the request nests more than ${MAX_JSON_DEPTH} levels of objects and arrays; send flatter data.`,
          data: { kind: 'limit_exceeded', limit: MAX_JSON_DEPTH },
        },
      };
    }
    return null;
  }

  /**
   * Throws `forbidden` unless the session may call the method with these (raw) params: its `requires`
   * rule (access.ts). Every transport calls this before validating params — the JSON-RPC engine here,
   * the MCP tools for each call.
   */
  authorize(method: MethodDefinition, params: Record<string, unknown>, session: SessionBinding): void {
    checkAccess(method.name, method.requires, params, session, this.options.access ?? NO_LOOKUPS);
  }

  /**
   * Reports a finished request to `onRequestComplete` (metrics, the request log): one object of one
   * shape per request, built here (spreading a request's fields into it cost ~8 % of a cheap call).
   */
  private finish(
    method: string,
    outcome: string,
    error: JsonRpcErrorObject | null,
    session: SessionBinding,
    requestId: JsonRpcId | undefined,
    params: unknown,
    started: number,
  ): void {
    const report = this.options.onRequestComplete;
    if (report === undefined) return;
    report({
      method,
      outcome,
      durationMs: performance.now() - started,
      code: error === null ? null : error.code,
      error: error === null ? null : error.message,
      session,
      requestId,
      params,
    });
  }

  private toErrorObject(error: unknown, method: string, logger: Logger): JsonRpcErrorObject {
    if (isAppError(error)) {
      const info = APPLICATION_ERRORS[error.kind];
      // The request log already has the outcome; the detail is for whoever debugs, without a stack
      // unless the store itself failed (an unexpected condition worth its stack).
      if (error.kind === 'storage_error') logger.error({ err: error.detail, method }, error.message);
      else if (error.detail !== undefined) logger.debug({ cause: causeOf(error.detail), method, kind: error.kind }, error.message);
      return { code: info.code, message: error.message, data: { kind: error.kind, hint: info.whatToDo, ...error.data } };
    }
    if (error instanceof ZodError) {
      logger.error({ err: error, method }, 'handler threw a validation error');
      return { code: INTERNAL_ERROR, message: 'Internal error: the server produced an invalid result; it has been logged.' };
    }
    logger.error({ err: error, method }, 'unhandled error in RPC handler');
    return { code: INTERNAL_ERROR, message: 'Internal error: the server failed to handle the request; it has been logged.' };
  }
}

/** One-member params kept per method and member name (`validateParams`), and the longest value kept. */
const MAX_SHARED_PARAMS = 1_000;
const MAX_SHARED_PARAM_LENGTH = 256;

/** The name of the one member of a plain params object when that member is a short string; else null. */
function soleStringMember(params: unknown): string | null {
  if (typeof params !== 'object' || params === null || Array.isArray(params) || Object.getPrototypeOf(params) !== Object.prototype) return null;
  let name: string | null = null;
  for (const key in params) {
    if (name !== null) return null;
    name = key;
  }
  if (name === null) return null;
  const value = (params as Record<string, unknown>)[name];
  return typeof value === 'string' && value.length <= MAX_SHARED_PARAM_LENGTH ? name : null;
}

/** What `refusal` checks when a request has no params: one object, not a new one per request. */
const NO_PARAMS: Readonly<Record<string, unknown>> = Object.freeze({});

/** The method name reported for frames that are not JSON, and for members that are not requests. */
const UNPARSABLE = '(unparsable)';
const INVALID = '(invalid)';

/**
 * Parses a frame's text; a parse failure comes with its ready −32700 response. Numeric ids a double
 * cannot hold exactly are kept as their text (`exact-ids.ts`): serialise responses with
 * `stringifyMessage`.
 */
export function parseFrame(text: string): { ok: true; message: unknown } | { ok: false; response: JsonRpcResponse } {
  try {
    return { ok: true, message: keepExactIds(text, JSON.parse(text)) };
  } catch {
    return { ok: false, response: errorResponse(null, { code: PARSE_ERROR, message: 'Parse error: the frame is not valid JSON.' }) };
  }
}


/** A member of a message that is not a valid request: the id to answer with (when readable) and why. */
class InvalidRequest {
  constructor(
    readonly id: JsonRpcId,
    readonly error: JsonRpcErrorObject,
  ) {}
}

type ParsedRequest = JsonRpcRequest | InvalidRequest;

function isValidId(value: unknown): value is JsonRpcId {
  return value === null || typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value)) || value instanceof ExactNumber;
}

/**
 * The message itself when it is a valid request (read-only from here on: its members are what a copy
 * would hold, and a copy per request was a fifth of a persona.list's allocation), else why not.
 */
function parseRequest(message: unknown): ParsedRequest {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    return new InvalidRequest(null, { code: INVALID_REQUEST, message: 'Invalid Request: expected a JSON-RPC request object.' });
  }
  const candidate = message as Record<string, unknown>;
  const hasId = 'id' in candidate;
  const id = hasId && isValidId(candidate.id) ? candidate.id : null;
  if (hasId && !isValidId(candidate.id)) {
    return new InvalidRequest(null, { code: INVALID_REQUEST, message: 'Invalid Request: id must be a string, a number or null.' });
  }
  if (candidate.jsonrpc !== '2.0') {
    return new InvalidRequest(id, { code: INVALID_REQUEST, message: 'Invalid Request: "jsonrpc" must be exactly "2.0".' });
  }
  if (typeof candidate.method !== 'string' || candidate.method.length === 0) {
    return new InvalidRequest(id, { code: INVALID_REQUEST, message: 'Invalid Request: "method" must be a non-empty string.' });
  }
  return candidate as unknown as JsonRpcRequest;
}

function zodIssues(error: ZodError): Array<{ path: string; message: string }> {
  return error.issues.map((issue) => ({ path: issue.path.join('.') || '(params)', message: issue.message }));
}

/** "Invalid params: persona_id: expected string, received number; n_results: ..." */
export function describeZodError(error: ZodError): string {
  const parts = zodIssues(error).map((issue) => `${issue.path}: ${issue.message}`);
  return `Invalid params: ${parts.join('; ')}`;
}
