/**
 * Where a scenario runs: a server that is already running (URL and keys), or an embedded one started
 * for the run in its own temporary data directory, with a simulated clock and, optionally, the
 * record/replay LLM adapter. Either way the runner talks to it only through the public JSON-RPC API.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { normalizeOllamaHost, OllamaProvider } from '../adapters/ollama/ollama-provider.js';
import { ReplayLlmProvider, type CassetteMode } from '../adapters/llm-replay/replay-provider.js';
import { RpcClient } from '../cli/rpc-client.js';
import { configSchema, type ConfigInput } from '../config/schema.js';
import type { LlmProvider } from '../ports/llm.js';
import { SimulatedClock } from './clock.js';

export interface SimulationTarget {
  /** Shown in reports: the URL, or "embedded (...)". */
  readonly label: string;
  /** The controlled clock of an embedded server; null for a running server (real time). */
  readonly clock: SimulatedClock | null;
  /** A connection for a simulated user, or for the director (setup, probes) when `user` is null. */
  connect(user: string | null): Promise<RpcClient>;
  /** Whether each simulated user has a key of their own (needed for no_private_crossover). */
  readonly hasSeparateUsers: boolean;
  cassetteCounts(): { replayed: number; recorded: number; missed: number } | undefined;
  /** The model an LLM judge may use (the embedded server's backend, through the cassettes when replaying); null when none. */
  readonly judge: { llm: LlmProvider; model: string } | null;
  close(): Promise<void>;
}

export interface RemoteTargetOptions {
  url: string;
  /** The key for setup and for users without their own. */
  apiKey?: string | undefined;
  /** user id → API key. */
  userKeys?: Record<string, string>;
}

export function remoteTarget(options: RemoteTargetOptions): SimulationTarget {
  const headersFor = (key: string | undefined): Record<string, string> => (key === undefined ? {} : { authorization: `Bearer ${key}` });
  const userKeys = options.userKeys ?? {};
  return {
    label: options.url,
    clock: null,
    hasSeparateUsers: Object.keys(userKeys).length > 0,
    connect: (user) => RpcClient.connect(options.url, { headers: headersFor(user === null ? options.apiKey : (userKeys[user] ?? options.apiKey)) }),
    cassetteCounts: () => undefined,
    judge: null,
    close: async () => undefined,
  };
}

export interface EmbeddedTargetOptions {
  /** Simulated start time (ms since the epoch). */
  startMs: number;
  /** Simulated users; each gets an API key of its own. */
  users: string[];
  cassettes?: { directory: string; mode: CassetteMode } | undefined;
  /** Ollama (or stand-in) address for recording or live runs; defaults to the usual OLLAMA_HOST. */
  ollamaHost?: string | undefined;
  model?: string | undefined;
  /** Extra settings for the embedded server. */
  config?: ConfigInput | undefined;
  /** Keep the temporary data directory (for inspection) instead of deleting it. */
  keepDataDir?: boolean | undefined;
}

/** Starts a server in-process on an ephemeral port with its own temporary data dir. */
export async function embeddedTarget(options: EmbeddedTargetOptions): Promise<SimulationTarget & { dataDir: string }> {
  // Loaded on use: `simulate` against a running server never loads the server code.
  const { startServer } = await import('../app/app.js');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-sim-'));
  const clock = new SimulatedClock(options.startMs);
  const base = configSchema.parse({
    ...options.config,
    dataDir,
    port: 0,
    host: '127.0.0.1',
    logLevel: 'silent',
    auth: { mode: 'required' },
    llm: {
      ...options.config?.llm,
      ...(options.ollamaHost === undefined ? {} : { ollamaHost: options.ollamaHost }),
      ...(options.model === undefined ? {} : { model: options.model }),
    },
    memory: { decayOnStart: false, ...options.config?.memory },
    social: { groupTurnDelayMs: 0, ...options.config?.social },
    // Scenarios send many requests quickly from few connections.
    limits: { rateLimitPerSecond: 10_000, rateLimitBurst: 10_000, ...options.config?.limits },
  });
  const ollama = new OllamaProvider({
    baseUrl: normalizeOllamaHost(base.llm.ollamaHost),
    requestTimeoutMs: base.llm.timeoutMs,
    firstTokenTimeoutMs: base.llm.firstTokenTimeoutMs,
  });
  const replay =
    options.cassettes === undefined
      ? null
      : new ReplayLlmProvider({
          directory: options.cassettes.directory,
          mode: options.cassettes.mode,
          inner: options.cassettes.mode === 'replay' ? null : ollama,
          recordedWith: `ollama-protocol ${base.llm.ollamaHost}`,
          rerecordHint: 'record again with `persona-mcp simulate FILE --record` (the shipped library: `npm run scenarios:record`)',
        });
  let server: Awaited<ReturnType<typeof startServer>>;
  try {
    server = await startServer(base, { clock, llm: replay ?? ollama });
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  }
  const director = await server.auth.createKey({ name: 'simulation-director', role: 'admin' });
  const keys = new Map<string, string>();
  for (const user of options.users) keys.set(user, (await server.auth.createKey({ name: `sim-${user}`.slice(0, 60), userId: `sim-${user}` })).key);
  return {
    label: `embedded (${replay === null ? `LLM ${base.llm.ollamaHost}` : `cassettes: ${options.cassettes!.mode} ${options.cassettes!.directory}`})`,
    clock,
    dataDir,
    hasSeparateUsers: true,
    connect: (user) =>
      RpcClient.connect(server.websocketUrl, { headers: { authorization: `Bearer ${user === null ? director.key : (keys.get(user) ?? director.key)}` } }),
    cassetteCounts: () => (replay === null ? undefined : { ...replay.counts }),
    judge: { llm: replay ?? ollama, model: base.llm.model },
    close: async () => {
      await server.close();
      if (options.keepDataDir !== true) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
