/**
 * Every setting, its default and its validation, in one schema. docs/configuration.md describes the
 * same keys; the loader (`load.ts`) layers defaults < config file < environment < command-line flags.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

export function defaultDataDir(): string {
  const xdg = process.env.XDG_DATA_HOME;
  return path.join(xdg && xdg.length > 0 ? xdg : path.join(os.homedir(), '.local', 'share'), 'persona-mcp');
}

const port = z.number().int().min(0).max(65_535);
const positiveInt = z.number().int().positive();

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
      provider: z.enum(['ollama']).default('ollama'),
      /** Ollama's address; OLLAMA_HOST sets it, in any form Ollama itself accepts. */
      ollamaHost: z.string().default('http://127.0.0.1:11434'),
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
    .prefault({}),
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
  limits: z
    .object({
      /** Largest WebSocket frame answered with a JSON-RPC error; four times this closes the socket (1009). */
      maxFrameBytes: positiveInt.default(1_048_576),
      /** Largest JSON-RPC batch. */
      maxBatchSize: positiveInt.default(100),
      /** Open WebSocket connections in total; more are closed with 1013 (try again later). */
      maxConnections: positiveInt.default(20_000),
      /** Open WebSocket connections from one IP address. */
      maxConnectionsPerIp: positiveInt.default(1_000),
      /** Requests per second one connection may send on average (token bucket; a batch costs its size). */
      rateLimitPerSecond: z.number().positive().default(100),
      /** Requests one connection may send in a burst. */
      rateLimitBurst: positiveInt.default(200),
      /** Chat turns one session may have in flight at once. */
      maxConcurrentChatsPerSession: positiveInt.default(2),
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
      /** How often the clean-up runs (minutes). */
      intervalMinutes: z.number().positive().default(60),
    })
    .prefault({}),
  http: z
    .object({
      /** Extra browser origins allowed to connect (the server's own origin is always allowed). */
      allowedOrigins: z.array(z.string()).default([]),
    })
    .prefault({}),
  /** Check every RPC result against its schema (tests and development). */
  validateResults: z.boolean().default(false),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
