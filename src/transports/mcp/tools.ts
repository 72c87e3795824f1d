/**
 * MCP tools, generated from the method registry: one tool per method that does not opt out
 * (`exposeAsTool: false`). Name, description, input and output schemas and annotations all come from
 * the method's declaration; nothing is copied by hand. Results go out as `structuredContent` (checked
 * against the output schema by the SDK) plus the same JSON as text for hosts that only read `content`.
 * Failures are tool errors (`isError: true`) carrying the AppError's message and what to do, from the
 * same table that gives the JSON-RPC codes (`src/rpc/error-codes.ts`).
 */
import {
  inputRequired,
  type CallToolResult,
  type ClientCapabilities,
  type InputRequiredResult,
  type McpServer,
  type ServerContext,
  type StandardSchemaWithJSON,
  type ToolAnnotations,
} from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import { z } from 'zod';
import { AppError, isAppError } from '../../domain/errors.js';
import { exceedsJsonDepth, MAX_JSON_DEPTH } from '../../domain/json-depth.js';
import { APPLICATION_ERRORS, INTERNAL_ERROR, INVALID_PARAMS } from '../../rpc/error-codes.js';
import { fromMarker } from '../../rpc/exact-ids.js';
import { describeZodError } from '../../rpc/jsonrpc.js';
import { causeOf, logRequest } from '../../rpc/request-log.js';
import type { MethodContext, MethodDefinition, MethodRegistry, SessionBinding } from '../../rpc/registry.js';
import type { HostTurns } from './host-turns.js';

/** `persona.chat` → `persona_chat`: many hosts accept only `[A-Za-z0-9_-]` in tool names. */
export function toolName(methodName: string): string {
  return methodName.replace(/\./g, '_');
}

