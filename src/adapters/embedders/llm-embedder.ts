/**
 * Embeddings from the LLM backend (Ollama `/api/embed`, default model `nomic-embed-text`). Vectors are
 * L2-normalised here so every embedder hands the index unit vectors.
 */
import { AppError } from '../../domain/errors.js';
import type { Embedder } from '../../ports/embedder.js';
import type { LlmProvider } from '../../ports/llm.js';

export class LlmEmbedder implements Embedder {
  readonly id: string;
  private learntDimensions: number | null = null;

  constructor(
    private readonly llm: LlmProvider,
    private readonly model: string,
  ) {
    this.id = `${llm.name}:${model}`;
  }

  get dimensions(): number | null {
    return this.learntDimensions;
  }

  /** Whether the backend offers embeddings at all (not whether it is reachable now). */
  get isSupported(): boolean {
    return typeof this.llm.embed === 'function';
  }

  async embed(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]> {
    if (!this.llm.embed) throw new AppError('llm_unavailable', `The ${this.llm.name} backend does not offer embeddings.`);
    if (texts.length === 0) return [];
    const raw = await this.llm.embed(texts, this.model, signal);
    return raw.map((values) => {
      if (this.learntDimensions === null) this.learntDimensions = values.length;
      // Indexed loops and one square root per vector: this runs for every text of every embedding call.
      const vector = new Float32Array(values.length);
      let norm = 0;
      for (let i = 0; i < values.length; i++) {
        vector[i] = values[i]!;
        norm += vector[i]! * vector[i]!; // of the stored (float32) value, as before
      }
      if (norm > 0) {
        const length = Math.sqrt(norm);
        for (let i = 0; i < vector.length; i++) vector[i]! /= length;
      }
      return vector;
    });
  }
}
