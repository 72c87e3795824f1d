/**
 * The method registry: every RPC method is declared once — name, docs, zod params and result, hints
 * and handler — and every transport (WebSocket JSON-RPC, MCP tools, OpenRPC, docs/API.md) is derived
 * from that one list.
 */
import { z } from 'zod';
import type { Logger } from 'pino';
import type { SessionBinding } from '../services/session-binding.js';
import type { ExactNumber } from './exact-ids.js';
import type { Access } from './access.js';

// Kept here too: every method file reads it from the registry it declares its methods with.
export type { SessionBinding };

/** A request id; numbers a double cannot hold exactly arrive as `ExactNumber` (their text, echoed verbatim). */
export type JsonRpcId = string | number | ExactNumber | null;

export interface MethodContext {
  session: SessionBinding;
  /** The request's id; undefined for a notification. */
  requestId: JsonRpcId | undefined;
  /** Fires when the client goes away or cancels, or the server shuts down. */
  signal: AbortSignal;
  transport: 'websocket' | 'mcp' | 'internal';
  logger: Logger;
  /**
   * Sends a JSON-RPC notification to this client. Only for clients that asked for it (`stream: true`):
   * old clients read the next frame as their answer, so nothing unsolicited may be sent.
   */
  notify(method: string, params: Record<string, unknown>): void;
  /**
   * Sends an extra response frame carrying this request's id (legacy `persona.chat_stream` only; it
   * breaks JSON-RPC's one-response rule on purpose, for the old server's clients).
   */
  sendPartialResult(result: Record<string, unknown>): void;
  /** Re-attaches this connection to another session (`session.resume`). */
  attachSession(sessionId: string): void;
  /**
   * Subscribes this connection to a topic's notifications (`conversation:ID`); false when it already
   * was. Only transports that can push to a client (WebSocket) provide it; it is what lets the server
   * send frames nobody asked for in that request — and only to connections that asked for them.
   */
  subscribe?(topic: string): boolean;
  /** Ends a subscription; false when there was none. */
  unsubscribe?(topic: string): boolean;
}

export interface MethodHints {
  /** Changes nothing (MCP `readOnlyHint`). */
  readOnly?: boolean;
  /** May delete or overwrite data (MCP `destructiveHint`). */
  destructive?: boolean;
  /** Calling twice with the same params has the same effect as once (MCP `idempotentHint`). */
  idempotent?: boolean;
  /** Talks to the LLM or other outside systems (MCP `openWorldHint`). */
  openWorld?: boolean;
}

export type ParamsSchema = z.ZodObject<z.ZodRawShape>;

export interface MethodDefinition<P extends ParamsSchema = ParamsSchema, R extends z.ZodType = z.ZodType> {
  name: string;
  /** One line for tables and tool lists. */
  summary: string;
  /** Longer description (markdown) for docs and MCP tool descriptions. */
  description?: string;
  params: P;
  result: R;
  hints?: MethodHints;
  /** Served as an MCP tool unless false (methods that only make sense on a WebSocket). */
  exposeAsTool?: boolean;
  /** Legacy multi-frame method: intermediate frames go out through `sendPartialResult`. */
  legacyStreaming?: boolean;
  /** Set when the method exists for old clients and has a better replacement. */
  deprecated?: string;
  /**
   * Who may call it (access.ts, docs/security.md): `'user'` (any caller, acting on their own data or the
   * shared catalogue), `'admin'`, or `{ owner: 'persona', param }`. Checked by the engine for every
   * transport; required, so no method ships without a rule.
   */
  requires: Access;
  /**
   * Answers the call. It may return the result itself rather than a promise when it has it at hand (a
   * cached read): the WebSocket transport then answers in the same turn of the event loop.
   */
  handler: (params: z.infer<P>, context: MethodContext) => z.infer<R> | Promise<z.infer<R>>;
}

/**
 * Declares a method: params and result are inferred from the schemas while writing the handler, then
 * erased so that methods of different shapes sit in one registry (the engine validates params before
 * the handler sees them, so the erased handler is only ever called with what its schema accepts).
 */
export function defineMethod<P extends ParamsSchema, R extends z.ZodType>(definition: MethodDefinition<P, R>): MethodDefinition {
  return definition as unknown as MethodDefinition;
}

export class MethodRegistry {
  private readonly methods = new Map<string, MethodDefinition>();

  constructor(definitions: Iterable<MethodDefinition> = []) {
    for (const definition of definitions) this.add(definition);
  }

  add(definition: MethodDefinition): void {
    if (this.methods.has(definition.name)) throw new Error(`RPC method ${definition.name} is declared twice`);
    this.methods.set(definition.name, definition);
  }

  get(name: string): MethodDefinition | undefined {
    return this.methods.get(name);
  }

  list(): MethodDefinition[] {
    return [...this.methods.values()];
  }

  get size(): number {
    return this.methods.size;
  }
}
