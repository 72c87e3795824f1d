/**
 * The composition root: reads nothing by itself — it is given a validated config — and builds the
 * adapters, services and transports, then owns start-up and graceful shutdown.
 */
import os from 'node:os';
import type { Logger } from 'pino';
import { HostModelBridge } from '../adapters/host/host-model.js';
import { backendsFromConfig } from '../adapters/llm-router/backends-from-config.js';
import { ModelRouter } from '../adapters/llm-router/model-router.js';
import { LoopStallWatch, stallLogFields } from '../adapters/metrics/loop-stalls.js';
import { PrometheusMetrics } from '../adapters/metrics/prometheus-metrics.js';
import { loadPersonaFiles, shippedPersonasDir } from '../adapters/persona-files.js';
import type { Config } from '../config/schema.js';
import { createLogger } from '../logger.js';
import { systemClock, type Clock } from '../ports/clock.js';
import type { EventBus } from '../ports/events.js';
import type { CardRepository } from '../ports/cards.js';
import type { LlmProvider } from '../ports/llm.js';
import type { LlmSlotLeases } from '../ports/llm-slot-leases.js';
import type { Store } from '../ports/store.js';
import { JsonRpcEngine } from '../rpc/jsonrpc.js';
import { logRequest } from '../rpc/request-log.js';
import { conversationNotification } from '../rpc/methods/conversation-feed.js';
import { buildRegistry } from '../rpc/methods/index.js';
import type { MethodRegistry } from '../rpc/registry.js';
import { ChatService } from '../services/chat-service.js';
import { TurnAppraiser } from '../services/turn-appraiser.js';
import { TurnRunner, type TurnSettings } from '../services/turn-runner.js';
import { ConversationFeed } from '../services/conversation-feed.js';
import { ConversationService } from '../services/conversation-service.js';
import type { Services } from '../services/index.js';
import { PersonaService } from '../services/persona-service.js';
import { PersonaTarget } from '../services/persona-target.js';
import { AuthService, isLoopbackHost } from '../services/auth-service.js';
import { RetentionService } from '../services/retention-service.js';
import { SessionService } from '../services/session-service.js';
import { composeState } from './compose-state.js';
import { SERVER_VERSION } from '../rpc/methods/system.js';
import { composeSocial } from './compose-social.js';
import { composeMemory } from './compose-memory.js';
import { runJobsHere } from './jobs-fallback.js';
import { JobsThread } from './jobs-thread.js';
import { ServerStats, SystemService } from '../services/system-service.js';
import { healthRoutes } from '../transports/health.js';
import { openAiRoute } from '../transports/openai/index.js';
import { McpHttpTransport } from '../transports/mcp/http.js';
import { HttpServer } from '../transports/http-server.js';
import { metricsRoute } from '../transports/metrics-route.js';
import { WebSocketTransport } from '../transports/websocket.js';
import { RequestGuard } from '../transports/request-guard.js';
import { DatasetService } from '../services/models/dataset-service.js';
import { openStorage, usesPostgres } from './compose-storage.js';
import { composeCluster, type Cluster } from './compose-cluster.js';
import { PromptTemplateService } from '../services/models/prompt-template-service.js';
import { composeMedia } from './compose-media.js';
import { webAppRoute } from '../transports/web-app.js';
import { clientAddressOf, isFromTrustedProxyOf } from '../transports/client-address.js';
import { warmUpOverWebSockets } from '../transports/warm-up.js';

/** How often revoked API keys are read (open connections of a revoked key close within this). */
const REVOCATION_CHECK_MS = 500;

import { DATABASE_FILE_NAME } from '../config/paths.js';
import type { SceneRecord } from '../ports/media.js';
import type { SpeakerChosen } from '../services/group/group-conversation-service.js';

export { DATABASE_FILE_NAME };

