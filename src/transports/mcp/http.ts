/**
 * MCP Streamable HTTP at `/mcp` on the server's one port (WebSocket upgrades on `/mcp` still go to the
 * JSON-RPC transport; plain HTTP requests come here).
 *
 * - 2026-07-28 requests (they carry the per-request `_meta` envelope) go to the SDK's stateless
 *   `createMcpHandler`: a fresh server instance per request, `subscriptions/listen` streams fed from
 *   our domain events.
 * - 2025-11-25 traffic (the `initialize` handshake, then requests with `Mcp-Session-Id`, GET for the
 *   notification stream, DELETE to end) is served with sessions, as that revision has them: each
 *   session is one SDK streamable HTTP transport, one server instance and one of our sessions.
 *
 * Browsers on other sites (`Origin`) and DNS-rebinding requests (`Host`) are refused by the HTTP
 * server's guard before they get here (`request-guard.ts`).
 */
import type { ServerResponse } from 'node:http';
import {
  createMcpHandler,
  isLegacyRequest,
  WebStandardStreamableHTTPServerTransport,
  type McpHttpHandler,
  type McpServer,
} from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import { isAppError } from '../../domain/errors.js';
import { APPLICATION_ERRORS } from '../../rpc/error-codes.js';
import type { SessionBinding } from '../../rpc/registry.js';
import type { Caller } from '../../services/auth-service.js';
import { systemClock, type Clock } from '../../ports/clock.js';
import { newSessionId } from '../../services/session-service.js';
import type { RequestRateLimits } from '../../ports/rate-limits.js';
import type { ClientAddress } from '../client-address.js';
import { requestApiKey } from '../credentials.js';
import { rateLimitMessage } from '../rate-limit-message.js';
import { holdConnection } from '../http-hold.js';
import { sendJson, type HttpRoute } from '../http-server.js';
import { withExactIds } from './exact-ids-http.js';
import { DEFAULT_STREAM_LIMITS, sendWebResponse, toWebRequest, type StreamLimits } from './node-http.js';
import { CallerListenBus } from './caller-listen-bus.js';
import { mayFollowResource, transcriptUri } from './resources.js';
import { conversationBinding, fixedBinding, PersonaMcpEndpoint, type McpDependencies } from './server.js';

export const MCP_HTTP_PATH = '/mcp';

/** `limits.maxFrameBytes`'s default. */
const DEFAULT_MAX_BODY_BYTES = 1_048_576;

export interface McpHttpTransportOptions {
  core: McpDependencies & { auth: { authenticate(apiKey: string | null): Promise<Caller> } };
  /** 2025-11-25 sessions idle longer than this are closed. Defaults to 1 hour. */
  sessionIdleMs?: number;
  /** Open 2025-11-25 sessions at most. Defaults to 1000. */
  maxSessions?: number;
  /**
   * Open 2025-11-25 sessions per user (the anonymous local user counts per client address), so that one
   * client cannot fill `maxSessions` for everyone. Defaults to 100.
   */
  maxSessionsPerUser?: number;
  /**
   * The largest POST body read (`limits.maxFrameBytes`, as a WebSocket frame); a bigger one is answered
   * HTTP 413 with a `-32020` error. Defaults to 1 MiB. The SDK's own 4 MiB limit is never reached.
   */
  maxBodyBytes?: number;
  /** Bounds on response streams to clients that stop reading. */
  streamLimits?: StreamLimits;
  /** Time for sessions' idle expiry. Defaults to the system clock. */
  clock?: Clock;
  /** Request rates per API key and per address (each HTTP request costs one); none: not limited. */
  rateLimits?: RequestRateLimits;
  /** The client's address (behind a trusted proxy, the one it forwarded). Defaults to the peer's. */
  clientAddress?: ClientAddress;
  /** Told of each transcript-updated notice put on the 2026-07-28 listen streams (metrics). */
  onTranscriptNotice?: () => void;
}

interface LegacySession {
  transport: WebStandardStreamableHTTPServerTransport;
  server: McpServer;
  /** The API key's user that opened it; only that user may use it. */
  userId: string | null;
  /** The key it was opened with: revoking the key ends the session. */
  keyId: string | null;
  /** Whose share of `maxSessionsPerUser` it counts against. */
  owner: string;
  lastSeenAt: number;
}

/** Carries the authenticated caller from the route to the per-request server factory. */
const CALLER_KEY = 'persona-mcp/caller';

export class McpHttpTransport {
  private readonly endpoint: PersonaMcpEndpoint;
  private readonly modern: McpHttpHandler;
  private readonly sessions = new Map<string, LegacySession>();
  /** Sessions whose `initialize` is being handled: session id → owner. */
  private readonly opening = new Map<string, string>();
  private readonly logger: Logger;
  private readonly sweeper: NodeJS.Timeout;
  /** The listen streams' bus, knowing each stream's caller. */
  private readonly listenBus: CallerListenBus;
  private readonly unsubscribe: () => void;
  private readonly sessionIdleMs: number;
  private readonly maxSessions: number;
  private readonly maxSessionsPerUser: number;
  private readonly clock: Clock;

