/**
 * JSON-RPC 2.0 over WebSocket at `/mcp`, wire-compatible with the old Python server's clients: one
 * message or batch per text frame, and never a frame the client did not ask for (old clients read the
 * next frame as the answer to their request).
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { APPLICATION_ERRORS } from '../rpc/error-codes.js';
import { fullBucket, takeTokens, type TokenBucket, type TokenBucketLimits } from '../domain/token-bucket.js';
import { stringifyMessage } from '../rpc/exact-ids.js';
import { encodeResponse } from '../rpc/shared-results.js';
import { errorResponse, parseFrame, type ContextFactory, type JsonRpcEngine, type JsonRpcResponse } from '../rpc/jsonrpc.js';
import type { JsonRpcId, MethodContext, SessionBinding } from '../rpc/registry.js';
import { newSessionId, SESSION_ID_PATTERN } from '../services/session-service.js';
import type { ServerStats } from '../services/system-service.js';
import { isAppError } from '../domain/errors.js';
import type { Caller } from '../services/auth-service.js';
import { systemClock, type Clock } from '../ports/clock.js';
import type { RateSubject, RateVerdict, RequestRateLimits } from '../ports/rate-limits.js';
import { requestApiKey } from './credentials.js';
import type { ClientAddress } from './client-address.js';
import { rateLimitMessage } from './rate-limit-message.js';
import { refuseUpgrade } from './http-server.js';
import { InputGate } from './input-gate.js';

export const WEBSOCKET_PATH = '/mcp';
/** The query parameter carrying the start-up warm-up's key (`WebSocketTransport.warmUp`). */
const WARM_UP_KEY = 'warm_up_key';

export interface WebSocketTransportOptions {
  engine: JsonRpcEngine;
  logger: Logger;
  stats: ServerStats;
  /** Frames larger than this get a `request_too_large` error. Defaults to 1 MiB. */
  maxFrameBytes: number;
  /**
   * Ping interval. A connection that has not answered the previous ping with a pong by the next one is
   * dropped (frames it sends do not count: a client that writes but never reads is not alive).
   * Defaults to 30 s.
   */
  heartbeatMs?: number;
  /** Aborted when the server shuts down: in-flight turns stop. */
  shutdownSignal: AbortSignal;
  /** Open connections in total; beyond, upgrades are refused with HTTP 503. */
  maxConnections: number;
  /** Open connections per client IP address; beyond, upgrades are refused with HTTP 429. */
  maxConnectionsPerIp: number;
  /** Open connections per user (API key owner); beyond, HTTP 429. The anonymous local user has none. */
  maxConnectionsPerUser: number;
  /**
   * Bytes that may wait to be sent to one client. Beyond, the server stops reading that client's frames
   * until it catches up; still beyond after `slowClientGraceMs`, or twice beyond, the connection is
   * closed (1008). Defaults to 8 MiB.
   */
  maxQueuedBytes?: number;
  /** How long a client may stay over `maxQueuedBytes`. Defaults to 10 s. */
  slowClientGraceMs?: number;
  /**
   * Per-connection request rate (token bucket). A frame over it is refused (`rate_limited`, with
   * `retry_after_ms`) and the connection is not read again until its next token is due.
   */
  rateLimit: TokenBucketLimits;
  /**
   * Requests of one connection whose answers may be pending at once (handlers still running); at this
   * many the connection is not read until one is answered. Defaults to 64.
   */
  maxPendingRequests?: number;
  /** Request rates per API key and per address (shared by the nodes with Redis); none: not limited. */
  rateLimits?: RequestRateLimits;
  /** The client's address (behind a trusted proxy, the one it forwarded). Defaults to the peer's. */
  clientAddress?: ClientAddress;
  /** Who a connection acts as, from its API key (null when none was sent); throws `unauthorized`. */
  authenticate: (apiKey: string | null) => Promise<Caller>;
  /**
   * Binds a client-chosen session id to the user: creates the session for them when it does not exist
   * yet, and answers false when it belongs to someone else.
   */
  claimSession: (sessionId: string, userId: string | null) => Promise<boolean>;
  /** A new session's id for a connection that names none. Defaults to `newSessionId` (nothing remembered). */
  beginSession?: () => string;
  /** Whether the API key a connection was opened with has been revoked since (checked per request). */
  isKeyRevoked: (keyId: string) => boolean;
  /** Time for rate limits and the slow-client grace. Defaults to the system clock. */
  clock?: Clock;
}

/** WebSocket close code 1008 "Policy Violation": a client that does not read, a revoked key. */
export const CLOSE_POLICY_VIOLATION = 1008;
/** WebSocket close code 1001 "Going Away": the server shuts down. */
export const CLOSE_GOING_AWAY = 1001;

const DEFAULT_MAX_QUEUED_BYTES = 8 * 1024 * 1024;
const DEFAULT_MAX_PENDING_REQUESTS = 64;
/** How often a paused (slow) connection is checked for having caught up. */
const SLOW_CLIENT_CHECK_MS = 100;
/**
 * The heartbeat pings a slice of the connections this often, each connection once per `heartbeatMs`:
 * pinging 10,000 connections in one go (a socket write each) stalled the event loop for tens of ms.
 */
const HEARTBEAT_SLICE_MS = 250;

