/**
 * The embedder port: turns texts into unit-length vectors for semantic search. Each embedder has a
 * stable `id` (e.g. `hashed-ngram-v1@256`, `ollama:nomic-embed-text`) recorded beside every vector it
 * makes, so that vectors of different embedders are never compared.
 */
export interface Embedder {
  /** Stable identity of the vector space: change it whenever the vectors would change. */
  readonly id: string;
  /** Vector length. Known up front for offline embedders; learnt from the first answer otherwise. */
  readonly dimensions: number | null;
  /** One unit-length vector per text, in order. Throws an AppError when the backend fails. */
  embed(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]>;
}