export interface AppOptions {
  logger?: Logger;
  clock?: Clock;
  /** Replaces the configured LLM backend (tests of other backends). */
  llm?: LlmProvider;
  /**
   * Runs the job queue's jobs in the jobs thread (`jobs-thread.ts`): `startServer` sets it for
   * `jobs.thread: 'worker'` (see {@link runsJobsInWorker}); other callers of `createCore` run them here.
   */
  hostsJobsThread?: boolean;
  /**
   * This core is the jobs thread's (`jobs-thread-entry.ts`): it runs the job queue only — no retention,
   * media sweeps, backups, persona seeding, WAL checkpointer or Redis — and treats the store as shared
   * with another writer (the main thread), keeping no moods, energy or relationships in memory.
   */
  isJobsThread?: boolean;
  /**
   * The jobs thread's: its LLM backends lease their slots from the main thread's queues by message
   * (`adapters/llm-queue/remote-slots.ts`), so a chat there preempts this thread's background calls.
   */
  llmLeases?: (backend: string) => LlmSlotLeases;
  /** The jobs thread's: runs after each of its connection's write transactions commits (it tells the main thread). */
  onCommit?: () => void;
}

/**
 * Whether a server runs its jobs in the jobs thread: `jobs.thread: 'worker'` (or `auto` with `cpus` two or
 * more) on SQLite, unless the caller brings an LLM or a clock of its own (objects of this thread, which the
 * worker cannot share).
 */
export function runsJobsInWorker(config: Config, options: AppOptions, cpus = os.availableParallelism()): boolean {
  const thread = config.jobs.thread === 'auto' ? (cpus >= 2 ? 'worker' : 'main') : config.jobs.thread;
  return thread === 'worker' && !usesPostgres(config) && options.llm === undefined && options.clock === undefined;
}

/** The parts of a running server that other code (CLI, tests, MCP) needs. */
export interface Core {
  config: Config;
  logger: Logger;
  store: Store;
  auth: AuthService;
  events: EventBus;
  services: Services;
  registry: MethodRegistry;
  engine: JsonRpcEngine;
  stats: ServerStats;
  metrics: PrometheusMetrics;
  /** Aborted on shutdown; in-flight work listens to it. */
  shutdownSignal: AbortSignal;
  /** Aborts `shutdownSignal` (in-flight turns stop) without closing anything yet; `close` does it too. */
  abortInFlight(): void;
  /**
   * Runs a start-up warm-up (`transports/warm-up.ts`) given the personas' ids to ask about; the requests
   * it makes are kept out of the metrics, the request log and the counters.
   */
  warmUpWith<T>(drive: (personaIds: readonly string[]) => Promise<T>): Promise<T>;
  /** Lets MCP requests lend the host's model to chat turns (`llm.provider` `host` and `auto`). */
  hostModel: HostModelBridge;
  /** Conversation updates (turns, ends, group status) for every transport that pushes to clients. */
  feed: ConversationFeed;
  /** What this node shares with others through Redis (nothing with one node). */
  cluster: Cluster;
  close(): Promise<void>;
}

export interface RunningServer extends Core {
  /**
   * Sends `requests` read-only frames to itself over loopback WebSockets (`transports/warm-up.ts`), so the
   * request path is compiled before clients come; done before listening when `warmUpRequests` > 0.
   */
  warmUp(requests: number): Promise<{ frames: number; ms: number }>;
  /** The actual port (useful when the config asked for port 0). */
  port: number;
  host: string;
  /** `ws://host:port/mcp` */
  websocketUrl: string;
  httpUrl: string;
  /** `http://host:port/mcp` (MCP Streamable HTTP), or null when `mcp.http` is off. */
  mcpUrl: string | null;
}