/**
 * Rate-limit refusals are logged at most this often per connection, and per key or address whatever the
 * number of its connections: a flooding client must not turn into a flood of log lines.
 */
const REFUSALS_LOG_MS = 1_000;
/** Budgets remembered for that; past it the memory starts over. */
const MAX_SHARED_LIMIT_WARNINGS = 10_000;

/** A new subscription's notifications wait at most this long for the subscribe's answer (`heldFeeds`). */
const MAX_FEED_HOLD_MS = 5_000;

/** `ws` sends a Buffer as a binary frame unless told otherwise. */
const TEXT_FRAME = { binary: false } as const;

/** Frames this many times over the limit are not read at all: the socket closes with 1009. */
const HARD_FRAME_LIMIT_FACTOR = 4;

/**
 * One open connection. A class, not an object literal: a literal with getters (the lazy `signal` and
 * `logger`) is kept by V8 as a dictionary, so every read of a connection's field on every request was a
 * hash look-up, and each idle connection carried the table (bench/README.md, round 10).
 */
class Connection {
  /** Whether `stream` is corked until the end of this run of the event loop. */
  isCorked = false;
  /** Set when its socket closes (`markClosed`). */
  isClosed = false;
  /** Whether a pong arrived since the last ping. */
  isAlive = true;
  /**
   * Holds its input (stops reading the socket) while it is over its rate, has too many requests pending
   * or reads its answers too slowly; frames already read wait in it, in order.
   */
  readonly gate: InputGate<RawData>;
  /** Its frames whose answers are pending (handlers still running); see `maxPendingRequests`. */
  pending = 0;
  /** While held for its rate: when its next token is due (clock time). */
  rateHeldUntil = 0;
  rateTimer: NodeJS.Timeout | null = null;
  /** Set while over the queued-bytes cap: its frames are not read until it catches up. */
  slowSince: number | null = null;
  slowTimer: NodeJS.Timeout | null = null;
  /** Who the per-key and per-address rate limits count this connection as (made once). */
  readonly rateSubject: RateSubject;
  /** Builds each request's context; made once per connection rather than once per frame. */
  readonly createContext: ContextFactory;
  /** Set while rate-limited, so that one burst of refusals is logged once. */
  isThrottled = false;
  /**
   * When its refusals were last logged: a client that keeps sending faster than its rate alternates one
   * allowed frame and a burst of refusals, and is logged at most once per `REFUSALS_LOG_MS`, not per burst.
   */
  refusalsLoggedAt = Number.NEGATIVE_INFINITY;
  /**
   * Topics this connection subscribed to in a request not answered yet → the notifications held
   * meanwhile. A subscriber hears the feed only after its subscribe's answer, so a client that reads the
   * next frame as that answer never gets a notification instead. Null while nothing is held (almost always).
   */
  heldFeeds: Map<string, HeldFeed> | null = null;
  /** Made on first use (`signal`, `logger`): most of an idle connection's memory would otherwise be these two. */
  private madeSignal: AbortSignal | undefined;
  /** Aborts `signal` when the connection closes; made with it. */
  private closing: AbortController | undefined;
  private madeLogger: Logger | undefined;

  constructor(
    readonly socket: WebSocket,
    /** The connection's network stream (what `socket` writes to): corked while frames gather (see `send`). */
    readonly stream: Duplex,
    readonly session: SessionBinding,
    readonly ip: string,
    /** The API key it was opened with (null without one): revoking the key ends the connection. */
    readonly keyId: string | null,
    private readonly number: number,
    /** Its slice of the heartbeat (see `HEARTBEAT_SLICE_MS`): the same each round, so a ping gets a full period to be answered. */
    readonly heartbeatSlice: Set<Connection>,
    readonly bucket: TokenBucket,
    /** The per-key and per-address budgets its requests are taken from; none for the start-up warm-up's. */
    readonly sharedLimits: RequestRateLimits | undefined,
    private readonly shutdownSignal: AbortSignal,
    private readonly parentLogger: Logger,
    read: (connection: Connection, data: RawData) => void,
    context: (connection: Connection, requestId: JsonRpcId | undefined, method: string) => MethodContext,
  ) {
    this.gate = new InputGate<RawData>(socket, (data) => read(this, data));
    this.rateSubject = { keyId, address: ip };
    this.createContext = (requestId, method) => context(this, requestId, method);
  }

  /**
   * Fires on close or server shutdown; made once per connection, on its first use, because
   * `AbortSignal.any` costs 40–80 µs per call on Node 20 and keeps ~2.5 KB per signal (bench/README.md):
   * an idle connection never pays for it.
   */
  get signal(): AbortSignal {
    if (this.madeSignal === undefined) {
      this.closing = new AbortController();
      if (this.isClosed) this.closing.abort(new Error('connection closed'));
      this.madeSignal = AbortSignal.any([this.closing.signal, this.shutdownSignal]);
    }
    return this.madeSignal;
  }

  /**
   * Its socket closed: `signal` fires (its in-flight chat turns stop generating). A connection that never
   * made its signal builds no Error for it: an Error with its stack and the abort cost ~37 µs, a stall of
   * tens of ms when a thousand connections drop at once.
   */
  markClosed(): void {
    this.isClosed = true;
    this.closing?.abort(new Error('connection closed'));
  }

