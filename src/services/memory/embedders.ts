/**
 * The embedders memory uses: the offline one always (search never depends on the LLM), and the LLM
 * backend's when configured. Each vector is stored under its embedder's id, and a query is embedded
 * by the same embedders, so vectors of different embedders are never compared.
 */
import type { Logger } from 'pino';
import type { Embedder } from '../../ports/embedder.js';
import type { MemoryVector } from '../../ports/memory.js';

/** After the remote embedder fails, it is not asked again for this long (searches use the offline one). */
export const REMOTE_COOL_DOWN_MS = 30_000;
/** Remote query vectors kept (a retry, a preview or a repeated question finds its vector at once). */
export const QUERY_CACHE_SIZE = 256;

export class MemoryEmbedders {
  private skipRemoteUntil = 0;

  constructor(
    readonly offline: Embedder,
    /** Null when memory.embedder is `offline` or the backend has no embeddings. */
    readonly remote: Embedder | null,
    private readonly logger: Pick<Logger, 'debug'>,
    private readonly options: {
      /** Longest wait for a remote query embedding: a search never stalls on a hung backend. Defaults to 1000 ms. */
      queryTimeoutMs?: number;
      now?: () => number;
    } = {},
  ) {}

  /** Every embedder's id, offline first. */
  get ids(): string[] {
    return this.remote === null ? [this.offline.id] : [this.offline.id, this.remote.id];
  }

  /**
   * Vectors for each text: the offline one always; the remote one when it answers (a failure is not an
   * error here: the background re-embed job fills the gap later). Returns one list per text.
   */
  async embed(texts: readonly string[], signal?: AbortSignal): Promise<MemoryVector[][]> {
    const offline = await this.offline.embed(texts, signal);
    const result = offline.map((vector) => [{ embedder: this.offline.id, vector }]);
    const remote = await this.remoteVectors(texts, signal);
    if (remote !== null) remote.forEach((vector, index) => result[index]!.push({ embedder: this.remote!.id, vector }));
    return result;
  }

  /**
   * The remote embedder's vectors, or null when there is none, it failed recently (cool-down), or it
   * did not answer within `timeoutMs`.
   */
  async remoteVectors(texts: readonly string[], signal?: AbortSignal, timeoutMs?: number): Promise<Float32Array[] | null> {
    const now = this.options.now ?? Date.now;
    if (this.remote === null || texts.length === 0 || now() < this.skipRemoteUntil) return null;
    const limits = [signal, timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs)].filter(
      (item): item is AbortSignal => item !== undefined,
    );
    try {
      return await this.remote.embed(texts, limits.length === 0 ? undefined : AbortSignal.any(limits));
    } catch (error) {
      if (!signal?.aborted) this.skipRemoteUntil = now() + REMOTE_COOL_DOWN_MS;
      this.logger.debug({ err: error, embedder: this.remote.id }, 'remote embedder unavailable; using the offline one');
      return null;
    }
  }

  /**
   * A query's remote vector. Waits for the backend at most `waitMs` (default: the query time limit,
   * `queryTimeoutMs`); with `waitMs` 0 only a vector already known is returned — the request still goes
   * out, and its answer is kept for the next search of the same text (a chat turn never waits for a
   * round trip to the embedding model: it recalls with the offline vector and full-text search). One
   * request per text at a time; the last {@link QUERY_CACHE_SIZE} vectors are kept, per remote embedder.
   */
  async remoteQuery(query: string, waitMs?: number): Promise<Float32Array | null> {
    if (this.remote === null) return null;
    const key = `${this.remote.id}\n${query}`;
    const known = this.queryVectors.get(key);
    if (known !== undefined) {
      this.queryVectors.delete(key);
      this.queryVectors.set(key, known);
      return known;
    }
    const limitMs = this.options.queryTimeoutMs ?? 1_000;
    let pending = this.pendingQueries.get(key);
    if (pending === undefined) {
      pending = this.remoteVectors([query], undefined, limitMs).then((vectors) => {
        const vector = vectors?.[0] ?? null;
        if (vector !== null) this.rememberQuery(key, vector);
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

  private readonly queryVectors = new Map<string, Float32Array>();
  private readonly pendingQueries = new Map<string, Promise<Float32Array | null>>();

  private rememberQuery(key: string, vector: Float32Array): void {
    this.queryVectors.delete(key);
    this.queryVectors.set(key, vector);
    for (const oldest of this.queryVectors.keys()) {
      if (this.queryVectors.size <= QUERY_CACHE_SIZE) break;
      this.queryVectors.delete(oldest);
    }
  }
}
