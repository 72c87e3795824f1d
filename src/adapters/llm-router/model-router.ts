/**
 * The model router: one `LlmProvider` in front of every configured backend (Ollama, OpenAI-compatible
 * servers, the MCP host's model), each behind its own bounded queue. For each request it reads the model
 * reference (`ollama:llama3.1:8b`, `vllm:qwen2.5-7b-instruct`, or a bare name on the default backend),
 * gathers what it knows about every candidate (reachable, model present, context window, queue depth,
 * typical reply time) and lets the domain rules (`domain/model-selection.ts`) choose. A candidate that
 * fails before its first token (missing model, busy, unreachable) is marked and the next one is tried, so
 * the turn falls back along the chain; the final `done` event carries the choice and its reason.
 */
import { AppError, isAppError, type AppErrorKind } from '../../domain/errors.js';
import {
  formatModelRef,
  isModelChoice,
  isModelListed,
  orderCandidates,
  parseModelRef,
  selectModel,
  type Candidate,
  type CandidateFacts,
  type ModelChoice,
  type ModelRef,
} from '../../domain/model-selection.js';
import { estimateMessageTokens } from '../../domain/tokens.js';
import type { Clock } from '../../ports/clock.js';
import { systemClock } from '../../ports/clock.js';
import type { LlmCatalog, LlmChatEvent, LlmChatRequest, LlmModel, LlmProvider, LlmStatus, LlmTask } from '../../ports/llm.js';
import type { LlmQueueStats, QueuedLlmProvider } from '../llm-queue/queued-provider.js';

export type BackendKind = 'ollama' | 'openai' | 'host';

/** One configured backend, behind its own queue. */
export interface RoutedBackend {
  name: string;
  kind: BackendKind;
  /** Where it listens, for status and `system.models`. */
  endpoint: string;
  provider: QueuedLlmProvider;
  /** Context window of this backend's models when no per-model value is configured; null: the server's. */
  contextTokens: number | null;
}

/** Settings the router reads on every request, so `config.set` changes apply at once. */
export interface RouterSettings {
  /** The server's default model reference (`llm.model`). */
  defaultModel(): string;
  /** `llm.contextTokens`. */
  contextTokens(): number;
  /** `llm.modelContextTokens`, keyed by model name or full reference. */
  modelContextTokens(): Record<string, number>;
  /** `llm.fallback`, most preferred first. */
  fallback(): readonly string[];
  /** `llm.tasks`: the model of each background task, when one is set. */
  taskModels(): Partial<Record<LlmTask, string>>;
  /** `llm.latencyBudgetMs`, the budget of requests that give none. */
  latencyBudgetMs(): number | null;
  /** `memory.embedModel`, only to show in `system.models` which model embeds. */
  embedModel(): string;
}

/** The subset of a pino logger the router uses. */
export interface RouterLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/** What `system.models` shows of one backend. */
export interface BackendInventory {
  name: string;
  kind: BackendKind;
  endpoint: string;
  isDefault: boolean;
  reachable: boolean;
  error: string | null;
  models: LlmModel[];
  queue: LlmQueueStats;
}

/** Failures after which the next candidate is tried: the model or backend could not take the request. */
const FALLBACK_KINDS: ReadonlySet<AppErrorKind> = new Set(['model_not_installed', 'llm_busy', 'llm_unavailable']);
/** Weight of the newest reply in the typical reply time (exponentially weighted mean). */
const LATENCY_SMOOTHING = 0.3;

export class ModelRouter implements LlmProvider, LlmCatalog {
  readonly name: string;
  private readonly byName = new Map<string, RoutedBackend>();
  /** The backends' names, for reading model references (each request reads two or more). */
  private readonly names: string[];
  private readonly typicalReplyMs = new Map<string, number>();
  private readonly clock: Clock;