  get logger(): Logger {
    return (this.madeLogger ??= this.parentLogger.child({ connection: this.number }));
  }
}

interface HeldFeed {
  /** The subscribing request: its answer releases the held frames. */
  requestId: JsonRpcId;
  frames: string[];
}

export class WebSocketTransport {
  private readonly server: WebSocketServer;
  /** Notification topics (`conversation:ID`) → the connections that subscribed to them. */
  private readonly topics = new Map<string, Set<Connection>>();
  private readonly connections = new Set<Connection>();
  private readonly connectionsPerIp = new Map<string, number>();
  private readonly connectionsPerUser = new Map<string, number>();
  private readonly heartbeat: NodeJS.Timeout;
  /** The connections in each slice of the heartbeat period; one slice is pinged per tick. */
  private readonly heartbeatSlices: Array<Set<Connection>>;
  private heartbeatTick = 0;
  private readonly maxQueuedBytes: number;
  private readonly maxPendingRequests: number;
  private readonly slowClientGraceMs: number;
  private readonly clock: Clock;
  private nextConnectionNumber = 1;
  /** When each shared budget (per key, per address) last had its refusals logged (`warnSharedLimit`). */
  private readonly sharedLimitWarnings = new Map<string, number>();
  private isClosing = false;
  /** Frames being handled; shutdown lets them answer (briefly) before the close frames go out. */
  private inFlight = 0;
  private onIdle: (() => void) | null = null;