/** `persona.chat` → `Persona chat`. */
function toolTitle(methodName: string): string {
  const words = methodName.replace(/[._]/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * MCP's defaults assume the worst (`destructiveHint` and `openWorldHint` default to true), so every hint
 * is stated: a method that does not say it is destructive is not.
 */
export function toolAnnotations(method: MethodDefinition): ToolAnnotations {
  const hints = method.hints ?? {};
  const isReadOnly = hints.readOnly === true;
  return {
    title: toolTitle(method.name),
    readOnlyHint: isReadOnly,
    ...(isReadOnly ? {} : { destructiveHint: hints.destructive === true }),
    idempotentHint: hints.idempotent === true,
    openWorldHint: hints.openWorld === true,
  };
}

/** The methods served as tools: all that do not opt out, narrowed to the tool profiles' when given. */
export function exposedMethods(registry: MethodRegistry, profileMethods: ReadonlySet<string> | null = null): MethodDefinition[] {
  return registry
    .list()
    .filter((method) => method.exposeAsTool !== false && !method.legacyStreaming && (profileMethods === null || profileMethods.has(method.name)));
}

export interface ToolRegistrationOptions {
  registry: MethodRegistry;
  /** Only these methods become tools (the configured tool profiles); null for all. */
  profileMethods: ReadonlySet<string> | null;
  /** Advertise output schemas (`mcp.outputSchemas`); structured results are sent either way. */
  outputSchemas: boolean;
  /** The session a call acts for (per connection, per MCP session, or per request / conversation). */
  bindingFor: (args: Record<string, unknown>) => Promise<SessionBinding>;
  hostTurns: HostTurns;
  /** The client's capabilities from the 2025-11-25 handshake (2026-07-28 requests carry their own). */
  clientCapabilities: () => ClientCapabilities | undefined;
  logger: Logger;
  /** Aborted when the server shuts down. */
  shutdownSignal: AbortSignal;
  /** The method's access rule (`requires`), checked as for every transport; throws `forbidden`. */
  authorize: (method: MethodDefinition, args: Record<string, unknown>, session: SessionBinding) => void;
}

export function registerTools(server: McpServer, options: ToolRegistrationOptions): void {
  for (const method of exposedMethods(options.registry, options.profileMethods)) {
    server.registerTool(
      toolName(method.name),
      {
        title: toolTitle(method.name),
        description: method.description ? `${method.summary}\n\n${method.description}` : method.summary,
        inputSchema: accessFirst(method.params),
        // MCP structured content is an object; a method with another result shape answers as text only.
        ...(options.outputSchemas && method.result instanceof z.ZodObject ? { outputSchema: withCachedJsonSchema(method.result) } : {}),
        annotations: toolAnnotations(method),
      },
      (args, ctx: ServerContext) => callMethod(method, args as Record<string, unknown>, ctx, options),
    );
  }
}

const cachedSchemas = new WeakMap<z.ZodType, StandardSchemaWithJSON>();

/**
 * The schema as the SDK sees it, with its JSON Schema converted once per process: a 2026-07-28 HTTP
 * request gets a fresh server instance, and converting every tool's schemas for each one costs more
 * than serving the request. Validation is zod's own.
 */
export function withCachedJsonSchema(schema: z.ZodType): StandardSchemaWithJSON {
  const cached = cachedSchemas.get(schema);
  if (cached !== undefined) return cached;
  const standard = schema['~standard'] as unknown as StandardSchemaWithJSON['~standard'];
  const converted = new Map<string, Record<string, unknown>>();
  const convert = (
    io: 'input' | 'output',
    options: Parameters<StandardSchemaWithJSON['~standard']['jsonSchema']['input']>[0],
  ): Record<string, unknown> => {
    const key = `${io} ${options.target}`;
    let json = converted.get(key);
    if (json === undefined) converted.set(key, (json = standard.jsonSchema[io](options)));
    return json;
  };
  const wrapped: StandardSchemaWithJSON = {
    '~standard': {
      version: 1,
      vendor: standard.vendor,
      validate: (value, validateOptions) => standard.validate(value, validateOptions),
      jsonSchema: { input: (options) => convert('input', options), output: (options) => convert('output', options) },
    },
  };
  cachedSchemas.set(schema, wrapped);
  return wrapped;
}

const cachedAccessFirst = new WeakMap<z.ZodType, StandardSchemaWithJSON>();

/**
 * The schema the SDK is given: the method's JSON Schema for `tools/list`, but a validation that only
 * asks for an object. The SDK validates arguments before a tool runs, and a caller without the right to
 * call the method must get the access error, not learn the params from a schema error (as over
 * WebSocket, where the engine checks `requires` first). `callMethod` checks access, then validates
 * with the method's own schema.
 */
export function accessFirst(schema: z.ZodType): StandardSchemaWithJSON {
  const cached = cachedAccessFirst.get(schema);
  if (cached !== undefined) return cached;
  const full = withCachedJsonSchema(schema)['~standard'];
  const wrapped: StandardSchemaWithJSON = {
    '~standard': {
      version: 1,
      vendor: full.vendor,
      validate: (value) =>
        typeof value === 'object' && value !== null && !Array.isArray(value)
          ? { value }
          : { issues: [{ message: 'the arguments must be an object with named members' }] },
      jsonSchema: full.jsonSchema,
    },
  };
  cachedAccessFirst.set(schema, wrapped);
  return wrapped;
}

/** A tool error for arguments that do not match the method's params (after the access check passed). */
function invalidArguments(method: MethodDefinition, error: z.ZodError): CallToolResult {
  return {
    content: [{ type: 'text', text: `${describeZodError(error)}\n\nWhat to do: fix the arguments of ${toolName(method.name)} as its input schema says (error invalid_params, code ${INVALID_PARAMS})` }],
    isError: true,
  };
}

async function callMethod(
  method: MethodDefinition,
  rawArgs: Record<string, unknown>,
  ctx: ServerContext,
  options: ToolRegistrationOptions,
): Promise<CallToolResult | InputRequiredResult> {
  const logger = options.logger.child({ tool: method.name, requestId: fromMarker(ctx.mcpReq.id) });
  const turn = await options.hostTurns.begin(ctx, options.clientCapabilities());
  // Who may call it comes first (as the engine does for WebSocket): a refused caller learns nothing
  // about the params. The session is the one a conversation_id (or a resumed host turn) lends.
  const session = await options.bindingFor(turn.resumedArgs(rawArgs));
  try {
    options.authorize(method, rawArgs, session);
    if (exceedsJsonDepth(rawArgs, MAX_JSON_DEPTH - 1)) {
      throw new AppError('limit_exceeded', `The arguments nest more than ${MAX_JSON_DEPTH} levels of objects and arrays; send flatter data.`);
    }
  } catch (error) {
    return toolError(error, logger);
  }
  const parsed = method.params.safeParse(rawArgs);
  if (!parsed.success) return invalidArguments(method, parsed.error);
  let args = turn.resumedArgs(parsed.data as Record<string, unknown>);

  // With a progress token the reply streams as progress notifications carrying the text so far.
  const progressToken = ctx.mcpReq._meta?.progressToken;
  const streams = progressToken !== undefined && 'stream' in method.params.shape;
  if (streams) args = { ...args, stream: true };
  let textSoFar = '';
  let sent = Promise.resolve();

  const context: MethodContext = {
    session,
    requestId: fromMarker(ctx.mcpReq.id),
    signal: AbortSignal.any([ctx.mcpReq.signal, options.shutdownSignal]),
    transport: 'mcp',
    logger,
    notify: (_notification, params) => {
      if (!streams || typeof params.delta !== 'string') return;
      textSoFar += params.delta;
      const progress = { progressToken, progress: textSoFar.length, message: textSoFar };
      // Chained so the notifications leave in order and before the result.
      sent = sent
        .then(() => ctx.mcpReq.notify({ method: 'notifications/progress', params: progress }))
        .catch((error: unknown) => {
          logger.debug({ err: error }, 'progress notification not sent');
        });
    },
    sendPartialResult: () => undefined,
    attachSession: () => undefined,
  };

  const started = performance.now();
  const report = (outcome: string, code: number | null, error: string | null): void =>
    logRequest(options.logger, 'mcp', { method: method.name, outcome, code, error, durationMs: performance.now() - started, session: context.session, requestId: fromMarker(ctx.mcpReq.id), params: args });
  try {
    const result: unknown = await turn.run(async () => method.handler(args, context));
    await sent;
    report('ok', null, null);
    const content: CallToolResult['content'] = [{ type: 'text', text: JSON.stringify(result) }];
    return method.result instanceof z.ZodObject ? { content, structuredContent: result as Record<string, unknown> } : { content };
  } catch (error) {
    await sent;
    const needsHost = await turn.inputRequiredFor(error);
    if (needsHost !== null) {
      report('input_required', null, null);
      return inputRequired(needsHost);
    }
    if (isAppError(error)) report(error.kind, APPLICATION_ERRORS[error.kind].code, error.message);
    else report('internal_error', INTERNAL_ERROR, 'Internal error');
    return toolError(error, logger);
  }
}

/** An `isError` result in words the host's model (and its user) can act on. */
export function toolError(error: unknown, logger: Logger): CallToolResult {
  if (isAppError(error)) {
    const info = APPLICATION_ERRORS[error.kind];
    if (error.kind === 'storage_error') logger.error({ err: error.detail }, error.message);
    else if (error.detail !== undefined) logger.debug({ cause: causeOf(error.detail), kind: error.kind }, error.message);
    return {
      content: [{ type: 'text', text: `${error.message}\n\nWhat to do: ${info.whatToDo} (error ${error.kind}, code ${info.code})` }],
      isError: true,
    };
  }
  logger.error({ err: error }, 'MCP tool failed');
  return {
    content: [{ type: 'text', text: 'Internal error: the server failed to handle the request; it has been logged.' }],
    isError: true,
  };
}
