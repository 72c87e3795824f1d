/**
 * JSON-RPC 2.0 over WebSocket at `/mcp`, wire-compatible with the old Python server's clients: one
 * message or batch per text frame, and never a frame the client did not ask for (old clients read the
 * next frame as the answer to their request).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { APPLICATION_ERRORS } from '../rpc/error-codes.js';
import { fullBucket, takeTokens, type TokenBucket, type TokenBucketLimits } from '../domain/token-bucket.js';
import { errorResponse, messageCost, parseFrame, type ContextFactory, type JsonRpcEngine } from '../rpc/jsonrpc.js';
import type { JsonRpcId, MethodContext, SessionBinding } from '../rpc/registry.js';
import { newSessionId, SESSION_ID_PATTERN } from '../services/session-service.js';
import type { ServerStats } from '../services/system-service.js';
import { isAppError } from '../domain/errors.js';
import type { Caller } from '../services/auth-service.js';
import { requestApiKey } from './credentials.js';
import { isOriginAllowed } from './origin.js';

export const WEBSOCKET_PATH = '/mcp';

export interface WebSocketTransportOptions {
  engine: JsonRpcEngine;
  logger: Logger;
  stats: ServerStats;
  /** Frames larger than this get a `request_too_large` error. Defaults to 1 MiB. */
  maxFrameBytes: number;
  allowedOrigins: readonly string[];
  /** Ping interval that finds dead peers. Defaults to 30 s. */
  heartbeatMs?: number;
  /** Aborted when the server shuts down: in-flight turns stop. */
  shutdownSignal: AbortSignal;
  /** Open connections in total; beyond, new ones are closed with 1013. */
  maxConnections: number;
  /** Open connections per client IP address. */
  maxConnectionsPerIp: number;
  /** Per-connection request rate (token bucket). */
  rateLimit: TokenBucketLimits;
  /** Who a connection acts as, from its API key (null when none was sent); throws `unauthorized`. */
  authenticate: (apiKey: string | null) => Promise<Caller>;
  /** Whether the user may attach to the session id on the URL (it is theirs, or does not exist yet). */
  canAttachSession: (sessionId: string, userId: string | null) => Promise<boolean>;
}

/** WebSocket close code 1013 "Try Again Later" (RFC 6455 registry): the server is at a connection limit. */
export const CLOSE_TRY_AGAIN_LATER = 1013;

/** Frames this many times over the limit are not read at all: the socket closes with 1009. */
const HARD_FRAME_LIMIT_FACTOR = 4;

interface Connection {
  socket: WebSocket;
  session: SessionBinding;
  /** Aborted when the connection closes: its in-flight chat turns stop generating. */
  closed: AbortController;
  /**
   * Fires on close or server shutdown; made once per connection because `AbortSignal.any` costs
   * 40–80 µs per call on Node 20 (bench/README.md).
   */
  signal: AbortSignal;
  isAlive: boolean;
  logger: Logger;
  ip: string;
  bucket: TokenBucket;
  /** Builds each request's context; made once per connection rather than once per frame. */
  createContext: ContextFactory;
  /** Set while rate-limited, so that one burst of refusals is logged once. */
  isThrottled: boolean;
}

export class WebSocketTransport {
  private readonly server: WebSocketServer;
  /** Notification topics (`conversation:ID`) → the connections that subscribed to them. */
  private readonly topics = new Map<string, Set<Connection>>();
  private readonly connections = new Set<Connection>();
  private readonly connectionsPerIp = new Map<string, number>();
  private readonly heartbeat: NodeJS.Timeout;
  private nextConnectionNumber = 1;

  constructor(private readonly options: WebSocketTransportOptions) {
    this.server = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxFrameBytes * HARD_FRAME_LIMIT_FACTOR,
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.heartbeat = setInterval(() => this.pingAll(), options.heartbeatMs ?? 30_000);
    this.heartbeat.unref();
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Accepts or refuses an HTTP upgrade aimed at `/mcp`. */
  async handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, url: URL): Promise<void> {
    if (url.pathname !== WEBSOCKET_PATH) return refuse(socket, 404, `No WebSocket endpoint at ${url.pathname}; connect to ${WEBSOCKET_PATH}.`);
    if (!isOriginAllowed(request, this.options.allowedOrigins)) {
      this.options.logger.warn({ origin: request.headers.origin }, 'refused WebSocket from a foreign origin');
      return refuse(socket, 403, 'This origin may not connect; add it to http.allowedOrigins.');
    }
    const requestedSession = url.searchParams.get('session_id');
    if (requestedSession !== null && !SESSION_ID_PATTERN.test(requestedSession)) {
      return refuse(socket, 400, 'session_id must be 8-64 characters of A-Z, a-z, 0-9, "_" or "-".');
    }
    let caller: Caller;
    try {
      caller = await this.options.authenticate(requestApiKey(request, url));
    } catch (error) {
      if (!isAppError(error) || error.kind !== 'unauthorized') throw error;
      this.options.logger.warn({ ip: request.socket.remoteAddress }, 'refused a WebSocket without a valid API key');
      return refuse(socket, 401, error.message);
    }
    const sessionId = requestedSession ?? newSessionId();
    if (requestedSession !== null && !(await this.options.canAttachSession(requestedSession, caller.userId))) {
      return refuse(socket, 403, 'That session belongs to another user; connect without session_id for a new one.');
    }
    const ip = request.socket.remoteAddress ?? 'unknown';
    this.server.handleUpgrade(request, socket, head, (ws) => {
      const refusal = this.connectionLimitReached(ip);
      if (refusal !== null) {
        this.options.logger.warn({ ip, limit: refusal }, 'refused a WebSocket connection: limit reached');
        ws.close(CLOSE_TRY_AGAIN_LATER, refusal);
        return;
      }
      this.accept(ws, { id: sessionId, userId: caller.userId, role: caller.role }, ip);
    });
  }