  constructor(private readonly options: WebSocketTransportOptions) {
    this.server = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxFrameBytes * HARD_FRAME_LIMIT_FACTOR,
      perMessageDeflate: false,
      clientTracking: false,
    });
    const heartbeatMs = options.heartbeatMs ?? 30_000;
    const slices = Math.max(1, Math.floor(heartbeatMs / HEARTBEAT_SLICE_MS));
    this.heartbeatSlices = Array.from({ length: slices }, () => new Set<Connection>());
    this.heartbeat = setInterval(() => this.pingSlice(), heartbeatMs / slices);
    this.heartbeat.unref();
    this.maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    this.maxPendingRequests = options.maxPendingRequests ?? DEFAULT_MAX_PENDING_REQUESTS;
    this.clock = options.clock ?? systemClock;
    this.slowClientGraceMs = options.slowClientGraceMs ?? 10_000;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * Accepts or refuses an HTTP upgrade aimed at `/mcp` (Host and Origin were checked by the HTTP
   * server). A refusal is a plain HTTP answer, before any WebSocket exists: 400, 401, 403, and 429/503
   * at the connection limits (with `Retry-After`).
   */
  async handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, url: URL): Promise<void> {
    if (url.pathname !== WEBSOCKET_PATH) return refuseUpgrade(socket, 404, `No WebSocket endpoint at ${url.pathname}; connect to ${WEBSOCKET_PATH}.`);
    if (this.isClosing) return refuseUpgrade(socket, 503, 'The server is shutting down.', { 'Retry-After': '5' });
    const requestedSession = url.searchParams.get('session_id');
    if (requestedSession !== null && !SESSION_ID_PATTERN.test(requestedSession)) {
      return refuseUpgrade(socket, 400, 'session_id must be 8-64 characters of A-Z, a-z, 0-9, "_" or "-".');
    }
    const ip = this.options.clientAddress?.(request) ?? request.socket.remoteAddress ?? 'unknown';
    // Checked before the key too, so that a flood of upgrades costs no key look-ups.
    const early = this.connectionLimitReached(ip, null);
    if (early !== null) return this.refuseOverLimit(socket, ip, early);
    let caller: Caller;
    try {
      caller = await this.options.authenticate(requestApiKey(request, url));
    } catch (error) {
      if (!isAppError(error) || error.kind !== 'unauthorized') throw error;
      this.options.logger.warn({ ip }, 'refused a WebSocket without a valid API key');
      return refuseUpgrade(socket, 401, error.message, { 'WWW-Authenticate': 'Bearer' });
    }
    const sessionId = requestedSession ?? (this.options.beginSession ?? newSessionId)();
    if (requestedSession !== null && !(await this.options.claimSession(requestedSession, caller.userId))) {
      this.options.logger.warn({ ip, user: caller.userId }, "refused a WebSocket asking for another user's session");
      return refuseUpgrade(socket, 403, 'That session belongs to another user; connect without session_id for a new one.');
    }
    // Again after the awaits: the upgrade below completes synchronously, so the check and the count agree.
    const refusal = this.connectionLimitReached(ip, caller.userId);
    if (refusal !== null) return this.refuseOverLimit(socket, ip, refusal);
    if (this.isClosing) return refuseUpgrade(socket, 503, 'The server is shutting down.', { 'Retry-After': '5' });
    this.server.handleUpgrade(request, socket, head, (ws) => {
      this.accept(ws, socket, { id: sessionId, userId: caller.userId, role: caller.role }, ip, caller.keyId);
    });
  }

  private refuseOverLimit(socket: Duplex, ip: string, refusal: { status: 429 | 503; message: string }): void {
    this.options.logger.warn({ ip, limit: refusal.message }, 'refused a WebSocket connection: limit reached');
    refuseUpgrade(socket, refusal.status, refusal.message, { 'Retry-After': '5' });
  }

  /** Why one more connection from `ip` for `userId` is refused (503 when the server is full, else 429), or null. */
  private connectionLimitReached(ip: string, userId: string | null): { status: 429 | 503; message: string } | null {
    if (this.connections.size >= this.options.maxConnections) {
      return { status: 503, message: `Server full: ${this.options.maxConnections} connections are open (limits.maxConnections); retry later.` };
    }
    if ((this.connectionsPerIp.get(ip) ?? 0) >= this.options.maxConnectionsPerIp) {
      return { status: 429, message: `Too many connections from your address: ${this.options.maxConnectionsPerIp} are open (limits.maxConnectionsPerIp); close some.` };
    }
    if (userId !== null && (this.connectionsPerUser.get(userId) ?? 0) >= this.options.maxConnectionsPerUser) {
      return { status: 429, message: `Too many connections for your API key's user: ${this.options.maxConnectionsPerUser} are open (limits.maxConnectionsPerUser); close some.` };
    }
    return null;
  }

  /** Closes (1008) every connection opened with one of these keys: they were revoked. */
  dropRevokedKeys(keyIds: ReadonlySet<string>): number {
    let dropped = 0;
    for (const connection of this.connections) {
      if (connection.keyId === null || !keyIds.has(connection.keyId)) continue;
      connection.logger.info({ keyId: connection.keyId }, 'closing a connection: its API key was revoked');
      this.closeHard(connection, CLOSE_POLICY_VIOLATION, 'API key revoked');
      dropped += 1;
    }
    return dropped;
  }

  private accept(socket: WebSocket, stream: Duplex, session: SessionBinding, ip: string, keyId: string | null): void {
    const connectionNumber = this.nextConnectionNumber++;
    const heartbeatSlice = this.heartbeatSlices[connectionNumber % this.heartbeatSlices.length]!;
    const connection = this.open(socket, stream, session, ip, keyId, connectionNumber, heartbeatSlice, this.options.rateLimits);
    this.connections.add(connection);
    connection.heartbeatSlice.add(connection);
    this.connectionsPerIp.set(ip, (this.connectionsPerIp.get(ip) ?? 0) + 1);
    const userId = session.userId;
    if (userId !== null) this.connectionsPerUser.set(userId, (this.connectionsPerUser.get(userId) ?? 0) + 1);
    this.options.stats.activeConnections += 1;
    this.options.stats.totalConnections += 1;

    if (this.options.logger.isLevelEnabled('debug')) connection.logger.debug({ ip, session: session.id, user: session.userId }, 'connection opened');
    socket.on('close', (code) => {
      // Asked first: the connection's child logger is made on first use, and most connections never log.
      if (this.options.logger.isLevelEnabled('debug')) connection.logger.debug({ code }, 'connection closed');
      this.connections.delete(connection);
      connection.heartbeatSlice.delete(connection);
      for (const topic of [...this.topics.keys()]) this.removeSubscriber(topic, connection);
      const remaining = (this.connectionsPerIp.get(ip) ?? 1) - 1;
      if (remaining > 0) this.connectionsPerIp.set(ip, remaining);
      else this.connectionsPerIp.delete(ip);
      if (userId !== null) {
        const left = (this.connectionsPerUser.get(userId) ?? 1) - 1;
        if (left > 0) this.connectionsPerUser.set(userId, left);
        else this.connectionsPerUser.delete(userId);
      }
      if (connection.slowTimer !== null) clearInterval(connection.slowTimer);
      if (connection.rateTimer !== null) clearTimeout(connection.rateTimer);
      connection.gate.clear();
      this.options.stats.activeConnections -= 1;
      connection.markClosed();
    });
  }

  /** A connection reading and answering its frames; `accept` counts it and lets it be closed. */
  private open(
    socket: WebSocket,
    stream: Duplex,
    session: SessionBinding,
    ip: string,
    keyId: string | null,
    connectionNumber: number,
    heartbeatSlice: Set<Connection>,
    sharedLimits: RequestRateLimits | undefined,
  ): Connection {
    const connection = new Connection(
      socket,
      stream,
      session,
      ip,
      keyId,
      connectionNumber,
      heartbeatSlice,
      fullBucket(this.options.rateLimit, this.clock.now()),
      sharedLimits,
      this.options.shutdownSignal,
      this.options.logger,
      this.readFrameOf,
      this.contextOf,
    );
    socket.on('pong', () => {
      connection.isAlive = true;
    });
    socket.on('message', (data) => {
      if (!connection.gate.offer(data)) this.overran(connection);
    });
    socket.on('error', (error) => connection.logger.debug({ err: error }, 'WebSocket error'));
    return connection;
  }

  /**
   * The start-up warm-up over this transport (`warm-up.ts`): `drive` gets the URL of a loopback listener
   * whose WebSockets are served by the same code as clients' (upgrade, frame reading, the token bucket,
   * dispatch, the corked answer), so V8 has compiled all of it before the first client comes; round 10
   * found the first request of 1,000 fresh connections cost twice echo's with only the engine and a bare
   * `ws` pair warmed. Its connections are counted nowhere (not in the connection limits or the server's
   * stats, not in the heartbeat), take nothing from the per-key and per-address budgets, and are closed
   * with the listener when `drive` settles. The caller keeps their requests out of the metrics.
   *
   * Its sessions skip authentication, so the URL carries a random key and an upgrade without it is cut
   * off: another local process finding the port while it is open gets nothing.
   */
  async warmUp<T>(drive: (url: string) => Promise<T>): Promise<T> {
    const sockets = new Set<WebSocket>();
    const key = randomUUID();
    const listener = createServer();
    listener.on('upgrade', (request: IncomingMessage, stream: Duplex, head: Buffer) => {
      if (new URL(request.url ?? '/', 'http://warm-up').searchParams.get(WARM_UP_KEY) !== key) {
        stream.destroy();
        return;
      }
      this.server.handleUpgrade(request, stream, head, (socket) => {
        sockets.add(socket);
        const session: SessionBinding = { id: (this.options.beginSession ?? newSessionId)(), userId: null, role: 'admin' };
        this.open(socket, stream, session, '127.0.0.1', null, 0, new Set(), undefined);
      });
    });
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    try {
      return await drive(`ws://127.0.0.1:${(listener.address() as AddressInfo).port}${WEBSOCKET_PATH}?${WARM_UP_KEY}=${key}`);
    } finally {
      for (const socket of sockets) socket.terminate();
      listener.close();
    }
  }

  /**
   * Answers one frame: in this same turn of the event loop when nothing needs waiting for (a cached read,
   * a refusal), as a bare `ws` server does; otherwise when its handler settles, counted in flight
   * meanwhile (shutdown lets in-flight frames answer first).
   */
  private onMessage(connection: Connection, data: RawData): void {
    try {
      this.readFrame(connection, data);
    } catch (error) {
      this.reportFailure(connection, error);
    }
  }

  /**
   * A client kept sending while held, past what one socket read can hold (`MAX_WAITING_FRAMES`): not a
   * client `ws` or a browser makes. Closed rather than buffered without end.
   */
  private overran(connection: Connection): void {
    connection.logger.warn({ ip: connection.ip }, 'closing a connection that overran its held input');
    connection.gate.clear();
    this.closeHard(connection, CLOSE_POLICY_VIOLATION, 'too many frames while held');
  }

  private readFrame(connection: Connection, data: RawData): void {
    // Frames still buffered when the connection began closing (a dropped slow client) are not worth handling.
    if (connection.socket.readyState !== connection.socket.OPEN) return;
    const size = rawSize(data);
    if (size > this.options.maxFrameBytes) {
      const info = APPLICATION_ERRORS.request_too_large;
      this.send(connection, stringifyMessage(errorResponse(null, {
        code: info.code,
        message: `Request too large: the frame has ${size} bytes; the limit is ${this.options.maxFrameBytes} (limits.maxFrameBytes).`,
        data: { kind: 'request_too_large', limit: this.options.maxFrameBytes, actual: size },
      })));
      return;
    }
    const parsed = parseFrame(rawToText(data));
    if (!parsed.ok) {
      this.options.engine.reportUnparsable(connection.createContext);
      this.send(connection, stringifyMessage(parsed.response));
      return;
    }
    if (connection.keyId !== null && this.options.isKeyRevoked(connection.keyId)) {
      const info = APPLICATION_ERRORS.unauthorized;
      const refusal = this.options.engine.rejectAll(parsed.message, {
        code: info.code,
        message: 'Unauthorized: the API key of this connection was revoked. Reconnect with a valid key.',
        data: { kind: 'unauthorized', hint: info.whatToDo },
      });
      if (refusal !== null) this.send(connection, stringifyMessage(refusal));
      this.closeHard(connection, CLOSE_POLICY_VIOLATION, 'API key revoked');
      return;
    }
    const now = this.clock.now();
    const retryAfterMs = takeTokens(connection.bucket, this.options.rateLimit, this.options.engine.costOf(parsed.message), now);
    if (retryAfterMs !== 0) {
      if (!connection.isThrottled && now - connection.refusalsLoggedAt >= REFUSALS_LOG_MS) {
        connection.refusalsLoggedAt = now;
        connection.logger.warn({ ip: connection.ip, retryAfterMs }, 'connection rate-limited');
      }
      connection.isThrottled = true;
      const info = APPLICATION_ERRORS.rate_limited;
      const refusal = this.options.engine.rejectAll(parsed.message, {
        code: info.code,
        message: `Rate limited: at most ${this.options.rateLimit.ratePerSecond} requests per second (bursts of ${this.options.rateLimit.burst}) per connection; retry in ${retryAfterMs} ms.`,
        data: { kind: 'rate_limited', retry_after_ms: retryAfterMs, hint: info.whatToDo },
      });
      if (refusal !== null) this.send(connection, stringifyMessage(refusal));
      this.holdForRate(connection, retryAfterMs);
      return;
    }
    if (connection.sharedLimits !== undefined) {
      // One node answers at once (no promise per frame); with Redis the budget is shared and answers later.
      const shared = connection.sharedLimits.take(connection.rateSubject, this.options.engine.costOf(parsed.message));
      if (shared instanceof Promise) {
        this.track(connection, shared.then((decision) => this.afterSharedLimit(connection, parsed.message, decision)));
        return;
      }
      this.afterSharedLimit(connection, parsed.message, shared);
      return;
    }
    this.dispatch(connection, parsed.message);
  }

  private afterSharedLimit(connection: Connection, message: unknown, shared: RateVerdict): void | Promise<void> {
    if (!shared.allowed) {
      if (!connection.isThrottled) this.warnSharedLimit(connection, shared.limit, shared.retryAfterMs);
      connection.isThrottled = true;
      const info = APPLICATION_ERRORS.rate_limited;
      const refusal = this.options.engine.rejectAll(message, {
        code: info.code,
        message: rateLimitMessage(shared.limit, shared.perSecond, shared.retryAfterMs),
        data: { kind: 'rate_limited', limit: shared.limit, retry_after_ms: shared.retryAfterMs, hint: info.whatToDo },
      });
      if (refusal !== null && connection.socket.readyState === connection.socket.OPEN) this.send(connection, stringifyMessage(refusal));
      this.holdForRate(connection, shared.retryAfterMs);
      return;
    }
    return this.dispatch(connection, message);
  }

  /**
   * Logs that a key's or an address's budget ran out, once per budget per `REFUSALS_LOG_MS`: every
   * connection of that key or address is refused at once, and one address with 3,000 connections wrote
   * ~700 warnings in a second, one per connection (bench/README.md, round 7).
   */
  private warnSharedLimit(connection: Connection, limit: 'key' | 'address', retryAfterMs: number): void {
    const budget = limit === 'key' ? `key\n${connection.keyId ?? ''}` : `address\n${connection.ip}`;
    const now = this.clock.now();
    const last = this.sharedLimitWarnings.get(budget);
    if (last !== undefined && now - last < REFUSALS_LOG_MS) return;
    // Bounded: addresses come from clients. Forgetting them early only means one more warning.
    if (this.sharedLimitWarnings.size >= MAX_SHARED_LIMIT_WARNINGS) this.sharedLimitWarnings.clear();
    this.sharedLimitWarnings.set(budget, now);
    connection.logger.warn({ ip: connection.ip, limit, retryAfterMs }, `rate-limited per ${limit}`);
  }

  /**
   * Stops reading a connection that was just refused for its rate until its next token is due, so a
   * client sending faster than its rate costs the server one refusal per wait, not one per frame: what
   * it sends meanwhile waits in its TCP buffers, and is read (mostly allowed) when the wait is over.
   * Judged by the clock port, so a test's clock decides when the wait ends.
   */
  private holdForRate(connection: Connection, retryAfterMs: number): void {
    if (!Number.isFinite(retryAfterMs) || connection.socket.readyState !== connection.socket.OPEN) return;
    connection.rateHeldUntil = Math.max(connection.rateHeldUntil, this.clock.now() + retryAfterMs);
    if (connection.rateTimer !== null) return;
    connection.gate.hold('rate');
    const check = (): void => {
      connection.rateTimer = null;
      if (connection.socket.readyState !== connection.socket.OPEN) return;
      const remaining = connection.rateHeldUntil - this.clock.now();
      if (remaining > 0) {
        connection.rateTimer = setTimeout(check, Math.min(remaining, retryAfterMs));
        return;
      }
      this.releaseInput(connection, 'rate');
    };
    connection.rateTimer = setTimeout(check, retryAfterMs);
  }

  /** Lets a connection's input flow again for one reason; with no hold left its pong, unread meanwhile, is forgiven. */
  private releaseInput(connection: Connection, reason: 'rate' | 'busy' | 'slow'): void {
    connection.gate.release(reason);
    if (!connection.gate.isHeld) connection.isAlive = true;
  }

  /** Runs the request(s); answers now when the handlers did not wait, else when they settle. */
  private dispatch(connection: Connection, message: unknown): void | Promise<void> {
    connection.isThrottled = false;
    const reply = this.options.engine.handleParsedNow(message, connection.createContext);
    if (!(reply instanceof Promise)) return this.answer(connection, reply);
    connection.pending += 1;
    // Enough of its work is running: read no more of its frames until one is answered.
    if (connection.pending >= this.maxPendingRequests) connection.gate.hold('busy');
    this.track(
      connection,
      reply.then(
        (settled) => {
          try {
            this.answer(connection, settled);
          } finally {
            this.onePendingLess(connection);
          }
        },
        (error: unknown) => {
          this.onePendingLess(connection);
          throw error;
        },
      ),
    );
  }

  private onePendingLess(connection: Connection): void {
    connection.pending -= 1;
    if (connection.pending < this.maxPendingRequests && connection.gate.isHeldFor('busy')) this.releaseInput(connection, 'busy');
  }

  private answer(connection: Connection, reply: JsonRpcResponse | JsonRpcResponse[] | null): void {
    if (reply !== null && connection.socket.readyState === connection.socket.OPEN) this.send(connection, encodeResponse(reply));
    if (connection.heldFeeds !== null && reply !== null) this.releaseHeldFeeds(connection, reply);
  }

  /** Counts a frame's work in flight until it settles; shutdown waits for the count to reach zero. */
  private track(connection: Connection, work: Promise<void>): void {
    this.inFlight += 1;
    work.then(
      () => this.settled(),
      (error: unknown) => {
        this.settled();
        this.reportFailure(connection, error);
      },
    );
  }

  private settled(): void {
    this.inFlight -= 1;
    if (this.inFlight === 0) this.onIdle?.();
  }

  /**
   * A frame whose handling threw outside the engine (which answers handler errors itself): logged with
   * its stack, and the connection keeps working. The frame gets no answer, as its id may be unknown.
   */
  private reportFailure(connection: Connection, error: unknown): void {
    connection.logger.error({ err: error }, 'failed to handle a WebSocket frame');
  }

  /** Sends what was held for the subscriptions these answers completed, in the order it was published. */
  private releaseHeldFeeds(connection: Connection, reply: JsonRpcResponse | JsonRpcResponse[]): void {
    const answered = new Set(Array.isArray(reply) ? reply.map((response) => response.id) : [reply.id]);
    for (const [topic, feed] of connection.heldFeeds ?? []) {
      if (answered.has(feed.requestId)) this.releaseHeldFeed(connection, topic, feed);
    }
  }

  /** What every connection reads its frames with and builds its requests' contexts with (one function each, shared). */
  private readonly readFrameOf = (connection: Connection, data: RawData): void => this.onMessage(connection, data);
  private readonly contextOf = (connection: Connection, requestId: JsonRpcId | undefined, method: string): MethodContext =>
    new WebSocketRequestContext(this.hub, connection, requestId, method);

  /** What a request's context may do to the transport; made once, shared by every request. */
  private readonly hub: ConnectionHub = {
    send: (connection, text) => this.send(connection, text),
    subscribe: (topic, connection, requestId) => {
      const subscribers = this.topics.get(topic) ?? new Set<Connection>();
      this.topics.set(topic, subscribers);
      if (subscribers.has(connection)) return false;
      subscribers.add(connection);
      if (requestId !== undefined && requestId !== null) this.holdFeed(connection, topic, requestId);
      return true;
    },
    unsubscribe: (topic, connection) => this.removeSubscriber(topic, connection),
  };

  /**
   * Holds a new subscription's notifications until the subscribing request is answered, or for
   * `MAX_FEED_HOLD_MS` at most, so a hold that no answer releases cannot swallow the feed.
   */
  private holdFeed(connection: Connection, topic: string, requestId: JsonRpcId): void {
    const feed: HeldFeed = { requestId, frames: [] };
    (connection.heldFeeds ??= new Map()).set(topic, feed);
    setTimeout(() => {
      if (connection.heldFeeds?.get(topic) === feed) this.releaseHeldFeed(connection, topic, feed);
    }, MAX_FEED_HOLD_MS).unref();
  }

  private releaseHeldFeed(connection: Connection, topic: string, feed: HeldFeed): void {
    const held = connection.heldFeeds;
    if (held === null) return;
    held.delete(topic);
    if (held.size === 0) connection.heldFeeds = null;
    for (const frame of feed.frames) this.send(connection, frame);
  }

  /**
   * Sends a notification to every connection subscribed to `topic`: serialised once, the same string
   * to all. Returns how many connections it went to.
   */
  publish(topic: string, method: string, params: Record<string, unknown>): number {
    const subscribers = this.topics.get(topic);
    if (subscribers === undefined || subscribers.size === 0) return 0;
    const text = stringifyMessage({ jsonrpc: '2.0', method, params });
    for (const connection of subscribers) {
      const held = connection.heldFeeds?.get(topic);
      if (held === undefined) this.send(connection, text);
      else held.frames.push(text);
    }
    return subscribers.size;
  }

  private removeSubscriber(topic: string, connection: Connection): boolean {
    if (connection.heldFeeds?.delete(topic) === true && connection.heldFeeds.size === 0) connection.heldFeeds = null;
    const subscribers = this.topics.get(topic);
    const removed = subscribers?.delete(connection) ?? false;
    if (subscribers !== undefined && subscribers.size === 0) this.topics.delete(topic);
    return removed;
  }

  /**
   * Queues a frame for the client, minding how much already waits for it (`bufferedAmount`): over
   * `maxQueuedBytes` the client is not keeping up, so its frames stop being read (it can ask for no
   * more) until it catches up; twice over, or over for longer than the grace period, it is dropped.
   * The check is made before the frame is added, so one large answer to a reading client always goes.
   */
  private send(connection: Connection, text: string | Buffer): void {
    const { socket } = connection;
    if (socket.readyState !== socket.OPEN) return;
    const queued = socket.bufferedAmount;
    if (queued > 2 * this.maxQueuedBytes) {
      connection.logger.warn({ queuedBytes: queued, limit: this.maxQueuedBytes }, 'dropping a client that does not read its frames');
      this.closeHard(connection, CLOSE_POLICY_VIOLATION, 'too much unread data (limits.maxQueuedBytesPerConnection)');
      return;
    }
    // The frames of one run of the event loop leave in one write: a streamed reply's chunks arrive from the
    // model together (its NDJSON lines in one read), and each frame was a system call of its own (a writev,
    // ~50-300 µs of CPU on this machine's VM; bench/README.md, round 8). Uncorked before any I/O is polled.
    if (!connection.isCorked) {
      connection.isCorked = true;
      connection.stream.cork();
      process.nextTick(uncork, connection);
    }
    // Bytes (a shared answer, `encodeResponse`) still go as a text frame, as JSON-RPC clients expect.
    if (typeof text === 'string') socket.send(text);
    else socket.send(text, TEXT_FRAME);
    if (queued + text.length > this.maxQueuedBytes && connection.slowSince === null) this.holdSlowClient(connection);
  }

  /** Stops reading a slow client's frames; resumes when it has caught up, closes it when it does not. */
  private holdSlowClient(connection: Connection): void {
    const { socket } = connection;
    connection.slowSince = this.clock.now();
    connection.gate.hold('slow');
    connection.logger.debug({ queuedBytes: socket.bufferedAmount }, 'client is slow to read: pausing its input');
    connection.slowTimer = setInterval(() => {
      if (socket.readyState !== socket.OPEN) {
        this.releaseSlowClient(connection);
        return;
      }
      if (socket.bufferedAmount <= this.maxQueuedBytes / 2) {
        this.releaseSlowClient(connection);
        // Its pong, if any, is still unread: `releaseInput` gives it a fresh heartbeat period.
        this.releaseInput(connection, 'slow');
        return;
      }
      if (this.clock.now() - (connection.slowSince ?? 0) > this.slowClientGraceMs) {
        connection.logger.warn({ queuedBytes: socket.bufferedAmount, limit: this.maxQueuedBytes }, 'closing a client that stopped reading');
        this.releaseSlowClient(connection);
        this.closeHard(connection, CLOSE_POLICY_VIOLATION, 'too much unread data (limits.maxQueuedBytesPerConnection)');
      }
    }, SLOW_CLIENT_CHECK_MS);
    connection.slowTimer.unref();
  }

  private releaseSlowClient(connection: Connection): void {
    if (connection.slowTimer !== null) clearInterval(connection.slowTimer);
    connection.slowTimer = null;
    connection.slowSince = null;
  }

  /**
   * Sends a close frame and ends the connection without waiting for the client's answer: the frame may
   * sit behind unread data forever, so the socket is destroyed if the client has not closed within 1 s.
   */
  private closeHard(connection: Connection, code: number, reason: string): void {
    const { socket } = connection;
    if (socket.readyState === socket.CLOSED) return;
    socket.close(code, reason);
    setTimeout(() => socket.terminate(), 1000).unref();
  }

  /** Pings this tick's slice of the connections (each slice comes round once per heartbeat period). */
  private pingSlice(): void {
    const slice = this.heartbeatSlices[this.heartbeatTick]!;
    this.heartbeatTick = (this.heartbeatTick + 1) % this.heartbeatSlices.length;
    for (const connection of slice) {
      // A held client's pong cannot be read: the slow-client timer judges a slow one, the others are held briefly.
      if (connection.gate.isHeld) continue;
      if (!connection.isAlive) {
        connection.logger.debug('no pong since the last ping: dropping the connection');
        connection.socket.terminate();
        continue;
      }
      connection.isAlive = false;
      connection.socket.ping();
    }
  }

  /**
   * Refuses new upgrades, closes every connection with 1001 (going away) and stops the heartbeat.
   * Resolves when all are closed; a client that does not answer the close within `graceMs` is cut off.
   */
  async close(graceMs = 2000): Promise<void> {
    this.isClosing = true;
    clearInterval(this.heartbeat);
    // Requests being handled (turns aborted by the shutdown signal among them) answer first, for up to a second.
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        this.onIdle = resolve;
        setTimeout(resolve, Math.min(1000, graceMs)).unref();
      });
      this.onIdle = null;
    }
    const closing = [...this.connections].map(
      (connection) =>
        new Promise<void>((resolve) => {
          const { socket } = connection;
          if (socket.readyState === socket.CLOSED) {
            resolve();
            return;
          }
          socket.once('close', () => resolve());
          socket.close(CLOSE_GOING_AWAY, 'server shutting down');
          setTimeout(() => {
            socket.terminate();
            resolve();
          }, graceMs).unref();
        }),
    );
    await Promise.all(closing);
    this.server.close();
  }
}