/** Builds store, LLM backend, services and the method registry — everything but the listeners. */
export async function createCore(config: Config, options: AppOptions = {}): Promise<Core> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const clock = options.clock ?? systemClock;
  const shutdown = new AbortController();
  const isJobsThread = options.isJobsThread === true;
  // Spawned first: it loads its modules while this thread starts (jobs-thread.ts), and builds its core at `start`, below.
  const jobsThread = options.hostsJobsThread === true ? new JobsThread(config, logger, () => storage.followCommitsSoon?.()) : null;
  // SQLite in the data directory, or PostgreSQL when database.url is set (compose-storage.ts).
  const storage = await openStorage(config, { clock, logger, appVersion: SERVER_VERSION, checkpointsWal: !isJobsThread });
  const { store } = storage;
  const databasePath = storage.location;
  // In process, or shared with the other nodes through Redis when redis.url is set (compose-cluster.ts).
  const cluster = await composeCluster(isJobsThread ? withoutRedis(config) : config, logger).catch(async (error: unknown) => {
    await storage.close();
    throw error;
  });
  const { events } = cluster;
  const stats = new ServerStats();
  // Other writers change the same store: other nodes on PostgreSQL; the main thread, for the jobs thread.
  const sharedStore = storage.kind === 'postgres' || isJobsThread;

  // With other writers, personas' energy is read from the store, never from memory.
  const personas = new PersonaService(store, clock, events, { sharedStore });
  const sessions = new SessionService(store, clock, events);
  const conversations = new ConversationService(store, clock, events, sessions);
  // The one live settings object: every turn (chat, stream, group, MCP) reads it when it runs, and
  // `config.set` changes it, so a change reaches every entry point at once.
  const chatSettings: TurnSettings = {
    defaultModel: config.llm.model,
    defaultTokenBudget: config.chat.defaultTokenBudget,
    maxTokenBudget: config.chat.maxTokenBudget,
    maxMessageChars: config.chat.maxMessageChars,
    historyMessages: config.chat.historyMessages,
    maxConcurrentTurnsPerSession: config.limits.maxConcurrentChatsPerSession,
    maxQueuedTurnsPerConversation: config.limits.maxQueuedChatsPerConversation,
    contextTokens: config.llm.contextTokens,
    modelContextTokens: config.llm.modelContextTokens,
  };
  // Every backend behind its own queue; the router picks the model of each request (docs/backends.md).
  const hostModel = new HostModelBridge();
  const built = backendsFromConfig(config.llm, {
    logger,
    hostModel,
    ...(options.llm ? { override: options.llm } : {}),
    ...(options.llmLeases ? { leases: options.llmLeases } : {}),
    // With Redis the nodes share each backend's slots, so llm.concurrency and llm.maxQueued hold for the deployment.
    ...(cluster.llmSlots === undefined
      ? {}
      : {
          sharedSlots: cluster.llmSlots,
          onSharedFailure: (backend: string, error: unknown) =>
            logger.warn({ err: error, backend }, "redis: unreachable; this chat waits in this node's own LLM queue"),
        }),
  });
  const llm = new ModelRouter(
    built.backends,
    built.defaultBackend,
    {
      defaultModel: () => chatSettings.defaultModel,
      contextTokens: () => chatSettings.contextTokens,
      modelContextTokens: () => chatSettings.modelContextTokens,
      fallback: () => config.llm.fallback,
      taskModels: () => config.llm.tasks,
      latencyBudgetMs: () => config.llm.latencyBudgetMs ?? null,
      embedModel: () => config.memory.embedModel,
    },
    logger,
    clock,
  );
  const templates = new PromptTemplateService({
    personas,
    templates: storage.templates,
    cards: storage.cards,
    clock,
    sharedStore,
  });
  // A card written (imported) or a persona changed drops the post-history template kept for it.
  const cardStore: CardRepository = {
    get: (personaId) => storage.cards.get(personaId),
    put: async (card) => {
      try {
        await storage.cards.put(card);
      } finally {
        templates.forget(card.personaId);
      }
    },
  };
  events.subscribe((event) => {
    if (event.type === 'stateImported') templates.forget();
    else if (event.type === 'personaChanged') templates.forget(event.personaId);
  });
  // The one turn pipeline: chats, streams, group turns and MCP tool calls all run their turns here.
  const turns = new TurnRunner({
    store,
    personas,
    llm,
    clock,
    events,
    logger,
    settings: chatSettings,
    postHistoryTemplate: (persona) => templates.postHistoryTemplate(persona),
    // `metrics` is built below, before any turn can run.
    timing: { now: () => performance.now(), record: (stage, ms) => metrics.observeTurnStage(stage, ms) },
  });
  const chat = new ChatService({ store, personas, sessions, conversations, turns, clock, events });
  const auth = new AuthService(
    storage.apiKeys,
    clock,
    config.auth.mode === 'required' || (config.auth.mode === 'auto' && !isLoopbackHost(config.host)),
  );
  const system = new SystemService({ store, llm, catalog: llm, clock, stats, queueStats: () => llm.defaultStats(), jobStats: () => memory.jobs.stats(), databasePath });
  const social = composeSocial({
    store,
    socialStore: storage.social,
    moodHistory: storage.moodHistory,
    sharedStore,
    personas,
    conversations,
    turns,
    clock,
    events,
    logger,
    groupSettings: {
      maxTurns: config.social.groupMaxTurns,
      turnDelayMs: config.social.groupTurnDelayMs,
      tokenBudget: config.social.groupTokenBudget,
    },
    ownership: cluster.ownership,
  });
  // Other nodes' feeds hear this node's group status changes; personas changed elsewhere are re-read here.
  if (cluster.groupStatus !== null) social.groups.onStatusChange((change) => cluster.groupStatus?.publish(change));
  cluster.onRemoteEvent((event) => {
    if (event.type === 'personaChanged' || event.type === 'stateImported')
      personas.refresh(event.type === 'personaChanged' ? event.personaId : undefined).catch((error: unknown) => logger.warn({ err: error }, 'could not re-read the personas'));
  });
  turns.addContributor(social.contributor);
  turns.addObserver(social.observer);
  turns.addObserver(social.groupObserver);
  // On PostgreSQL a reply's after-reply writes follow reads, so they do not all join one batch: its pending
  // record is cleared once these, set off by `messageStored`, are written too (the observers' always count).
  if (storage.kind === 'postgres')
    turns.awaitAfterReply(async ({ conversationId, personaId }) => {
      await Promise.all([social.services.threads.filed(conversationId), social.services.moodHistory.written(personaId)]);
    });
  // One background model call per chat turn for the relationship's tone and the new memories' ratings,
  // when both are asked of the model and go to the same model (llm.tasks).
  const appraiser = new TurnAppraiser({
    llm,
    logger,
    contextTokens: () => chatSettings.contextTokens,
    isEnabled: () => config.memory.llmImportance && config.social.llmJudgement && config.llm.tasks.importance === config.llm.tasks.relationship,
    // doc2query in the same call too (one call per turn instead of two), when it would go to the same model.
    restates: () => config.memory.doc2query && config.llm.tasks.summary === config.llm.tasks.relationship,
    now: () => clock.now(),
  });
  // Registers its own prompt contributor and turn observer on `chat`.
  const memory = composeMemory({ memoryStore: storage.memories, jobs: jobsThread?.wakingQueue(storage.jobs) ?? storage.jobs, config, personas, chat, llm, clock, logger, appraiser });
  // Background memory and relationship jobs run between turns, not in the middle of one someone waits for.
  memory.jobs.yieldTo?.(() => turns.turnsInFlight > 0);
  // Each persona of a finished group keeps its own (private) memory of what it witnessed there.
  social.groups.rememberWith(async ({ personaId, content, conversation }) => {
    await memory.services.memories.store({ personaId, content, kind: 'summary', importance: 0.6, visibility: 'private', sessionId: conversation.sessionId });
  });
  // Relationship updates after chat turns run on the durable job queue, judged by the model when reachable.
  social.observer.useJobQueue(
    memory.jobs,
    config.social.llmJudgement
      ? {
          llm,
          modelFor: (personaId) => {
            const persona = personas.find(personaId);
            return persona === null ? null : turns.modelFor(persona);
          },
          get contextTokens() {
            return chatSettings.contextTokens;
          },
        }
      : null,
    appraiser,
  );
  // One object, read by the retention service on every run: `config.set` changes it live.
  const retentionPolicy = {
    sessionIdleMs: config.retention.sessionIdleHours * 3_600_000,
    messageMaxAgeMs: config.retention.messageMaxAgeDays * 86_400_000,
    maxMessagesPerConversation: config.retention.maxMessagesPerConversation,
    moodHistoryMaxAgeMs: config.retention.moodHistoryDays * 86_400_000,
    maxMoodSamplesPerPersona: config.retention.maxMoodSamplesPerPersona,
  };
  const state = composeState({
    settingsRepository: storage.settings,
    cardStore,
    archive: storage.archive,
    config,
    appVersion: SERVER_VERSION,
    store,
    personas,
    events,
    clock,
    logger,
    chatSettings,
    retentionPolicy,
    ...(jobsThread === null ? {} : { onSettingsChanged: () => jobsThread.settingsChanged() }),
  });
  const media = composeMedia({
    index: storage.media,
    blobs: storage.mediaBlobs,
    maxBytes: config.media.maxBytes,
    personas,
    conversations,
    turns,
    cards: state.services.cards,
    clock,
    logger,
  });
  const services: Services = {
    clock,
    personas,
    target: new PersonaTarget(personas, sessions),
    sessions,
    conversations,
    chat,
    turns,
    system,
    social: social.services,
    groups: social.groups,
    memory: memory.services,
    state: state.services,
    datasets: new DatasetService({ personas, source: storage.datasets }),
    templates,
    media: media.services,
  };

  try {
    // The main thread has seeded them.
    if (isJobsThread) await personas.refresh();
    else {
      const seeded = await personas.initialise(loadPersonaFiles(config.personasDir ?? shippedPersonasDir()));
      if (seeded.length > 0) logger.info({ personas: seeded }, 'seeded the shipped personas');
    }
  } catch (error) {
    await store.close();
    throw error;
  }

  const registry = buildRegistry(services);
  const metrics = new PrometheusMetrics(
    {
      activeConnections: () => stats.activeConnections,
      llmQueue: () => llm.stats(),
      databaseSizeBytes: async () => (await system.databaseStatus()).sizeBytes,
    },
    registry.list().map((method) => method.name),
  );
  events.subscribe((event) => metrics.observeEvent(event));
  let isWarmingUp = false;
  const engine = new JsonRpcEngine(registry, {
    logger,
    // The access check (each method's `requires`) asks who owns a persona; the catalogue is in memory.
    access: { personaOwner: (idOrName) => personas.ownerOf(idOrName) },
    validateResults: config.validateResults,
    maxBatchSize: config.limits.maxBatchSize,
    onRequestComplete: (outcome) => {
      // The start-up warm-up's requests to itself are no one's traffic.
      if (isWarmingUp) return;
      stats.recordRequest(outcome.durationMs, outcome.outcome !== 'ok');
      metrics.observeRequest(outcome);
      logRequest(logger, 'websocket', outcome);
    },
  });
  const retention = new RetentionService(store, clock, logger, retentionPolicy, sessions, social.services.moodHistory);
  if (isJobsThread) {
    if (options.onCommit !== undefined) storage.onCommit?.(options.onCommit);
    await state.services.config.load();
    memory.start('jobs-thread');
  } else {
    retention.start(config.retention.intervalMinutes * 60_000);
    media.start(config.retention.intervalMinutes * 60_000);
    await state.start();
    memory.start(jobsThread === null ? 'all' : 'jobs-elsewhere');
    // Lost, the worker leaves its jobs to this thread's queue.
    jobsThread?.start(events, (backend) => llm.backend(backend)?.provider, () => runJobsHere(storage.jobs, logger));
  }

  const sceneRelay = cluster.relay<SceneRecord>('scene');
  const speakerRelay = cluster.relay<SpeakerChosen>('speaker');
  if (sceneRelay !== null) media.services.scenes.onChange((scene) => sceneRelay.publish(scene));
  if (speakerRelay !== null) social.groups.onSpeakerChosen((choice) => speakerRelay.publish(choice));
  const feed = new ConversationFeed({
    events,
    personas,
    conversations,
    groupStatus: (listener) => {
      const local = social.groups.onStatusChange(listener);
      const remote = cluster.groupStatus?.subscribe(listener);
      return () => {
        local();
        remote?.();
      };
    },
    // Scene changes and next-speaker notices made on other nodes too, so a watcher anywhere hears them.
    sceneChanges: (listener) => bothNodes(media.services.scenes.onChange(listener), sceneRelay?.subscribe(listener)),
    speakerChoices: (listener) => bothNodes(social.groups.onSpeakerChosen(listener), speakerRelay?.subscribe(listener)),
    logger,
  });

  let closed = false;
  return {
    config,
    logger,
    store,
    auth,
    events,
    services,
    registry,
    engine,
    stats,
    metrics,
    shutdownSignal: shutdown.signal,
    hostModel,
    feed,
    cluster,
    abortInFlight() {
      if (!shutdown.signal.aborted) shutdown.abort(new Error('server shutting down'));
    },
    async warmUpWith(drive) {
      isWarmingUp = true;
      try {
        return await drive(services.personas.list().map((persona) => persona.id));
      } finally {
        isWarmingUp = false;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      if (!shutdown.signal.aborted) shutdown.abort(new Error('server shutting down'));
      retention.stop();
      media.stop();
      state.stop();
      await jobsThread?.stop();
      await memory.stop();
      await social.groups.stop();
      await social.services.threads.close();
      feed.close();
      await store.close();
      await cluster.close();
    },
  };
}