  constructor(
    backends: readonly RoutedBackend[],
    private readonly defaultBackend: string,
    private readonly settings: RouterSettings,
    private readonly logger: RouterLogger,
    clock: Clock = systemClock,
  ) {
    for (const backend of backends) this.byName.set(backend.name, backend);
    this.names = [...this.byName.keys()];
    if (!this.byName.has(defaultBackend)) throw new Error(`The default backend "${defaultBackend}" is not configured.`);
    // Named after the default backend, so embedder ids (`ollama:nomic-embed-text`) stay as they were.
    this.name = defaultBackend;
    this.clock = clock;
  }

  /** Backend names, default first. */
  get backendNames(): string[] {
    return [this.defaultBackend, ...[...this.byName.keys()].filter((name) => name !== this.defaultBackend)];
  }

  /** Reads a model reference against the configured backends. */
  resolve(reference: string): ModelRef {
    return parseModelRef(reference, this.names, this.defaultBackend);
  }

  backend(name: string): RoutedBackend | undefined {
    return this.byName.get(name);
  }

  /** The context window of `ref`: per-model setting (full reference, then name), the backend's, the server's. */
  contextTokensOf(ref: ModelRef): number {
    const perModel = this.settings.modelContextTokens();
    return perModel[formatModelRef(ref)] ?? perModel[ref.model] ?? this.byName.get(ref.backend)?.contextTokens ?? this.settings.contextTokens();
  }

  chat(request: LlmChatRequest, signal: AbortSignal): AsyncIterable<LlmChatEvent> {
    return this.route(request, signal);
  }

  private async *route(request: LlmChatRequest, signal: AbortSignal): AsyncGenerator<LlmChatEvent> {
    const candidates = this.candidatesFor(request);
    const promptTokens = request.messages.reduce((sum, message) => sum + estimateMessageTokens(message.content), 0);
    const failed = new Map<string, string>();
    const failures: AppError[] = [];
    // Probing reachability and model lists only pays when there is somewhere else to go.
    const facts = await this.factsFor(candidates, candidates.length > 1);
    for (;;) {
      const choice = selectModel({
        candidates,
        facts: facts.map((fact, index) => this.withQueueFacts(fact, candidates[index]!.ref)),
        promptTokens,
        replyTokens: request.maxTokens,
        latencyBudgetMs: request.latencyBudgetMs ?? this.settings.latencyBudgetMs(),
        failed,
      });
      if (!isModelChoice(choice)) throw noModelCanAnswer(choice.skipped, failures);
      // At info only when something was passed over: three lines a turn saying "the default model" cost ~7 µs each.
      const level = choice.rule === 'first-choice' ? 'debug' : 'info';
      this.logger[level]({ task: request.task ?? 'chat', model: choice.ref, rule: choice.rule, reason: choice.reason }, 'model selected');
      const backend = this.byName.get(choice.backend)!;
      const started = this.clock.now();
      let hasStarted = false;
      try {
        for await (const event of backend.provider.chat(this.forwarded(request, choice), signal)) {
          if (event.type === 'delta') {
            hasStarted = true;
            yield event;
          } else {
            this.recordReplyTime(choice.ref, this.clock.now() - started);
            yield { type: 'done', promptTokens: event.promptTokens, completionTokens: event.completionTokens, model: event.model || choice.model, choice };
          }
        }
        return;
      } catch (error) {
        if (hasStarted || choice.rule === 'pinned' || !isAppError(error) || !FALLBACK_KINDS.has(error.kind)) throw withChoice(error, choice);
        failed.set(choice.ref, failureReason(error));
        failures.push(error);
        this.logger.warn({ model: choice.ref, kind: error.kind }, 'model could not answer; trying the next candidate');
      }
    }
  }

  /** Embeds with the backend the reference names (`openai:text-embedding-3-small`), or the default backend. */
  embed(texts: readonly string[], model: string, signal?: AbortSignal): Promise<number[][]> {
    const ref = this.resolve(model);
    const backend = this.byName.get(ref.backend)!;
    return backend.provider.embed(texts, ref.model, signal);
  }

  /** What the model behind a reference can do ("vision", ...), from its backend; null when it cannot tell. */
  capabilities(model: string, signal?: AbortSignal): Promise<string[] | null> {
    let ref: ModelRef;
    try {
      ref = this.resolve(model);
    } catch {
      return Promise.resolve(null);
    }
    const backend = this.byName.get(ref.backend);
    return backend?.provider.capabilities?.(ref.model, signal) ?? Promise.resolve(null);
  }