/** Ends a connection's gathering of frames (`send`): they go out in one write. */
function uncork(connection: Connection): void {
  connection.isCorked = false;
  connection.stream.uncork();
}

interface ConnectionHub {
  send(connection: Connection, text: string): void;
  /** With a request id, the topic's notifications wait for that request's answer (see `heldFeeds`). */
  subscribe(topic: string, connection: Connection, requestId?: JsonRpcId): boolean;
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
    this.hub.send(this.connection, stringifyMessage({ jsonrpc: '2.0', method, params }));
  }

  sendPartialResult(result: Record<string, unknown>): void {
    if (this.requestId !== undefined) this.hub.send(this.connection, stringifyMessage({ jsonrpc: '2.0', id: this.requestId, result }));
  }

  attachSession(sessionId: string): void {
    this.connection.session.id = sessionId;
  }

  subscribe(topic: string): boolean {
    return this.hub.subscribe(topic, this.connection, this.requestId);
  }

  unsubscribe(topic: string): boolean {
    return this.hub.unsubscribe(topic, this.connection);
  }
}

function rawSize(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((total, part) => total + part.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}

function rawToText(data: RawData): string {
  // Binary frames are decoded as UTF-8 too: some clients send JSON that way, and the JSON parser
  // answers a clear parse error if it was something else.
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