/** Starts the full server: core plus HTTP (health) and WebSocket JSON-RPC on one port. */
export async function startServer(config: Config, options: AppOptions = {}): Promise<RunningServer> {
  // Checked before anything opens: a wrong http.trustedProxies stops the start with what to fix.
  const clientAddress = clientAddressOf(config.http.trustedProxies);
  const core = await createCore(config, { ...options, hostsJobsThread: runsJobsInWorker(config, options) });
  const { logger } = core;
  const http = new HttpServer(
    logger,
    new RequestGuard({
      allowedHosts: config.http.allowedHosts,
      allowedOrigins: config.http.allowedOrigins,
      listenHost: config.host,
      isFromTrustedProxy: isFromTrustedProxyOf(config.http.trustedProxies),
    }),
  );
  // Request rates per key and per address, on every transport; shared by the nodes with Redis.
  const rateLimits = core.cluster.rateLimits(
    { perKey: config.limits.rateLimitPerKeyPerSecond, perAddress: config.limits.rateLimitPerAddressPerSecond },
    core.services.clock,
  );
  const websocket = new WebSocketTransport({
    engine: core.engine,
    logger,
    stats: core.stats,
    maxFrameBytes: config.limits.maxFrameBytes,
    shutdownSignal: core.shutdownSignal,
    maxConnections: config.limits.maxConnections,
    maxConnectionsPerIp: config.limits.maxConnectionsPerIp,
    maxConnectionsPerUser: config.limits.maxConnectionsPerUser,
    maxQueuedBytes: config.limits.maxQueuedBytesPerConnection,
    maxPendingRequests: config.limits.maxPendingRequestsPerConnection,
    heartbeatMs: config.limits.heartbeatMs,
    slowClientGraceMs: config.limits.slowClientGraceMs,
    rateLimit: { ratePerSecond: config.limits.rateLimitPerSecond, burst: config.limits.rateLimitBurst },
    rateLimits,
    clientAddress,
    authenticate: (apiKey) => core.auth.authenticate(apiKey),
    claimSession: (sessionId, userId) => core.services.sessions.claim(sessionId, userId),
    beginSession: () => core.services.sessions.begin(),
    isKeyRevoked: (keyId) => core.auth.isRevoked(keyId),
    clock: core.services.clock,
  });
  // The start-up warm-up through this transport over loopback (transports/warm-up.ts); a server that could
  // not warm up still serves, only slower at first. The event loop is busy while it compiles the request
  // path (what it is for): the stall watch does not look meanwhile, so the stall metric and log show the
  // server's stalls only (the warm-up made 8–26 of them).
  const warmUp = async (requests: number): Promise<{ frames: number; ms: number }> => {
    const started = performance.now();
    stallWatch.stop();
    try {
      const frames = await core
        .warmUpWith((personaIds) => websocket.warmUp((url) => warmUpOverWebSockets(url, { personaIds, requests, burst: config.limits.rateLimitBurst })))
        .catch((error: unknown) => (logger.warn({ err: error }, 'could not warm up the WebSocket transport'), 0));
      return { frames, ms: performance.now() - started };
    } finally {
      stallWatch.start();
    }
  };
  http.addRoute(healthRoutes(core.services.system));
  http.addRoute(
    openAiRoute({
      logger,
      maxBodyBytes: config.limits.maxFrameBytes,
      shutdownSignal: core.shutdownSignal,
      clock: core.services.clock,
      authenticate: (apiKey) => core.auth.authenticate(apiKey),
      rateLimits,
      clientAddress,
      personas: core.services.personas,
      modelFor: (persona) => core.services.chat.modelFor(persona),
      defaultTokenBudget: () => core.services.chat.defaultTokenBudget,
      inTurnLine: (binding, personaId, signal, work) => core.services.chat.inTurnLine(binding, personaId, signal, work),
      sessionOwner: async (sessionId) => {
        const session = await core.store.getSession(sessionId);
        return session === null ? undefined : session.userId;
      },
      touchSession: async (binding) => {
        await core.services.sessions.touch(binding, Date.now());
      },
      activeConversation: (binding, personaId) => core.services.conversations.activeWith(binding, personaId),
      endConversation: async (conversation, reason) => {
        await core.services.conversations.end(conversation, reason);
      },
      startConversation: (binding, persona) => core.services.conversations.startWithUser(binding, persona, { context: null, tokenBudget: null }),
      recentMessages: (conversationId, limit) => core.store.recentMessages(conversationId, limit),
    }),
  );
  const mcp = config.mcp.http
    ? new McpHttpTransport({
        core,
        sessionIdleMs: config.mcp.sessionIdleMinutes * 60_000,
        maxSessions: config.mcp.maxSessions,
        maxSessionsPerUser: config.mcp.maxSessionsPerUser,
        maxBodyBytes: config.limits.maxFrameBytes,
        streamLimits: { maxQueuedBytes: config.limits.maxQueuedBytesPerConnection, heartbeatMs: config.limits.heartbeatMs },
        clock: core.services.clock,
        rateLimits,
        clientAddress,
        onTranscriptNotice: () => core.metrics.observeTranscriptNotice(),
      })
    : null;
  if (mcp !== null) http.addRoute(mcp.route);
  // Event-loop stalls by cause (its own work, or no CPU to run on) in /metrics; each one logged from
  // `logStallsMs` on, with the GC inside it and the CPU profile's clock (docs/operations.md).
  const stallWatch = new LoopStallWatch({
    onStall:
      config.logStallsMs > 0
        ? (stall) => {
            if (stall.stalledMs >= config.logStallsMs) logger.warn(stallLogFields(stall), 'event loop stalled');
          }
        : undefined,
  });
  core.metrics.observeStalls(stallWatch);
  stallWatch.start();
  http.addRoute(metricsRoute(core.metrics, core.auth));
  // The web app at `/` (and the media it shows); it uses the same WebSocket API as every client.
  http.addRoute(
    webAppRoute({
      readMedia: async (id, variant) => {
        const stored = await core.services.media.media.read(id, variant);
        return stored === null ? null : { mimeType: variant === 'thumbnail' ? 'image/webp' : stored.info.mimeType, data: stored.data };
      },
      avatarSvg: (personaId) =>
        core.services.personas.list().some((persona) => persona.id === personaId) ? core.services.media.media.generatedAvatarSvg(personaId) : null,
    }),
  );
  http.onUpgrade((request, socket, head, url) => websocket.handleUpgrade(request, socket, head, url));
  // Conversation turns go to the connections that subscribed (conversation.subscribe), serialised once.
  const stopConversationFeed = core.feed.subscribe((update) => {
    const notification = conversationNotification(update);
    websocket.publish(notification.topic, notification.method, notification.params);
  });
  // A revoked key stops working on open connections too, within half a second (`keys revoke` runs in another process).
  const stopRevocationWatch = core.auth.watchRevocations(
    REVOCATION_CHECK_MS,
    (keyIds) => {
      websocket.dropRevokedKeys(keyIds);
      void mcp?.dropRevokedKeys(keyIds);
    },
    (error) => logger.warn({ err: error }, 'could not read revoked API keys'),
  );

  // Replies a crash took their after-reply writes from (a kill -9 right after a reply: topic filing, mood,
  // memory formation's job): done now, before clients connect. Only the serving process does it, as with groups.
  const recoveredReplies = await core.services.turns
    .recoverAfterReplies()
    .catch((error: unknown) => (logger.warn({ err: error }, 'could not look for replies whose after-reply writes a crash interrupted'), 0));
  if (recoveredReplies > 0) logger.info({ replies: recoveredReplies }, 'did the after-reply writes of replies a crash interrupted');
  // Another node (PostgreSQL) or process on the same data directory (SQLite: `persona-mcp mcp`, a second
  // `serve`) may die while this one runs: now and then, take over the replies of an owner gone from the store
  // (each to one taker: PostgresStore/SqliteStore.pendingAfterReplies; a live owner's are left to it).
  const afterReplySweep = sweepAfterReplies(() => core.services.turns.recoverAfterReplies(), logger);
  if (config.warmUpRequests > 0) {
    const warmed = await warmUp(config.warmUpRequests);
    logger.debug(warmed, 'warmed up the request path');
  }
  let address: { port: number; host: string };
  try {
    address = await http.listen(config.port, config.host);
  } catch (error) {
    await mcp?.close();
    await core.close();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new Error(`Port ${config.port} on ${config.host} is already in use. Stop the other server or pick another port with --port.`, { cause: error });
    throw error;
  }
  if (core.auth.isRequired && (await core.auth.countActive()) === 0) {
    logger.warn('API keys are required (auth.mode, or listening beyond loopback) but none exists: create one with `persona-mcp keys create --name NAME`');
  }
  const hostForUrl = address.host.includes(':') ? `[${address.host}]` : address.host;
  logger.info({ url: `ws://${hostForUrl}:${address.port}/mcp`, dataDir: config.dataDir }, 'persona-mcp is listening');
  // Group conversations that were running when the server stopped go on where they were. Only the
  // serving process resumes them (not `persona-mcp mcp` or tools on the same data dir), so no group runs twice.
  const resumedGroups = await core.services.groups.resumeRunning();
  if (resumedGroups > 0) logger.info({ groups: resumedGroups }, 'resumed group conversations');
  // With several nodes: take over the groups of a node that died (its lease ran out).
  core.cluster.startTakeover(() => core.services.groups.resumeRunning());

  let closing: Promise<void> | null = null;
  return {
    ...core,
    warmUp,
    port: address.port,
    host: address.host,
    websocketUrl: `ws://${hostForUrl}:${address.port}/mcp`,
    httpUrl: `http://${hostForUrl}:${address.port}`,
    mcpUrl: mcp === null ? null : `http://${hostForUrl}:${address.port}/mcp`,
    close() {
      closing ??= (async () => {
        // Stop accepting first (the listener closes now; `stopped` resolves once every socket is gone),
        // then end what is open: turns in flight are aborted (their user messages are stored already),
        // WebSockets get 1001, MCP sessions and streams end. Nothing here waits on a client for long.
        const stopped = http.close();
        clearInterval(afterReplySweep);
        stopRevocationWatch();
        stopConversationFeed();
        stallWatch.stop();
        core.abortInFlight();
        await Promise.all([websocket.close(), mcp?.close()]);
        await stopped;
        rateLimits.close();
        await core.close();
        logger.info('persona-mcp stopped');
      })();
      return closing;
    },
  };
}

/** `config` with Redis left out: the jobs thread shares nothing with other nodes itself. */
function withoutRedis(config: Config): Config {
  const { url: _url, ...redis } = config.redis;
  return { ...config, redis };
}

/** How often a serving node looks for replies whose node or process died before their after-reply writes. */
const AFTER_REPLY_SWEEP_MS = 5_000;

function sweepAfterReplies(recover: () => Promise<number>, logger: Logger): NodeJS.Timeout {
  let isBusy = false;
  const sweep = setInterval(() => {
    if (isBusy) return;
    isBusy = true;
    recover()
      .then((replies) => {
        if (replies > 0) logger.info({ replies }, "did the after-reply writes of replies whose node or process stopped before them");
      })
      .catch((error: unknown) => logger.warn({ err: error }, 'could not look for replies whose node or process stopped before their after-reply writes'))
      .finally(() => (isBusy = false));
  }, AFTER_REPLY_SWEEP_MS);
  sweep.unref();
  return sweep;
}

/** Listens on this node and (with Redis) on the others; the returned function stops both. */
function bothNodes(stopLocal: () => void, stopRemote: (() => void) | undefined): () => void {
  return () => {
    stopLocal();
    stopRemote?.();
  };
}
