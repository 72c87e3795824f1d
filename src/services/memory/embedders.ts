/**
 * The embedders memory uses: the offline one always (search never depends on the LLM), and the LLM
 * backend's when configured. Each vector is stored under its embedder's id, and a query is embedded
 * by the same embedders, so vectors of different embedders are never compared.
 *
 * The remote embedding model is checked against the backend's model list (`/api/tags`) at start and
 * every `MODEL_RECHECK_MS` after: while it is not installed the remote embedder is not called at all
 * (every call would fail), one warning says which `ollama pull` fixes it, and the offline embedder
 * answers; once it appears, `onModelReady` runs (the server queues re-embedding).
 */
import type { Logger } from 'pino';
import type { Embedder } from '../../ports/embedder.js';
import type { MemoryVector } from '../../ports/memory.js';

/** After the remote embedder fails, it is not asked again for this long (searches use the offline one). */
export const REMOTE_COOL_DOWN_MS = 30_000;
/**
 * Remote vectors kept, of queries and of embedded texts alike (a retry, a preview or a repeated question finds
 * its vector at once; a retried message's memories, a sentence said again, are not embedded again).
 */
export const VECTOR_CACHE_SIZE = 256;
/**
 * Queries a chat turn did not wait for, whose remote vectors ride along with the next {@link MemoryEmbedders.embed}
 * call (the turn's memory formation): at most this many wait, the newest kept.
 */
export const DEFERRED_QUERIES = 32;
/**
 * Texts a chat turn searched once without a remote vector, kept to tell a repeat (a retry of the same
 * message, a send after its preview): only a repeated query is embedded (the newest kept).
 */
export const SEARCHED_ONCE_KEPT = 256;
/** How often a missing (or unchecked, backend down) embedding model is looked for again. */
export const MODEL_RECHECK_MS = 5 * 60_000;

/** What is known about the remote embedding model. */
export type RemoteModelState = 'none' | 'unchecked' | 'installed' | 'missing' | 'unreachable';

/** Whether `model` is in the backend's list (a name without a tag means `:latest`). */
export function isModelInstalled(model: string, installed: readonly string[]): boolean {
  return installed.includes(model) || (!model.includes(':') && installed.includes(`${model}:latest`));
}

export class MemoryEmbedders {
  private skipRemoteUntil = 0;
  private modelState: RemoteModelState;
  private nextCheckAt = 0;
  private hasWarned = false;
  private checking: Promise<RemoteModelState> | null = null;

  constructor(
    readonly offline: Embedder,
    /** Null when memory.embedder is `offline` or the backend has no embeddings. */
    readonly remote: Embedder | null,
    private readonly logger: Pick<Logger, 'debug' | 'warn' | 'info'>,
    private readonly options: {
      /** Longest wait for a remote query embedding: a search never stalls on a hung backend. Defaults to 1000 ms. */
      queryTimeoutMs?: number;
      now?: () => number;
      /** The remote embedding model's name, and the backend's installed models (for the check). */
      model?: { name: string; installed: () => Promise<string[]> };
      /** Called when the model is found installed after having been missing or unchecked. */
      onModelReady?: () => void;
    } = {},
  ) {
    this.modelState = remote === null ? 'none' : 'unchecked';
  }

  /** Every embedder's id, offline first. */
  get ids(): string[] {
    return this.remote === null ? [this.offline.id] : [this.offline.id, this.remote.id];
  }

  /** What is known about the remote model (see `checkModel`). */
  get remoteModelState(): RemoteModelState {
    return this.modelState;
  }

  /** The embedder that answers queries now: the remote one when it can, else the offline one. */
  get answering(): string {
    const now = (this.options.now ?? Date.now)();
    return this.remote !== null && this.modelState !== 'missing' && now >= this.skipRemoteUntil ? this.remote.id : this.offline.id;
  }