  /** The default backend's models. */
  listModels(signal?: AbortSignal): Promise<LlmModel[]> {
    return this.byName.get(this.defaultBackend)!.provider.listModels(signal);
  }

  /** The default backend's status (what `/readyz` and `system.status` report). */
  status(): Promise<LlmStatus> {
    return this.byName.get(this.defaultBackend)!.provider.status();
  }

  /** Every backend's reachability, models and queue, in parallel; never throws. */
  async inventory(signal?: AbortSignal): Promise<BackendInventory[]> {
    return Promise.all(
      this.backendNames.map(async (name) => {
        const backend = this.byName.get(name)!;
        const base = { name, kind: backend.kind, endpoint: backend.endpoint, isDefault: name === this.defaultBackend, queue: backend.provider.stats() };
        try {
          const models = await backend.provider.listModels(signal);
          return { ...base, reachable: true, error: null, models };
        } catch (error) {
          return { ...base, reachable: false, error: isAppError(error) ? error.message : String(error), models: [] };
        }
      }),
    );
  }

  taskModels(): Record<string, string> {
    const tasks: Record<string, string> = {};
    for (const [task, reference] of Object.entries(this.settings.taskModels())) if (reference !== undefined) tasks[task] = reference;
    tasks['embeddings'] = this.settings.embedModel();
    return tasks;
  }

  fallbackChain(): readonly string[] {
    return this.settings.fallback();
  }

  /**
   * The default backend's queue: what `system.status` reports beside that backend's provider and
   * endpoint (each backend's own queue is in `system.models`).
   */
  defaultStats(): LlmQueueStats {
    return this.byName.get(this.defaultBackend)!.provider.stats();
  }

  /** The sum over every backend's queue (metrics). */
  stats(): LlmQueueStats {
    const total: LlmQueueStats = { running: 0, queued: 0, concurrency: 0, maxQueued: 0, preempted: 0 };
    for (const backend of this.byName.values()) {
      const stats = backend.provider.stats();
      total.running += stats.running;
      total.queued += stats.queued;
      total.concurrency += stats.concurrency;
      total.maxQueued += stats.maxQueued;
      total.preempted += stats.preempted;
      if (stats.cluster !== undefined) {
        total.cluster ??= { running: 0, queued: 0 };
        total.cluster.running += stats.cluster.running;
        total.cluster.queued += stats.cluster.queued;
      }
    }
    return total;
  }

  /** Typical reply time of a model reference, from recent replies; null before the first. */
  typicalReplyTime(ref: string): number | null {
    return this.typicalReplyMs.get(ref) ?? null;
  }

  private candidatesFor(request: LlmChatRequest): Candidate[] {
    const requested = this.resolve(request.model);
    const defaultModel = this.resolve(this.settings.defaultModel());
    const task = request.task ?? 'chat';
    const taskReference = task === 'chat' ? undefined : this.settings.taskModels()[task];
    return orderCandidates({
      requested,
      requestedSource: formatModelRef(requested) === formatModelRef(defaultModel) ? 'default' : 'persona',
      isPinned: request.isPinned === true,
      taskModel: taskReference === undefined ? null : this.resolve(taskReference),
      fallback: this.settings.fallback().map((reference) => this.resolve(reference)),
    });
  }

  /** Reachability and model presence per candidate (from each backend's cached status), when `probe`. */
  private async factsFor(candidates: readonly Candidate[], probe: boolean): Promise<Omit<CandidateFacts, keyof QueueFacts>[]> {
    const statuses = new Map<string, Promise<LlmStatus | null>>();
    if (probe) {
      for (const candidate of candidates) {
        const backend = this.byName.get(candidate.ref.backend);
        if (backend !== undefined && !statuses.has(backend.name)) statuses.set(backend.name, backend.provider.status().catch(() => null));
      }
    }
    return Promise.all(
      candidates.map(async (candidate) => {
        const backend = this.byName.get(candidate.ref.backend);
        const status = backend === undefined ? null : await (statuses.get(backend.name) ?? Promise.resolve(null));
        return {
          isBackendReachable: backend === undefined ? false : status === null ? null : status.reachable,
          isInstalled: status?.models === undefined || backend === undefined ? null : isModelListed(status.models, candidate.ref.model, backend.kind),
          contextTokens: this.contextTokensOf(candidate.ref),
          typicalReplyMs: this.typicalReplyMs.get(formatModelRef(candidate.ref)) ?? null,
        };
      }),
    );
  }

