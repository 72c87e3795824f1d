/**
 * The composition root: reads nothing by itself — it is given a validated config — and builds the
 * adapters, services and transports, then owns start-up and graceful shutdown.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import { InProcessEventBus } from './adapters/events/in-process-bus.js';
import { PrometheusMetrics } from './adapters/metrics/prometheus-metrics.js';
import { QueuedLlmProvider } from './adapters/llm-queue/queued-provider.js';
import { normalizeOllamaHost, OllamaProvider } from './adapters/ollama/ollama-provider.js';
import { loadPersonaFiles, shippedPersonasDir } from './adapters/persona-files.js';
import { SqliteStore } from './adapters/sqlite/sqlite-store.js';
import type { Config } from './config/schema.js';
import { createLogger } from './logger.js';
import { systemClock, type Clock } from './ports/clock.js';
import type { EventBus } from './ports/events.js';
import type { LlmProvider } from './ports/llm.js';
import type { Store } from './ports/store.js';
import { JsonRpcEngine } from './rpc/jsonrpc.js';
import { buildRegistry } from './rpc/methods/index.js';
import type { MethodRegistry } from './rpc/registry.js';
import { ChatService } from './services/chat-service.js';
import { ConversationService } from './services/conversation-service.js';
import type { Services } from './services/index.js';
import { PersonaService } from './services/persona-service.js';
import { RetentionService } from './services/retention-service.js';
import { SessionService } from './services/session-service.js';
import { ServerStats, SystemService } from './services/system-service.js';
import { healthRoutes } from './transports/health.js';
import { HttpServer } from './transports/http-server.js';
import { metricsRoute } from './transports/metrics-route.js';
import { WebSocketTransport } from './transports/websocket.js';

export const DATABASE_FILE_NAME = 'persona-mcp.db';

export interface AppOptions {
  logger?: Logger;
  clock?: Clock;
  /** Replaces the configured LLM backend (tests of other backends). */
  llm?: LlmProvider;
}

/** The parts of a running server that other code (CLI, tests, MCP) needs. */
export interface Core {
  config: Config;
  logger: Logger;
  store: Store;
  events: EventBus;
  services: Services;
  registry: MethodRegistry;
  engine: JsonRpcEngine;
  stats: ServerStats;
  metrics: PrometheusMetrics;
  /** Aborted on shutdown; in-flight work listens to it. */
  shutdownSignal: AbortSignal;
  close(): Promise<void>;
}

export interface RunningServer extends Core {
  /** The actual port (useful when the config asked for port 0). */
  port: number;
  host: string;
  /** `ws://host:port/mcp` */
  websocketUrl: string;
  httpUrl: string;
}