  /**
   * Asks the backend whether the embedding model is installed (at most one check at a time). Warns once
   * when it is missing, says so when it appears, and never throws.
   */
  async checkModel(): Promise<RemoteModelState> {
    const model = this.options.model;
    if (this.remote === null || model === undefined) return this.modelState;
    this.checking ??= (async () => {
      const now = this.options.now ?? Date.now;
      const before = this.modelState;
      try {
        this.modelState = isModelInstalled(model.name, await model.installed()) ? 'installed' : 'missing';
      } catch {
        // Backend down: no verdict on the model; calls fail fast through the cool-down meanwhile.
        this.modelState = before === 'installed' ? 'installed' : 'unreachable';
      }
      this.nextCheckAt = now() + MODEL_RECHECK_MS;
      if (this.modelState === 'missing' && !this.hasWarned) {
        this.hasWarned = true;
        this.logger.warn(
          { model: model.name },
          `embedding model "${model.name}" is not installed; memory search uses the offline embedder until it is. Install it with: ollama pull ${model.name}`,
        );
      }
      if (this.modelState === 'installed' && before !== 'installed') {
        if (before === 'missing') this.logger.info({ model: model.name }, `embedding model "${model.name}" is installed now; memory uses it again`);
        this.skipRemoteUntil = 0;
        this.options.onModelReady?.();
      }
      return this.modelState;
    })().finally(() => {
      this.checking = null;
    });
    return this.checking;
  }

  /**
   * Vectors for each text: the offline one always; the remote one when it answers (a failure is not an
   * error here: the background re-embed job fills the gap later). Returns one list per text. A text whose
   * remote vector is kept (embedded or searched lately, or twice in `texts`) is not asked for again, and
   * no request goes out when every text's is known.
   */
  async embed(texts: readonly string[], signal?: AbortSignal): Promise<MemoryVector[][]> {
    const offline = await this.offline.embed(texts, signal);
    const result = offline.map((vector) => [{ embedder: this.offline.id, vector }]);
    const remote = this.remote;
    if (remote === null || texts.length === 0) return result;
    const known = texts.map((text) => this.knownVector(this.vectorKey(text)));
    const asked = [...new Set(texts.filter((_, index) => known[index] === undefined))];
    // The queries turns did not wait for go in the same request: one round trip to the model, not two.
    const deferred = this.takeDeferredQueries().filter((query) => !asked.includes(query));
    const all = [...asked, ...deferred];
    const answered = all.length === 0 ? [] : await this.remoteVectors(all, signal);
    if (answered !== null) all.forEach((text, index) => this.rememberVector(this.vectorKey(text), answered[index]!));
    texts.forEach((text, index) => {
      const vector = known[index] ?? this.vectors.get(this.vectorKey(text));
      if (vector !== undefined) result[index]!.push({ embedder: remote.id, vector });
    });
    return result;
  }

  /**
   * The remote embedder's vectors, or null when there is none, its model is not installed, it failed
   * recently (cool-down), or it did not answer within `timeoutMs`.
   */
  async remoteVectors(texts: readonly string[], signal?: AbortSignal, timeoutMs?: number): Promise<Float32Array[] | null> {
    const now = this.options.now ?? Date.now;
    if (this.remote === null || texts.length === 0) return null;
    if (this.options.model !== undefined && this.modelState !== 'installed' && now() >= this.nextCheckAt) void this.checkModel();
    if (this.modelState === 'missing' || now() < this.skipRemoteUntil) return null;
    const timeout = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
    // A lone limit (formation's job signal) is passed as it is: AbortSignal.any costs ~11 µs of CPU on Node 20.
    const limit = signal === undefined ? timeout : timeout === undefined ? signal : AbortSignal.any([signal, timeout]);
    try {
      return await this.remote.embed(texts, limit);
    } catch (error) {
      if (!signal?.aborted) this.skipRemoteUntil = now() + REMOTE_COOL_DOWN_MS;
      this.logger.debug({ err: error, embedder: this.remote.id }, 'remote embedder unavailable; using the offline one');
      return null;
    }
  }