  constructor(private readonly options: McpHttpTransportOptions) {
    const { core } = options;
    this.logger = core.logger.child({ transport: 'mcp-http' });
    this.sessionIdleMs = options.sessionIdleMs ?? 3_600_000;
    this.maxSessions = options.maxSessions ?? 1000;
    this.maxSessionsPerUser = options.maxSessionsPerUser ?? 100;
    this.clock = options.clock ?? systemClock;
    this.endpoint = new PersonaMcpEndpoint(core);
    // The bus the handler's `subscriptions/listen` streams subscribe to: its listener count says whether
    // anyone listens at all.
    const listenBus = new CallerListenBus(
      (caller, uri) =>
        mayFollowResource(core.services.conversations, conversationBinding(core.services.conversations, { userId: caller.userId, role: caller.role }), uri),
      (error) => this.logger.debug({ err: error }, 'MCP listen stream failed'),
    );
    this.listenBus = listenBus;
    this.modern = createMcpHandler(
      ({ era, authInfo }) => {
        const caller = (authInfo?.extra?.[CALLER_KEY] as Caller | undefined) ?? null;
        return this.endpoint.createServer({
          era,
          bindingFor: conversationBinding(core.services.conversations, { userId: caller?.userId ?? null, role: caller?.role ?? 'admin' }),
          isLive: false,
        });
      },
      {
        legacy: 'reject',
        bus: listenBus,
        onerror: (error) => this.logger.debug({ err: error }, 'MCP HTTP request refused or failed'),
      },
    );
    const stopEvents = core.events.subscribe((event) => {
      if (event.type !== 'personaChanged') return;
      this.modern.notify.resourcesChanged();
      this.modern.notify.promptsChanged();
      // Personas changed through another node change this node's resource list too.
    }, { fromOtherNodes: true });
    const stopFeed = core.feed.subscribe((update) => {
      // With no listen stream open, a notice would go nowhere: the conversation's participants (a read of
      // the conversation, on every stored message) are not looked up for it (bench/README.md, round 16).
      if (update.kind !== 'turn' || listenBus.listenerCount === 0) return;
      void update.participants().then(
        (personaIds) => {
          for (const personaId of personaIds) {
            this.modern.notify.resourceUpdated(transcriptUri(personaId, update.conversationId));
            options.onTranscriptNotice?.();
          }
        },
        (error: unknown) => this.logger.warn({ err: error }, 'transcript notification failed'),
      );
    });
    this.unsubscribe = () => {
      stopEvents();
      stopFeed();
    };
    this.sweeper = setInterval(() => void this.closeIdleSessions(), Math.min(60_000, this.sessionIdleMs));
    this.sweeper.unref();
  }