  /**
   * A candidate's facts with its queue depth now (read again before every attempt, as it changes while we
   * wait). Written out, not spread: on Node 20, `{ ...a, ...b }` costs ~9 µs (V8 leaves the copy off its
   * map transitions), the whole of the router's own work besides.
   */
  private withQueueFacts(fact: Omit<CandidateFacts, keyof QueueFacts>, ref: ModelRef): CandidateFacts {
    const stats = this.byName.get(ref.backend)?.provider.stats();
    return {
      isBackendReachable: fact.isBackendReachable,
      isInstalled: fact.isInstalled,
      contextTokens: fact.contextTokens,
      typicalReplyMs: fact.typicalReplyMs,
      running: stats?.running ?? 0,
      concurrency: stats?.concurrency ?? 1,
      queued: stats?.queued ?? 0,
      maxQueued: stats?.maxQueued ?? 0,
    };
  }

  private forwarded(request: LlmChatRequest, choice: ModelChoice): LlmChatRequest {
    const ref = { backend: choice.backend, model: choice.model };
    const contextTokens = choice.rule === 'pinned' || choice.source === 'persona' || choice.source === 'default' ? request.contextTokens : this.contextTokensOf(ref);
    return { ...request, model: choice.model, contextTokens };
  }

  private recordReplyTime(ref: string, ms: number): void {
    const previous = this.typicalReplyMs.get(ref);
    this.typicalReplyMs.set(ref, previous === undefined ? ms : Math.round(previous * (1 - LATENCY_SMOOTHING) + ms * LATENCY_SMOOTHING));
  }
}

type QueueFacts = Pick<CandidateFacts, 'running' | 'concurrency' | 'queued' | 'maxQueued'>;

function failureReason(error: AppError): string {
  switch (error.kind) {
    case 'model_not_installed':
      return 'the backend does not have this model';
    case 'llm_busy':
      return 'it was busy';
    case 'llm_unavailable':
      return 'its backend is not reachable';
    default:
      return error.message;
  }
}

/** The error when no candidate can answer: the first failure's kind, and every candidate's reason. */
function noModelCanAnswer(skipped: { ref: string; reason: string }[], failures: AppError[]): AppError {
  const first = failures[0];
  const listing = skipped.map((skip) => `${skip.ref}: ${skip.reason}`).join('; ');
  const kind: AppErrorKind = first?.kind ?? kindFromReasons(skipped);
  const lead = first !== undefined ? first.message : 'No configured model can answer.';
  return new AppError(kind, skipped.length > 1 ? `${lead} No fall-back could answer either (${listing}).` : first !== undefined ? lead : `${lead} (${listing})`, {
    data: { ...(first?.data ?? {}), candidates: skipped },
    detail: failures.map((failure) => failure.detail),
  });
}

function kindFromReasons(skipped: { ref: string; reason: string }[]): AppErrorKind {
  if (skipped.some((skip) => skip.reason.includes('does not have'))) return 'model_not_installed';
  if (skipped.some((skip) => skip.reason.includes('queue is full'))) return 'llm_busy';
  return 'llm_unavailable';
}

/** Adds which model was tried, and why, to an error's data. */
function withChoice(error: unknown, choice: ModelChoice): unknown {
  if (!isAppError(error)) return error;
  return new AppError(error.kind, error.message, { data: { ...(error.data ?? {}), model: error.data?.['model'] ?? choice.model, backend: choice.backend, model_choice: choice.reason }, detail: error.detail });
}
