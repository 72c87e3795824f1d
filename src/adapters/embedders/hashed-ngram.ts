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

/**
 * FNV-1a, 32-bit, over UTF-16 code units: fast and well spread for short strings. A feature's hash is
 * built a unit at a time from its kind's prefix ("w:", "b:", "t:") and its words' units, without making
 * the feature's string (a text of 30 words made ~200 of them per embedding).
 */
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function fnvStep(hash: number, unit: number): number {
  return Math.imul(hash ^ unit, FNV_PRIME);
}

function fnvWord(hash: number, word: string): number {
  for (let i = 0; i < word.length; i++) hash = Math.imul(hash ^ word.charCodeAt(i), FNV_PRIME);
  return hash;
}

const WORD_PREFIX = fnvStep(fnvStep(FNV_OFFSET, 0x77 /* w */), 0x3a /* : */);
const BIGRAM_PREFIX = fnvStep(fnvStep(FNV_OFFSET, 0x62 /* b */), 0x3a);
const TRIGRAM_PREFIX = fnvStep(fnvStep(FNV_OFFSET, 0x74 /* t */), 0x3a);
const WORD_START = 0x3c; // '<': a word's trigrams are those of "<word>"
const WORD_END = 0x3e; // '>'
const BIGRAM_JOIN = 0x5f; // '_': "b:previous_word"

function add(vector: Float32Array, hash: number, weight: number): void {
  const unsigned = hash >>> 0;
  // The low bit picks the sign, so collisions cancel out on average instead of piling up.
  const sign = unsigned & 1 ? 1 : -1;
  vector[(unsigned >>> 1) % vector.length]! += sign * weight;
}

/** The code unit at `index` of "<word>". */
function paddedUnit(word: string, index: number): number {
  return index === 0 ? WORD_START : index > word.length ? WORD_END : word.charCodeAt(index - 1);
}

/**
 * The vector of one text (all zeros for a text without content words): per word, the features
 * "w:word", "b:previous_word" and "t:" + each three units of "<word>", in that order.
 */
export function hashedEmbedding(text: string, dimensions = HASHED_DIMENSIONS): Float32Array {
  const vector = new Float32Array(dimensions);
  const words = tokenize(text);
  for (let index = 0; index < words.length; index++) {
    const word = words[index]!;
    add(vector, fnvWord(WORD_PREFIX, word), WORD_WEIGHT);
    if (index > 0) add(vector, fnvWord(fnvStep(fnvWord(BIGRAM_PREFIX, words[index - 1]!), BIGRAM_JOIN), word), BIGRAM_WEIGHT);
    for (let i = 0; i + 3 <= word.length + 2; i++) {
      const hash = fnvStep(fnvStep(fnvStep(TRIGRAM_PREFIX, paddedUnit(word, i)), paddedUnit(word, i + 1)), paddedUnit(word, i + 2));
      add(vector, hash, TRIGRAM_WEIGHT);
    }
  }
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