  /** The reason to refuse one more connection from `ip` (fits a close frame's 123 bytes), or null. */
  private connectionLimitReached(ip: string): string | null {
    if (this.connections.size >= this.options.maxConnections) {
      return `server full: ${this.options.maxConnections} connections (limits.maxConnections)`;
    }
    if ((this.connectionsPerIp.get(ip) ?? 0) >= this.options.maxConnectionsPerIp) {
      return `too many connections from your address: ${this.options.maxConnectionsPerIp} (limits.maxConnectionsPerIp)`;
    }
    return null;
  }

  private accept(socket: WebSocket, session: SessionBinding, ip: string): void {
    const connectionNumber = this.nextConnectionNumber++;
    const closed = new AbortController();
    const connection: Connection = {
      socket,
      session,
      closed,
      signal: AbortSignal.any([closed.signal, this.options.shutdownSignal]),
      isAlive: true,
      logger: this.options.logger.child({ connection: connectionNumber }),
      ip,
      bucket: fullBucket(this.options.rateLimit, Date.now()),
      isThrottled: false,
      createContext: (requestId, method) => this.createContext(connection, requestId, method),
    };
    this.connections.add(connection);
    this.connectionsPerIp.set(ip, (this.connectionsPerIp.get(ip) ?? 0) + 1);
    this.options.stats.activeConnections += 1;
    this.options.stats.totalConnections += 1;

    connection.logger.debug({ ip, session: session.id, user: session.userId }, 'connection opened');
    socket.on('pong', () => {
      connection.isAlive = true;
    });
    socket.on('message', (data, isBinary) => void this.onMessage(connection, data, isBinary));
    socket.on('error', (error) => connection.logger.debug({ err: error }, 'WebSocket error'));
    socket.on('close', (code) => {
      connection.logger.debug({ code }, 'connection closed');
      this.connections.delete(connection);
      for (const topic of [...this.topics.keys()]) this.removeSubscriber(topic, connection);
      const remaining = (this.connectionsPerIp.get(ip) ?? 1) - 1;
      if (remaining > 0) this.connectionsPerIp.set(ip, remaining);
      else this.connectionsPerIp.delete(ip);
      this.options.stats.activeConnections -= 1;
      connection.closed.abort(new Error('connection closed'));
    });
  }

  private async onMessage(connection: Connection, data: RawData, isBinary: boolean): Promise<void> {
    connection.isAlive = true;
    const size = rawSize(data);
    if (size > this.options.maxFrameBytes) {
      const info = APPLICATION_ERRORS.request_too_large;
      this.send(connection, JSON.stringify(errorResponse(null, {
        code: info.code,
        message: `Request too large: the frame has ${size} bytes; the limit is ${this.options.maxFrameBytes} (limits.maxFrameBytes).`,
        data: { kind: 'request_too_large', limit: this.options.maxFrameBytes, actual: size },
      })));
      return;
    }
    const parsed = parseFrame(rawToText(data, isBinary));
    if (!parsed.ok) {
      this.options.engine.reportUnparsable(connection.createContext);
      this.send(connection, JSON.stringify(parsed.response));
      return;
    }
    const taken = takeTokens(connection.bucket, this.options.rateLimit, messageCost(parsed.message), Date.now());
    connection.bucket = taken.bucket;
    if (!taken.allowed) {
      if (!connection.isThrottled) connection.logger.warn({ ip: connection.ip, retryAfterMs: taken.retryAfterMs }, 'connection rate-limited');
      connection.isThrottled = true;
      const info = APPLICATION_ERRORS.rate_limited;
      const refusal = this.options.engine.rejectAll(parsed.message, {
        code: info.code,
        message: `Rate limited: at most ${this.options.rateLimit.ratePerSecond} requests per second (bursts of ${this.options.rateLimit.burst}) per connection; retry in ${taken.retryAfterMs} ms.`,
        data: { kind: 'rate_limited', retry_after_ms: taken.retryAfterMs, hint: info.whatToDo },
      });
      if (refusal !== null) this.send(connection, JSON.stringify(refusal));
      return;
    }
    connection.isThrottled = false;
    const reply = await this.options.engine.handleParsed(parsed.message, connection.createContext);
    if (reply !== null) this.send(connection, JSON.stringify(reply));
  }