/** Builds store, LLM backend, services and the method registry — everything but the listeners. */
export async function createCore(config: Config, options: AppOptions = {}): Promise<Core> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const clock = options.clock ?? systemClock;
  const shutdown = new AbortController();
  const databasePath = path.join(config.dataDir, DATABASE_FILE_NAME);
  const store = SqliteStore.open(databasePath);
  const events = new InProcessEventBus((error, event) => logger.error({ err: error, event: event.type }, 'event listener failed'));
  const stats = new ServerStats();

  const ollama = new OllamaProvider({
    baseUrl: normalizeOllamaHost(config.llm.ollamaHost),
    requestTimeoutMs: config.llm.timeoutMs,
    firstTokenTimeoutMs: config.llm.firstTokenTimeoutMs,
    logger,
  });
  const queued = new QueuedLlmProvider(options.llm ?? ollama, { concurrency: config.llm.concurrency, maxQueued: config.llm.maxQueued });

  const personas = new PersonaService(store, clock, events);
  const sessions = new SessionService(store, clock);
  const conversations = new ConversationService(store, clock, events);
  const chat = new ChatService({
    store,
    personas,
    sessions,
    conversations,
    llm: queued,
    clock,
    events,
    logger,
    settings: {
      defaultModel: config.llm.model,
      defaultTokenBudget: config.chat.defaultTokenBudget,
      maxTokenBudget: config.chat.maxTokenBudget,
      maxMessageChars: config.chat.maxMessageChars,
      historyMessages: config.chat.historyMessages,
      maxConcurrentTurnsPerSession: config.limits.maxConcurrentChatsPerSession,
      contextTokens: config.llm.contextTokens,
      modelContextTokens: config.llm.modelContextTokens,
    },
  });
  const system = new SystemService({ store, llm: queued, clock, stats, queueStats: () => queued.stats(), databasePath });
  const services: Services = { personas, sessions, conversations, chat, system };

  try {
    const seeded = await personas.initialise(loadPersonaFiles(config.personasDir ?? shippedPersonasDir()));
    if (seeded.length > 0) logger.info({ personas: seeded }, 'seeded the shipped personas');
  } catch (error) {
    await store.close();
    throw error;
  }

  const registry = buildRegistry(services);
  const metrics = new PrometheusMetrics(
    {
      activeConnections: () => stats.activeConnections,
      llmQueue: () => queued.stats(),
      databaseSizeBytes: async () => (await system.databaseStatus()).sizeBytes,
    },
    registry.list().map((method) => method.name),
  );
  events.subscribe((event) => metrics.observeEvent(event));
  const engine = new JsonRpcEngine(registry, {
    logger,
    validateResults: config.validateResults,
    maxBatchSize: config.limits.maxBatchSize,
    onRequestComplete: (outcome) => {
      stats.recordRequest(outcome.durationMs, outcome.outcome !== 'ok');
      metrics.observeRequest(outcome);
    },
  });
  const retention = new RetentionService(store, clock, logger, {
    sessionIdleMs: config.retention.sessionIdleHours * 3_600_000,
    messageMaxAgeMs: config.retention.messageMaxAgeDays * 86_400_000,
    maxMessagesPerConversation: config.retention.maxMessagesPerConversation,
  });
  retention.start(config.retention.intervalMinutes * 60_000);

  let closed = false;
  return {
    config,
    logger,
    store,
    events,
    services,
    registry,
    engine,
    stats,
    metrics,
    shutdownSignal: shutdown.signal,
    async close() {
      if (closed) return;
      closed = true;
      shutdown.abort(new Error('server shutting down'));
      retention.stop();
      await store.close();
    },
  };
}

/** Starts the full server: core plus HTTP (health) and WebSocket JSON-RPC on one port. */
export async function startServer(config: Config, options: AppOptions = {}): Promise<RunningServer> {
  const core = await createCore(config, options);
  const { logger } = core;
  const http = new HttpServer(logger);
  const websocket = new WebSocketTransport({
    engine: core.engine,
    logger,
    stats: core.stats,
    maxFrameBytes: config.limits.maxFrameBytes,
    allowedOrigins: config.http.allowedOrigins,
    shutdownSignal: core.shutdownSignal,
    maxConnections: config.limits.maxConnections,
    maxConnectionsPerIp: config.limits.maxConnectionsPerIp,
    rateLimit: { ratePerSecond: config.limits.rateLimitPerSecond, burst: config.limits.rateLimitBurst },
  });
  http.addRoute(healthRoutes(core.services.system));
  http.addRoute(metricsRoute(core.metrics));
  http.onUpgrade((request, socket, head, url) => websocket.handleUpgrade(request, socket, head, url));

  let address: { port: number; host: string };
  try {
    address = await http.listen(config.port, config.host);
  } catch (error) {
    await core.close();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new Error(`Port ${config.port} on ${config.host} is already in use. Stop the other server or pick another port with --port.`, { cause: error });
    throw error;
  }
  const hostForUrl = address.host.includes(':') ? `[${address.host}]` : address.host;
  logger.info({ url: `ws://${hostForUrl}:${address.port}/mcp`, dataDir: config.dataDir }, 'persona-mcp is listening');

  let closing: Promise<void> | null = null;
  return {
    ...core,
    port: address.port,
    host: address.host,
    websocketUrl: `ws://${hostForUrl}:${address.port}/mcp`,
    httpUrl: `http://${hostForUrl}:${address.port}`,
    close() {
      closing ??= (async () => {
        await http.close().then(() => undefined, () => undefined);
        await websocket.close();
        await core.close();
        logger.info('persona-mcp stopped');
      })();
      return closing;
    },
  };
}
