/**
 * Every setting, its default and its validation, in one schema. docs/configuration.md describes the
 * same keys; the loader (`load.ts`) layers defaults < config file < environment < command-line flags.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

/** MCP tool profiles (src/transports/mcp/tool-profiles.ts says which tools each holds). */
export const MCP_TOOL_PROFILES = ['chat', 'memory', 'social', 'admin', 'all'] as const;

export function defaultDataDir(): string {
  const xdg = process.env.XDG_DATA_HOME;
  return path.join(xdg && xdg.length > 0 ? xdg : path.join(os.homedir(), '.local', 'share'), 'persona-mcp');
}

const port = z.number().int().min(0).max(65_535);
const positiveInt = z.number().int().positive();

/** Names backends get in config and in model references (`vllm:qwen2.5-7b-instruct`). */
const backendName = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'a backend name is lower-case letters, digits, - and _ (e.g. "vllm", "lm-studio")');

/** One named LLM backend (docs/backends.md). Unset limits take the `llm.*` values. */
const backendSchema = z.object({
  /** `ollama` (its own API) or `openai` (any OpenAI-compatible server: llama.cpp, vLLM, LM Studio, LocalAI, hosted). */
  kind: z.enum(['ollama', 'openai']),
  /** Ollama: any form OLLAMA_HOST takes; OpenAI-compatible: the base URL including `/v1`. */
  url: z.string().min(1),
  /** Bearer key for OpenAI-compatible servers that want one. */
  apiKey: z.string().min(1).optional(),
  /** Name of an environment variable holding the key (keeps secrets out of the config file). */
  apiKeyEnv: z.string().min(1).optional(),
  concurrency: positiveInt.optional(),
  maxQueued: z.number().int().min(0).optional(),
  timeoutMs: positiveInt.optional(),
  firstTokenTimeoutMs: positiveInt.optional(),
  /** Context window of this backend's models when `llm.modelContextTokens` names none. */
  contextTokens: z.number().int().min(512).optional(),
  /** OpenAI-compatible only: also send `top_k`, `min_p`, `repeat_penalty` (false for the hosted OpenAI API). */
  sendExtraOptions: z.boolean().optional(),
});
export type BackendConfig = z.infer<typeof backendSchema>;