  private createContext(connection: Connection, requestId: JsonRpcId | undefined, method: string): MethodContext {
    return new WebSocketRequestContext(this.hub, connection, requestId, method);
  }

  /** What a request's context may do to the transport; made once, shared by every request. */
  private readonly hub: ConnectionHub = {
    send: (connection, text) => this.send(connection, text),
    subscribe: (topic, connection) => {
      const subscribers = this.topics.get(topic) ?? new Set<Connection>();
      this.topics.set(topic, subscribers);
      if (subscribers.has(connection)) return false;
      subscribers.add(connection);
      return true;
    },
    unsubscribe: (topic, connection) => this.removeSubscriber(topic, connection),
  };

  /**
   * Sends a notification to every connection subscribed to `topic`: serialised once, the same string
   * to all. Returns how many connections it went to.
   */
  publish(topic: string, method: string, params: Record<string, unknown>): number {
    const subscribers = this.topics.get(topic);
    if (subscribers === undefined || subscribers.size === 0) return 0;
    const text = JSON.stringify({ jsonrpc: '2.0', method, params });
    for (const connection of subscribers) this.send(connection, text);
    return subscribers.size;
  }

  private removeSubscriber(topic: string, connection: Connection): boolean {
    const subscribers = this.topics.get(topic);
    const removed = subscribers?.delete(connection) ?? false;
    if (subscribers !== undefined && subscribers.size === 0) this.topics.delete(topic);
    return removed;
  }

  private send(connection: Connection, text: string): void {
    if (connection.socket.readyState === connection.socket.OPEN) connection.socket.send(text);
  }

  private pingAll(): void {
    for (const connection of this.connections) {
      if (!connection.isAlive) {
        connection.socket.terminate();
        continue;
      }
      connection.isAlive = false;
      connection.socket.ping();
    }
  }

  /** Closes every connection with 1001 (going away) and stops the heartbeat. */
  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    const closing = [...this.connections].map(
      (connection) =>
        new Promise<void>((resolve) => {
          connection.socket.once('close', () => resolve());
          connection.socket.close(1001, 'server shutting down');
          setTimeout(() => {
            connection.socket.terminate();
            resolve();
          }, 2000).unref();
        }),
    );
    await Promise.all(closing);
    this.server.close();
  }
}

interface ConnectionHub {
  send(connection: Connection, text: string): void;
  subscribe(topic: string, connection: Connection): boolean;
  unsubscribe(topic: string, connection: Connection): boolean;
}

/**
 * One request's context. A class rather than an object literal: its methods live on the prototype, so
 * a request allocates one small object instead of six closures (the rpc loop runs ~20k of these per s).
 */
class WebSocketRequestContext implements MethodContext {
  readonly transport = 'websocket' as const;
  private childLogger: Logger | undefined;

  constructor(
    private readonly hub: ConnectionHub,
    private readonly connection: Connection,
    readonly requestId: JsonRpcId | undefined,
    private readonly method: string,
  ) {}

  get session(): SessionBinding {
    return this.connection.session;
  }

  get signal(): AbortSignal {
    return this.connection.signal;
  }

  /** Made on first use: most requests never log, and a child logger per request cost ~8% of the time of a cheap call. */
  get logger(): Logger {
    return (this.childLogger ??= this.connection.logger.child({ method: this.method, requestId: this.requestId }));
  }

  notify(method: string, params: Record<string, unknown>): void {
    this.hub.send(this.connection, JSON.stringify({ jsonrpc: '2.0', method, params }));
  }

  sendPartialResult(result: Record<string, unknown>): void {
    if (this.requestId !== undefined) this.hub.send(this.connection, JSON.stringify({ jsonrpc: '2.0', id: this.requestId, result }));
  }

  attachSession(sessionId: string): void {
    this.connection.session.id = sessionId;
  }

  subscribe(topic: string): boolean {
    return this.hub.subscribe(topic, this.connection);
  }

  unsubscribe(topic: string): boolean {
    return this.hub.unsubscribe(topic, this.connection);
  }
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found' };

function refuse(socket: Duplex, status: number, message: string): void {
  const reason = STATUS_TEXT[status] ?? 'Error';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(message)}\r\nConnection: close\r\n\r\n${message}`);
}

function rawSize(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((total, part) => total + part.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}

function rawToText(data: RawData, _isBinary: boolean): string {
  // Binary frames are decoded as UTF-8 too: some clients send JSON that way, and the JSON parser
  // answers a clear parse error if it was something else.
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}