  /** The `HttpServer` route: answers requests for `/mcp`, leaves everything else to other routes. */
  readonly route: HttpRoute = async (request, response, url) => {
    if (url.pathname !== MCP_HTTP_PATH) return false;
    if (request.method !== 'POST' && request.method !== 'GET' && request.method !== 'DELETE') {
      response.setHeader('allow', 'GET, POST, DELETE');
      refuse(response, 405, 'Method not allowed: MCP Streamable HTTP uses POST, GET and DELETE.');
      return true;
    }
    let caller: Caller;
    try {
      caller = await this.options.core.auth.authenticate(requestApiKey(request, url));
    } catch (error) {
      if (!isAppError(error) || error.kind !== 'unauthorized') throw error;
      sendJson(
        response,
        401,
        { jsonrpc: '2.0', id: null, error: { code: APPLICATION_ERRORS.unauthorized.code, message: error.message } },
        { 'www-authenticate': 'Bearer' },
      );
      return true;
    }
    const address = this.options.clientAddress?.(request) ?? request.socket.remoteAddress ?? 'unknown';
    if (this.options.rateLimits !== undefined) {
      const verdict = await this.options.rateLimits.take({ keyId: caller.keyId, address }, 1);
      if (!verdict.allowed) {
        this.logger.warn({ ip: address, limit: verdict.limit, retryAfterMs: verdict.retryAfterMs }, `MCP request rate-limited per ${verdict.limit}`);
        const info = APPLICATION_ERRORS.rate_limited;
        sendJson(
          response,
          429,
          {
            jsonrpc: '2.0',
            id: null,
            error: {
              code: info.code,
              message: rateLimitMessage(verdict.limit, verdict.perSecond, verdict.retryAfterMs),
              data: { kind: 'rate_limited', limit: verdict.limit, retry_after_ms: verdict.retryAfterMs, hint: info.whatToDo },
            },
          },
          { 'retry-after': String(Math.ceil(verdict.retryAfterMs / 1000)) },
        );
        holdConnection(request, response, verdict.retryAfterMs, this.clock);
        return true;
      }
    }
    const exact = await withExactIds(toWebRequest(request, response, url), this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
    if (exact.kind === 'answered') {
      await sendWebResponse(response, exact.response);
      return true;
    }
    const webRequest = exact.request;
    const owner = caller.userId === null ? `address:${address}` : `user:${caller.userId}`;
    const webResponse = (await isLegacyRequest(webRequest))
      ? await this.handleLegacy(webRequest, caller, owner)
      : await this.listenBus.asCaller(caller, () =>
          this.modern.fetch(webRequest, {
            authInfo: { token: '', clientId: caller.userId ?? 'local', scopes: [caller.role], extra: { [CALLER_KEY]: caller } },
          }),
        );
    await sendWebResponse(response, exact.restore(webResponse), this.options.streamLimits ?? DEFAULT_STREAM_LIMITS);
    return true;
  };

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Ends every 2025-11-25 session opened with one of these keys: they were revoked. */
  async dropRevokedKeys(keyIds: ReadonlySet<string>): Promise<number> {
    const doomed = [...this.sessions].filter(([, session]) => session.keyId !== null && keyIds.has(session.keyId)).map(([id]) => id);
    await Promise.all(doomed.map((id) => this.closeSession(id)));
    return doomed.length;
  }

  /** 2025-11-25: `initialize` opens a session; everything after names it in `Mcp-Session-Id`. */
  private async handleLegacy(request: Request, caller: Caller, owner: string): Promise<Response> {
    const sessionId = request.headers.get('mcp-session-id');
    if (sessionId !== null) {
      const session = this.sessions.get(sessionId);
      // Another user's session is answered like a missing one: its id tells that user nothing.
      if (session === undefined || session.userId !== caller.userId)
        return jsonRpcError(404, -32001, 'Session not found: it ended, expired or the server restarted. Initialize a new session.');
      session.lastSeenAt = this.clock.now();
      return session.transport.handleRequest(request);
    }
    if (request.method !== 'POST') return jsonRpcError(400, -32000, 'Bad Request: send Mcp-Session-Id, or initialize a session first.');
    if (this.sessions.size + this.opening.size >= this.maxSessions) {
      return jsonRpcError(
        503,
        APPLICATION_ERRORS.limit_exceeded.code,
        `Too many MCP sessions are open (mcp.maxSessions = ${this.maxSessions}); close one or retry later.`,
      );
    }
    let mine = 0;
    for (const session of this.sessions.values()) if (session.owner === owner) mine += 1;
    for (const opener of this.opening.values()) if (opener === owner) mine += 1;
    if (mine >= this.maxSessionsPerUser) {
      return jsonRpcError(
        429,
        APPLICATION_ERRORS.limit_exceeded.code,
        `You have ${mine} MCP sessions open (mcp.maxSessionsPerUser = ${this.maxSessionsPerUser}); end one with DELETE, or reuse it.`,
      );
    }

    const id = newSessionId();
    const binding: SessionBinding = { id, userId: caller.userId, role: caller.role };
    const server = this.endpoint.createServer({ era: 'legacy', bindingFor: fixedBinding(binding), isLive: true });
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => id,
      onsessioninitialized: () => {
        this.sessions.set(id, { transport, server, userId: caller.userId, keyId: caller.keyId, owner, lastSeenAt: this.clock.now() });
        this.logger.info({ session: id }, 'MCP session opened');
      },
      onsessionclosed: () => void this.closeSession(id),
    });
    // Counted while the handshake runs, so that parallel initializes cannot overshoot the caps.
    this.opening.set(id, owner);
    let response: Response;
    try {
      await server.connect(transport);
      response = await transport.handleRequest(request);
    } finally {
      this.opening.delete(id);
    }
    // Anything but a successful initialize leaves no session behind.
    if (!this.sessions.has(id)) await server.close().catch(() => undefined);
    return response;
  }

  private async closeSession(id: string): Promise<void> {
    const session = this.sessions.get(id);
    if (session === undefined) return;
    this.sessions.delete(id);
    await session.server.close().catch((error: unknown) => this.logger.debug({ err: error }, 'MCP session close failed'));
    this.logger.info({ session: id }, 'MCP session closed');
  }

  private async closeIdleSessions(): Promise<void> {
    const cutoff = this.clock.now() - this.sessionIdleMs;
    const idle = [...this.sessions].filter(([, session]) => session.lastSeenAt < cutoff).map(([id]) => id);
    await Promise.all(idle.map((id) => this.closeSession(id)));
  }

  /** Ends every session and stream (they would otherwise keep the HTTP server from closing). */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.unsubscribe();
    await Promise.all([...this.sessions.keys()].map((id) => this.closeSession(id)));
    await this.modern.close();
    this.endpoint.close();
  }
}

function refuse(response: ServerResponse, status: number, message: string): void {
  sendJson(response, status, {
    jsonrpc: '2.0',
    id: null,
    error: { code: status === 403 ? APPLICATION_ERRORS.forbidden.code : -32000, message },
  });
}

function jsonRpcError(status: number, code: number, message: string): Response {
  return Response.json({ jsonrpc: '2.0', id: null, error: { code, message } }, { status });
}
