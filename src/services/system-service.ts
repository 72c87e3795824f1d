/**
 * What the server knows about itself: uptime, traffic, the database, the LLM backend and its queue.
 * Transports feed `ServerStats`; `system.status`, `/readyz` and `/metrics` read it.
 */
import type { Clock } from '../ports/clock.js';
import { isModelListed } from '../domain/model-selection.js';
import type { LlmBackendInfo, LlmCatalog, LlmModel, LlmProvider, LlmStatus } from '../ports/llm.js';
import type { JobQueueStats } from '../ports/jobs.js';
import type { Store, VectorIndexReport } from '../ports/store.js';

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
  /** Background calls this node aborted so far to give their slot to a chat a person waits for (each re-runs). */
  preempted: number;
  /** With several nodes (Redis): chats running and waiting across the deployment. */
  cluster?: { running: number; queued: number };
}

export interface SystemStatus {
  uptimeMs: number;
  stats: ServerStats;
  memoryRssBytes: number;
  llm: LlmStatus;
  queue: QueueStats | null;
  jobs: JobQueueStats | null;
  database: { ok: boolean; path: string; sizeBytes: number; vectors?: VectorIndexReport; error?: string };
}

/** A model as `system.models` lists it. */
export interface ModelEntry extends LlmModel {
  ref: string;
  /** Whether the backend has it; null when that cannot be told (backend down, the MCP host). */
  pulled: boolean | null;
  contextTokens: number;
  usedBy: Array<{ personaId: string | null; task: string }>;
}

export interface BackendModels extends Omit<LlmBackendInfo, 'models'> {
  models: ModelEntry[];
}

export class SystemService {
  private readonly startedAt: number;

  constructor(
    private readonly deps: {
      store: Store;
      llm: LlmProvider;
      /** The configured backends (the model router); without it `models` shows the one backend. */
      catalog?: LlmCatalog;
      clock: Clock;
      stats: ServerStats;
      queueStats?: () => QueueStats;
      /** The durable job queue's counts (post-turn work), when there is one. */
      jobStats?: () => Promise<JobQueueStats>;
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
      return { ok: true, path: health.path, sizeBytes: health.sizeBytes, vectors: health.vectors };
    } catch (error) {
      return { ok: false, path: this.deps.databasePath, sizeBytes: 0, error: (error as Error).message };
    }
  }

  llmStatus(): Promise<LlmStatus> {
    return this.deps.llm.status();
  }

  async status(): Promise<SystemStatus> {
    const [llm, database, jobs] = await Promise.all([this.deps.llm.status(), this.databaseStatus(), this.deps.jobStats?.().catch(() => null) ?? null]);
    return {
      uptimeMs: this.deps.clock.now() - this.startedAt,
      stats: this.deps.stats,
      memoryRssBytes: process.memoryUsage.rss(),
      llm,
      queue: this.deps.queueStats?.() ?? null,
      jobs,
      database,
    };
  }

  /**
   * Every backend's models, with which persona (chat) or task uses each and whether the backend has it
   * ("pulled"); models that are referenced but missing are listed too, with `pulled: false` (or null when
   * the backend could not be asked).
   */
  async models(personaModels: ReadonlyArray<{ personaId: string; reference: string }>, signal?: AbortSignal): Promise<BackendModels[]> {
    const catalog = this.deps.catalog;
    if (catalog === undefined) return [];
    const backends = await catalog.inventory(signal);
    const usages = [
      ...personaModels.map((usage) => ({ ...catalog.resolve(usage.reference), usedBy: { personaId: usage.personaId, task: 'chat' } })),
      ...Object.entries(catalog.taskModels()).map(([task, reference]) => ({ ...catalog.resolve(reference), usedBy: { personaId: null, task } })),
      ...catalog.fallbackChain().map((reference) => ({ ...catalog.resolve(reference), usedBy: { personaId: null, task: 'fallback' } })),
    ];
    return backends.map((backend) => {
      const listed = backend.models.map((model) => model.name);
      const mine = usages.filter((usage) => usage.backend === backend.name);
      const missing = [...new Set(mine.map((usage) => usage.model).filter((model) => !isModelListed(listed, model, backend.kind)))];
      const entries: ModelEntry[] = [
        ...backend.models.map((model) => ({ model, pulled: true as boolean | null })),
        ...missing.map((name) => ({
          model: { name, sizeBytes: null, family: null, parameterSize: null, modifiedAt: null },
          pulled: backend.reachable && backend.kind !== 'host' ? false : null,
        })),
      ].map(({ model, pulled }) => ({
        ...model,
        ref: `${backend.name}:${model.name}`,
        pulled,
        contextTokens: catalog.contextTokensOf({ backend: backend.name, model: model.name }),
        usedBy: mine.filter((usage) => isModelListed([model.name], usage.model, backend.kind)).map((usage) => usage.usedBy),
      }));
      return { ...backend, models: entries };
    });
  }

  /** Whether the backend `reference` names has it: true, false, or null when that cannot be told. */
  isPulled(backends: readonly BackendModels[], reference: string): boolean | null {
    if (this.deps.catalog === undefined) return null;
    const resolved = this.deps.catalog.resolve(reference);
    const backend = backends.find((candidate) => candidate.name === resolved.backend);
    return backend?.models.find((model) => isModelListed([model.name], resolved.model, backend.kind))?.pulled ?? null;
  }

  /** The model of each task that has its own. */
  taskModels(): Record<string, string> {
    return this.deps.catalog?.taskModels() ?? {};
  }

  /** The configured fall-back chain. */
  fallbackChain(): readonly string[] {
    return this.deps.catalog?.fallbackChain() ?? [];
  }

  /** The backend's models; throws the backend's AppError when it is unreachable. */
  listModels(signal?: AbortSignal): Promise<LlmModel[]> {
    return this.deps.llm.listModels(signal);
  }
}
