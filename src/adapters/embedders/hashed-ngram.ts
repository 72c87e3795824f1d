/**
 * The offline embedder: feature hashing ("the hashing trick", Weinberger et al., 2009) of word
 * unigrams, word bigrams and character trigrams into a fixed-size signed vector, L2-normalised.
 * No weights, no download, no native code: it is always available, costs well under a millisecond
 * per memory and a few kilobytes of RAM. It matches shared words and word pieces ("garden",
 * "gardening"), not synonyms; the bench (`bench/memory`) prints its recall@5 on our labelled set beside
 * Ollama's embeddings, and that measurement is why it is the default (see docs/memory.md).
 */
import { wordsWithoutStopwords } from '../../domain/memory/text.js';
import type { Embedder } from '../../ports/embedder.js';

/** Vector length: 256 keeps hash collisions rare for memory-sized texts and the index small. */
export const HASHED_DIMENSIONS = 256;
/** Weight of a whole word (after stemming). */
const WORD_WEIGHT = 1;
/** Weight of two consecutive words: phrase order ("new york") adds a little. */
const BIGRAM_WEIGHT = 0.5;
/** Weight of each character trigram: shared word pieces match inflections and typos. */
const TRIGRAM_WEIGHT = 0.35;

/** A crude suffix stripper (a subset of Porter's step 1): enough to join "walks", "walked", "walking". */
export function stem(word: string): string {
  if (word.length <= 3) return word;
  for (const suffix of ['ingly', 'edly', 'ing', 'ies', 'ied', 'ed', 'es', 'ly', 's']) {
    if (word.endsWith(suffix) && word.length - suffix.length >= 3) {
      const base = word.slice(0, -suffix.length);
      return suffix === 'ies' || suffix === 'ied' ? `${base}y` : base;
    }
  }
  return word;
}

export function tokenize(text: string): string[] {
  return wordsWithoutStopwords(text).map(stem);
}

/** FNV-1a, 32-bit: fast and well spread for short strings. */
function fnv1a(text: string, seed = 0x811c9dc5): number {
  let hash = seed;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function add(vector: Float32Array, feature: string, weight: number): void {
  const hash = fnv1a(feature);
  // The low bit picks the sign, so collisions cancel out on average instead of piling up.
  const sign = hash & 1 ? 1 : -1;
  vector[(hash >>> 1) % vector.length]! += sign * weight;
}

/** The vector of one text (all zeros for a text without content words). */
export function hashedEmbedding(text: string, dimensions = HASHED_DIMENSIONS): Float32Array {
  const vector = new Float32Array(dimensions);
  const words = tokenize(text);
  words.forEach((word, index) => {
    add(vector, `w:${word}`, WORD_WEIGHT);
    if (index > 0) add(vector, `b:${words[index - 1]}_${word}`, BIGRAM_WEIGHT);
    const padded = `<${word}>`;
    for (let i = 0; i + 3 <= padded.length; i++) add(vector, `t:${padded.slice(i, i + 3)}`, TRIGRAM_WEIGHT);
  });
  let norm = 0;
  for (const value of vector) norm += value * value;
  if (norm > 0) {
    const inverse = 1 / Math.sqrt(norm);
    for (let i = 0; i < dimensions; i++) vector[i]! *= inverse;
  }
  return vector;
}

export class HashedNgramEmbedder implements Embedder {
  readonly id: string;

  constructor(readonly dimensions: number = HASHED_DIMENSIONS) {
    this.id = `hashed-ngram-v1@${dimensions}`;
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    return texts.map((text) => hashedEmbedding(text, this.dimensions));
  }
}
