/**
 * What the server knows about itself: uptime, traffic, the database, the LLM backend and its queue.
 * Transports feed `ServerStats`; `system.status`, `/readyz` and `/metrics` read it.
 */
import type { Clock } from '../ports/clock.js';
import type { LlmModel, LlmProvider, LlmStatus } from '../ports/llm.js';
import type { Store } from '../ports/store.js';

/** Request and connection counters, updated by the transports and the JSON-RPC engine. */
export class ServerStats {
  activeConnections = 0;
  totalConnections = 0;
  totalRequests = 0;
  failedRequests = 0;
  private totalDurationMs = 0;

  recordRequest(durationMs: number, isError: boolean): void {
    this.totalRequests += 1;
    this.totalDurationMs += durationMs;
    if (isError) this.failedRequests += 1;
  }

  /** Mean handling time of all requests so far, in milliseconds. */
  get averageDurationMs(): number {
    return this.totalRequests === 0 ? 0 : this.totalDurationMs / this.totalRequests;
  }
}

export interface QueueStats {
  running: number;
  queued: number;
  concurrency: number;
  maxQueued: number;
}

export interface SystemStatus {
  uptimeMs: number;
  stats: ServerStats;
  memoryRssBytes: number;
  llm: LlmStatus;
  queue: QueueStats | null;
  database: { ok: boolean; path: string; sizeBytes: number; error?: string };
}

export class SystemService {
  private readonly startedAt: number;

  constructor(
    private readonly deps: {
      store: Store;
      llm: LlmProvider;
      clock: Clock;
      stats: ServerStats;
      queueStats?: () => QueueStats;
      databasePath: string;
    },
  ) {
    this.startedAt = deps.clock.now();
  }

  get stats(): ServerStats {
    return this.deps.stats;
  }

  async databaseStatus(): Promise<SystemStatus['database']> {
    try {
      const health = await this.deps.store.checkHealth();
      return { ok: true, path: health.path, sizeBytes: health.sizeBytes };
    } catch (error) {
      return { ok: false, path: this.deps.databasePath, sizeBytes: 0, error: (error as Error).message };
    }
  }

  llmStatus(): Promise<LlmStatus> {
    return this.deps.llm.status();
  }

  async status(): Promise<SystemStatus> {
    const [llm, database] = await Promise.all([this.deps.llm.status(), this.databaseStatus()]);
    return {
      uptimeMs: this.deps.clock.now() - this.startedAt,
      stats: this.deps.stats,
      memoryRssBytes: process.memoryUsage.rss(),
      llm,
      queue: this.deps.queueStats?.() ?? null,
      database,
    };
  }

  /** The backend's models; throws the backend's AppError when it is unreachable. */
  listModels(signal?: AbortSignal): Promise<LlmModel[]> {
    return this.deps.llm.listModels(signal);
  }
}