  /**
   * A query's remote vector. Waits for the backend at most `waitMs` (default: the query time limit,
   * `queryTimeoutMs`); with `waitMs` 0 only a vector already known (or on its way) is returned and no
   * request goes out for it. A chat turn so never waits for a round trip to the embedding model (it
   * recalls with the offline vector and full-text search) and adds none of its own. Its vector would
   * serve only a later search of the same text, which most messages never get: a text is embedded only
   * once it is searched again (a retry, a send after its preview; the last {@link SEARCHED_ONCE_KEPT}
   * texts are remembered), and then waits (at most {@link DEFERRED_QUERIES} of them) for the next
   * {@link embed} — a turn's memory formation — whose one request embeds it too and keeps its vector for
   * the searches after. One request per text at a time; the last {@link VECTOR_CACHE_SIZE} vectors are
   * kept, per remote embedder.
   */
  async remoteQuery(query: string, waitMs?: number): Promise<Float32Array | null> {
    if (this.remote === null) return null;
    const key = this.vectorKey(query);
    const known = this.knownVector(key);
    if (known !== undefined) return known;
    const limitMs = this.options.queryTimeoutMs ?? 1_000;
    let pending = this.pendingQueries.get(key);
    if (pending === undefined && waitMs !== undefined && waitMs <= 0) {
      if (this.wasSearchedBefore(key)) this.deferQuery(query);
      return null;
    }
    if (pending === undefined) {
      pending = this.remoteVectors([query], undefined, limitMs).then((vectors) => {
        const vector = vectors?.[0] ?? null;
        if (vector !== null) this.rememberVector(key, vector);
        return vector;
      });
      const settled = pending.finally(() => this.pendingQueries.delete(key));
      this.pendingQueries.set(key, settled);
      pending = settled;
    }
    const wait = waitMs ?? limitMs;
    if (wait >= limitMs) return pending;
    if (wait <= 0) return null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const givenUp = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), wait)));
    try {
      return await Promise.race([pending, givenUp]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The kept remote vectors by {@link vectorKey}, least recently used first. */
  private readonly vectors = new Map<string, Float32Array>();
  private readonly pendingQueries = new Map<string, Promise<Float32Array | null>>();
  /** Queries waiting for the next {@link embed} call, oldest first (a Set keeps each text once). */
  private readonly deferredQueries = new Set<string>();
  /** The keys of texts searched once without waiting, oldest first. */
  private readonly searchedOnce = new Set<string>();

  private vectorKey(text: string): string {
    return `${this.remote?.id ?? ''}\n${text}`;
  }

  /** The kept vector of a key, made the most recently used. */
  private knownVector(key: string): Float32Array | undefined {
    const known = this.vectors.get(key);
    if (known !== undefined) {
      this.vectors.delete(key);
      this.vectors.set(key, known);
    }
    return known;
  }

  /** Whether `key` was searched (without waiting) before; the first time it is remembered, the second forgotten. */
  private wasSearchedBefore(key: string): boolean {
    if (this.searchedOnce.delete(key)) return true;
    this.searchedOnce.add(key);
    if (this.searchedOnce.size > SEARCHED_ONCE_KEPT) this.searchedOnce.delete(this.searchedOnce.values().next().value as string);
    return false;
  }

  private deferQuery(query: string): void {
    this.deferredQueries.delete(query);
    this.deferredQueries.add(query);
    for (const oldest of this.deferredQueries) {
      if (this.deferredQueries.size <= DEFERRED_QUERIES) break;
      this.deferredQueries.delete(oldest);
    }
  }

  /** The deferred queries not yet known, emptied: the caller embeds them now. */
  private takeDeferredQueries(): string[] {
    const taken = [...this.deferredQueries].filter((query) => !this.vectors.has(this.vectorKey(query)));
    this.deferredQueries.clear();
    return taken;
  }

  private rememberVector(key: string, vector: Float32Array): void {
    this.vectors.delete(key);
    this.vectors.set(key, vector);
    for (const oldest of this.vectors.keys()) {
      if (this.vectors.size <= VECTOR_CACHE_SIZE) break;
      this.vectors.delete(oldest);
    }
  }
}