export const configSchema = z.object({
  /** Interface to listen on; 127.0.0.1 keeps the server private to this machine. */
  host: z.string().min(1).default('127.0.0.1'),
  port: port.default(8000),
  /** Where the database lives. */
  dataDir: z.string().min(1).default(defaultDataDir),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Folder of persona files seeded into the store on first start. */
  personasDir: z.string().min(1).optional(),
  llm: z
    .object({
      /**
       * The default backend: `ollama`; `openai` (the OpenAI-compatible server at OPENAI_BASE_URL); `host`:
       * the MCP host's own model (sampling), for MCP clients only; `auto`: Ollama when it is reachable, else
       * the MCP host's model when the client offers it.
       */
      provider: z.enum(['ollama', 'openai', 'host', 'auto']).default('ollama'),
      /** Name of the default backend among `backends` (overrides `provider`). */
      defaultBackend: backendName.optional(),
      /** Ollama's address; OLLAMA_HOST sets it, in any form Ollama itself accepts. */
      ollamaHost: z.string().default('http://127.0.0.1:11434'),
      /** The built-in `openai` backend: OPENAI_BASE_URL and OPENAI_API_KEY set it, as in the OpenAI ecosystem. */
      openai: z
        .object({
          /** Base URL including `/v1`; defaults to https://api.openai.com/v1. */
          baseUrl: z.string().url().optional(),
          apiKey: z.string().min(1).optional(),
          sendExtraOptions: z.boolean().optional(),
        })
        .prefault({}),
      /** More backends by name, several of each kind (`{"vllm": {"kind": "openai", "url": "http://gpu:8000/v1"}}`). */
      backends: z.record(backendName, backendSchema).default({}),
      /** Models tried in order when the chosen one is missing, busy or unreachable (`["ollama:llama3.2:3b"]`). */
      fallback: z.array(z.string().min(1)).default([]),
      /** Models for background tasks, so they can use a small model (`{"summary": "ollama:llama3.2:1b"}`). */
      tasks: z
        .object({
          summary: z.string().min(1).optional(),
          importance: z.string().min(1).optional(),
          relationship: z.string().min(1).optional(),
        })
        .prefault({}),
      /** Expected reply time a chat should fit in; slower-looking models are passed over (none by default). */
      latencyBudgetMs: positiveInt.optional(),
      /** Model for personas that name none. */
      model: z.string().min(1).default('llama3.1:8b'),
      /** A whole chat turn must finish within this many milliseconds. */
      timeoutMs: positiveInt.default(120_000),
      /** The first streamed token must arrive within this many milliseconds (model loading included). */
      firstTokenTimeoutMs: positiveInt.default(90_000),
      /** Chats sent to the backend at once; Ollama serves one request per model by default. */
      concurrency: positiveInt.default(1),
      /** Chats that may wait for a slot; beyond this the client gets `llm_busy`. */
      maxQueued: z.number().int().min(0).default(32),
      /** Context window asked of the model (Ollama `num_ctx`) and used to budget the prompt. */
      contextTokens: z.number().int().min(512).default(4096),
      /** Per-model context windows overriding `contextTokens`, e.g. {"llama3.1:8b": 8192}. */
      modelContextTokens: z.record(z.string(), z.number().int().min(512)).default({}),
    })
    .prefault({})
    .superRefine((llm, context) => {
      const names = new Set(['ollama', 'host', 'openai', ...Object.keys(llm.backends)]);
      if (llm.defaultBackend !== undefined && !names.has(llm.defaultBackend)) {
        context.addIssue({ code: 'custom', path: ['defaultBackend'], message: `"${llm.defaultBackend}" is not a backend; known: ${[...names].join(', ')}` });
      }
      if (llm.backends['host'] !== undefined) {
        context.addIssue({ code: 'custom', path: ['backends', 'host'], message: '"host" is the MCP host\'s model and cannot be redefined; pick another name' });
      }
    }),
  chat: z
    .object({
      /** Reply cap when the client sends no `token_budget` (the old server's default). */
      defaultTokenBudget: positiveInt.default(500),
      /** Largest `token_budget` a client may ask for. */
      maxTokenBudget: positiveInt.default(4096),
      /** Longest chat message accepted, in characters. */
      maxMessageChars: positiveInt.default(16_000),
      /** Messages loaded from the store when building a prompt (the token budget then trims them). */
      historyMessages: positiveInt.default(200),
    })
    .prefault({}),
  media: z
    .object({
      /**
       * Largest attachment, avatar or scene picture accepted, in bytes (after base64 decoding). A file
       * also has to fit in one JSON-RPC frame (limits.maxFrameBytes) as base64, a third bigger.
       */
      maxBytes: positiveInt.default(4 * 1024 * 1024),
    })
    .prefault({}),
  limits: z
    .object({
      /**
       * Largest WebSocket frame answered with a JSON-RPC error; four times this closes the socket (1009). Also the
       * largest MCP-over-HTTP request body (HTTP 413 with the same error) and MCP stdio line (the same error).
       */
      maxFrameBytes: positiveInt.default(1_048_576),
      /** Largest JSON-RPC batch. */
      maxBatchSize: positiveInt.default(100),
      /** Open WebSocket connections in total; more upgrades are refused with HTTP 503. */
      maxConnections: positiveInt.default(20_000),
      /** Open WebSocket connections from one IP address; more are refused with HTTP 429. */
      maxConnectionsPerIp: positiveInt.default(1_000),
      /** Open WebSocket connections of one user (API key owner); more are refused with HTTP 429. */
      maxConnectionsPerUser: positiveInt.default(1_000),
      /**
       * Bytes that may wait to be sent to one WebSocket client; beyond, its frames stop being read until it
       * catches up, and a client that stays beyond (or goes twice beyond) is closed with 1008.
       */
      maxQueuedBytesPerConnection: positiveInt.default(8 * 1024 * 1024),
      /** How long (ms) a WebSocket client may stay over `maxQueuedBytesPerConnection` before it is closed. */
      slowClientGraceMs: positiveInt.default(10_000),
      /**
       * WebSocket ping interval (ms); a connection that has not answered the previous ping with a pong is
       * dropped. MCP event streams get a keep-alive comment this often.
       */
      heartbeatMs: z.number().int().min(100).default(30_000),
      /** Requests per second one connection may send on average (token bucket; a batch costs its size). */
      rateLimitPerSecond: z.number().positive().default(100),
      /** Requests one connection may send in a burst. */
      rateLimitBurst: positiveInt.default(200),
      /**
       * Requests per second all connections and HTTP calls of one API key may make together (a batch
       * costs its size); shared by every node through Redis when `redis.url` is set. 0: no limit.
       */
      rateLimitPerKeyPerSecond: z.number().int().min(0).default(1_000),
      /** The same per client address (behind a proxy, see `http.trustedProxies`). 0: no limit. */
      rateLimitPerAddressPerSecond: z.number().int().min(0).default(1_000),
      /**
       * Requests of one WebSocket connection whose answers may be pending at once (handlers still
       * running); at this many the server reads no more of its frames until one is answered.
       */
      maxPendingRequestsPerConnection: positiveInt.default(64),
      /** Chat turns one session may have in flight at once. */
      maxConcurrentChatsPerSession: positiveInt.default(2),
      /**
       * Chat turns of one conversation that may wait while one of its turns runs (from any connection or
       * session in it): a conversation's turns run one at a time in arrival order, so each answers its own message.
       */
      maxQueuedChatsPerConversation: positiveInt.default(4),
    })
    .prefault({}),
  retention: z
    .object({
      /** Sessions idle for longer are removed (hours). */
      sessionIdleHours: z.number().positive().default(24 * 30),
      /** Messages older than this are deleted (days); 0 keeps them forever. */
      messageMaxAgeDays: z.number().min(0).default(0),
      /** Newest messages kept per conversation; 0 = unlimited. */
      maxMessagesPerConversation: z.number().int().min(0).default(10_000),
      /** Mood and energy samples older than this are deleted (days); 0 keeps them by age. */
      moodHistoryDays: z.number().min(0).default(90),
      /** Newest mood and energy samples kept per persona; 0 = unlimited. */
      maxMoodSamplesPerPersona: z.number().int().min(0).default(5_000),
      /** How often the clean-up runs (minutes). */
      intervalMinutes: z.number().positive().default(60),
    })
    .prefault({}),
  /** Backups of the database (docs/state.md): where they go, and the optional schedule. */
  backup: z
    .object({
      /** Folder for `persona-mcp backup` without --out and for scheduled backups; default `<dataDir>/backups`. */
      directory: z.string().min(1).optional(),
      /** Hours between scheduled backups while the server runs; 0 switches them off. */
      intervalHours: z.number().min(0).default(0),
      /** Scheduled backups kept (the oldest are deleted); 0 keeps all. */
      keep: z.number().int().min(0).default(7),
    })
    .prefault({}),
  /** Where the store lives when not in the data directory's SQLite file (docs/operations.md, scale-out). */
  database: z
    .object({
      /** `postgres://user:password@host:5432/db`: PostgreSQL instead of SQLite; unset keeps SQLite in `dataDir`. */
      url: z
        .string()
        .regex(/^postgres(ql)?:\/\//i, 'database.url must be a postgres:// URL (leave it unset for SQLite in the data directory)')
        .optional(),
      /**
       * SQLite and PostgreSQL: how long writes that may wait — a reply's topic filing, the mood's reaction, mood samples,
       * job enqueues — gather before they are committed together (ms). 0, the default, commits them at the
       * next turn of the event loop. Reads of what they change wait for them (the next turn's mood, the
       * threads); a crash before the commit loses none of a reply's work (found again at start-up).
       */
      writeBatchMs: z.number().int().min(0).max(60_000).default(0),
      /** Connections each node keeps open to PostgreSQL. */
      poolSize: z.number().int().min(1).max(200).default(10),
      /** PostgreSQL schema holding the tables (several deployments may share one database). */
      schema: z
        .string()
        .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'database.schema is lower-case letters, digits and _')
        .default('public'),
    })
    .prefault({}),
  /** Where the durable job queue's jobs (memory formation, relationship updates, summaries) run (docs/operations.md, "What runs where"). */
  jobs: z
    .object({
      /**
       * `main`: on the server's event loop, between turns. `worker`: in a worker thread of `persona-mcp serve`
       * on SQLite, with its own connection, at the lowest scheduling priority (nice 19), so the jobs' CPU
       * leaves the event loop. PostgreSQL, `persona-mcp mcp`, the CLI tools and in-process callers that
       * bring their own LLM (`options.llm`) or clock run them on `main` whatever this says. `auto`: `worker`
       * on a machine with two CPUs or more (`os.availableParallelism()`), where the jobs thread has a core
       * the event loop does not need, `main` on one.
       */
      thread: z.enum(['auto', 'main', 'worker']).default('main'),
      /**
       * SQLite: a chat turn's memory formation and relationship update write in one transaction (their model
       * calls first, then one commit) instead of one each. Off by default: fewer commits, but more CPU for the
       * jobs in the in-process bench (bench/README.md, round 15 claimtx).
       */
      claimWrites: z.boolean().default(false),
    })
    .prefault({}),
  /** Redis, for what several nodes share (docs/operations.md): events, rate limits, queue depth, group ownership. */
  redis: z
    .object({
      /** `redis://host:6379`; unset: one node, everything in process. */
      url: z
        .string()
        .regex(/^rediss?:\/\//i, 'redis.url must be a redis:// or rediss:// URL')
        .optional(),
      /** Prefix of every key and channel (several deployments may share one Redis). */
      prefix: z.string().min(1).max(64).default('persona-mcp:'),
    })
    .prefault({}),
  /** Largest state bundle `state.load` and `persona-mcp import` unpack, in bytes (zip-bomb guard). */
  maxBundleBytes: z.number().int().positive().default(8 * 1024 ** 3),
  /** Longest row (JSON line) in a state bundle; longer ones are refused before any is parsed. */
  maxBundleLineBytes: z.number().int().positive().default(64 * 1024 ** 2),
  http: z
    .object({
      /** Extra browser origins allowed to connect (the server's own origin is always allowed). */
      allowedOrigins: z.array(z.string()).default([]),
      /**
       * Host names (or `host:port`) the server answers to besides the loopback names and the address it
       * listens on; other `Host` headers get 403 (DNS rebinding). `"*"` accepts any.
       */
      allowedHosts: z.array(z.string().min(1)).default([]),
      /**
       * Load balancers whose `X-Forwarded-For` is believed for the client's address (limits per address,
       * logs): addresses, CIDR ranges, or `loopback`, `linklocal`, `uniquelocal`. Empty: the peer's address.
       */
      trustedProxies: z
        .preprocess(
          // PERSONA_MCP_TRUSTED_PROXIES: a comma-separated list.
          (value) => (typeof value === 'string' ? value.split(',').map((entry) => entry.trim()).filter((entry) => entry.length > 0) : value),
          z.array(z.string().min(1)),
        )
        .default([]),
    })
    .prefault({}),
  mcp: z
    .object({
      /** Serve MCP Streamable HTTP at `/mcp` beside the WebSocket API (`persona-mcp serve`). */
      http: z.boolean().default(true),
      /** 2025-11-25 HTTP sessions (`Mcp-Session-Id`) idle for longer are closed (minutes). */
      sessionIdleMinutes: z.number().positive().default(60),
      /** Open 2025-11-25 HTTP sessions at most; a new one beyond this is refused with 503. */
      maxSessions: positiveInt.default(1000),
      /**
       * Which tools MCP hosts see (docs/mcp.md#tool-profiles): `chat` (the default: personas, chat,
       * conversations, memory search and forget), `memory`, `social`, `admin`, `all`; several may be
       * combined, as a list or as `"chat,memory"` (the form of `--tools` and PERSONA_MCP_TOOLS).
       */
      tools: z
        .preprocess(
          (value) => (typeof value === 'string' ? value.split(',').map((name) => name.trim()).filter((name) => name.length > 0) : value),
          z.array(z.enum(MCP_TOOL_PROFILES)).min(1),
        )
        .default(['chat']),
      /**
       * Send each tool's output schema with the tool list. Results carry `structuredContent` either way;
       * the schemas let hosts validate it but more than double the definitions every host conversation
       * carries, so they are off unless asked for.
       */
      outputSchemas: z.boolean().default(false),
      /** Open 2025-11-25 HTTP sessions per user (the anonymous local user: per address); beyond, 429. */
      maxSessionsPerUser: positiveInt.default(100),
    })
    .prefault({}),
  auth: z
    .object({
      /**
       * `auto`: API keys are required when the server listens beyond loopback; `required`: always;
       * `off`: never (only sensible on loopback).
       */
      mode: z.enum(['auto', 'required', 'off']).default('auto'),
    })
    .prefault({}),
  /** Long-term memory (docs/memory.md): embeddings, retrieval weights, decay, pruning, summaries. */
  memory: z
    .object({
      /**
       * Which vectors search uses: `offline` (the built-in hashed n-gram embedder only), `ollama` (the LLM
       * backend's `/api/embed`, with the offline one as fall-back) or `auto` (both, fused). The offline
       * vectors are always made, so search works with no LLM at all.
       */
      embedder: z.enum(['auto', 'offline', 'ollama']).default('auto'),
      /** Embedding model asked of the LLM backend. */
      embedModel: z.string().min(1).default('nomic-embed-text'),
      /** Recency factor per hour since last recall (Generative Agents: 0.995). */
      recencyDecayPerHour: z.number().gt(0).max(1).default(0.995),
      /**
       * Retrieval score = relevance × (w.relevance + w.importance·importance + w.recency·recency) / Σw
       * (docs/memory.md): relevance dominates, importance and recency break ties.
       */
      weights: z
        .object({
          relevance: z.number().min(0).default(0.75),
          importance: z.number().min(0).default(0.15),
          recency: z.number().min(0).default(0.1),
        })
        .prefault({}),
      /** Least relevance (0..1) a memory needs to be recalled into a prompt; below it, no memory line. */
      relevanceFloor: z.number().min(0).max(1).default(0.12),
      /** Days for an unrecalled memory's importance to halve. */
      importanceHalfLifeDays: z.number().positive().default(30),
      /** Importance never decays below this. */
      importanceFloor: z.number().min(0).max(1).default(0.01),
      /** How often background decay runs (hours). */
      decayIntervalHours: z.number().positive().default(24),
      /** Whether background decay starts with the server (memory.decay_start/stop change it at run time). */
      decayOnStart: z.boolean().default(true),
      /** Idle memories below this importance are pruned. */
      pruneThreshold: z.number().min(0).max(1).default(0.15),
      /** Memories recalled within this many days are never pruned as faded. */
      pruneMinIdleDays: z.number().min(0).default(7),
      /** Hard cap of memories per persona (the least valuable go first). */
      maxPerPersona: positiveInt.default(10_000),
      /** Share of the prompt's context budget recalled memories may fill. */
      promptShare: z.number().min(0).max(1).default(0.15),
      /** Most memory lines in one prompt (the "what I know about you" block and recalled memories together). */
      promptMaxMemories: positiveInt.default(6),
      /** Most tokens of memory lines in one prompt (besides `promptShare` of the context budget). */
      promptMaxTokens: positiveInt.default(400),
      /** Most facts in the "what I know about you" block (the persona's most important facts about the user; 0: no block). */
      profileMaxFacts: z.number().int().min(0).max(20).default(3),
      /** Ask the LLM to rate the poignancy (1–10) of new memories when it is reachable. */
      llmImportance: z.boolean().default(true),
      /** Ask the LLM (when reachable) for each new memory's canonical fact and the questions it answers, for recall. */
      doc2query: z.boolean().default(true),
      /** Visibility of memories formed from chat turns. */
      formedVisibility: z.enum(['private', 'shared', 'public']).default('private'),
      /** Summarise a conversation once this many messages follow its last summary. */
      summariseAfterMessages: positiveInt.default(40),
      /** Newest messages left out of a summary (they are still in the context window). */
      summaryKeepRecent: z.number().int().min(0).default(10),
    })
    .prefault({}),
  social: z
    .object({
      /** Persona turns after which a group conversation ends by itself (`max_turns` overrides per group). */
      groupMaxTurns: positiveInt.default(12),
      /** Pause between group turns (ms), so people can follow and interject. */
      groupTurnDelayMs: z.number().int().min(0).default(1500),
      /** Reply cap per group turn when the conversation names no `token_budget`. */
      groupTokenBudget: positiveInt.default(200),
      /** Ask the model to rate each chat exchange for the relationship (the sentiment heuristic when it cannot). */
      llmJudgement: z.boolean().default(true),
    })
    .prefault({}),
  /** Check every RPC result against its schema (tests and development). */
  validateResults: z.boolean().default(false),
  /** Log each event-loop stall of at least this many ms (warn level, with its cause and GC time); 0: off. */
  logStallsMs: z.number().min(0).default(0),
  /**
   * Read-only requests the server sends itself over loopback WebSockets before it listens, so that the
   * first clients meet compiled code rather than V8's interpreter (`src/transports/warm-up.ts`); 0: none.
   */
  warmUpRequests: z.number().int().min(0).default(3000),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
