import { describe, expect, it } from 'vitest';
import { cosine } from '../../domain/memory/vector-index.js';
import { hashedEmbedding, HashedNgramEmbedder, stem, tokenize } from './hashed-ngram.js';

describe('hashed n-gram embedder', () => {
  it('makes deterministic unit vectors of 256 dimensions, named by version and size', async () => {
    const embedder = new HashedNgramEmbedder();
    const [a, b] = await embedder.embed(['The user loves sailing', 'The user loves sailing']);
    expect(embedder.id).toBe('hashed-ngram-v1@256');
    expect(a).toHaveLength(256);
    expect(a).toEqual(b);
    expect(Math.hypot(...a!)).toBeCloseTo(1, 6);
  });

  it('gives a zero vector for text without content words', () => {
    expect(hashedEmbedding('the and of').every((value) => value === 0)).toBe(true);
  });

  it('joins inflections through stems and trigrams, and keeps unrelated texts apart', () => {
    const gardening = hashedEmbedding('I love gardening');
    expect(cosine(gardening, hashedEmbedding('the gardens'))).toBeGreaterThan(0.3);
    expect(cosine(gardening, hashedEmbedding('astronomy lectures'))).toBeLessThan(0.15);
  });

  it('strips stopwords and common suffixes', () => {
    expect(tokenize('The user said: I was walking the dogs')).toEqual(['walk', 'dog']);
    expect(stem('stories')).toBe('story');
    expect(stem('cat')).toBe('cat');
  });

  it('embeds a memory-sized text well under a millisecond', () => {
    const text = 'The user said: my sister runs an inn on the crossroads and bakes the best pies in the valley';
    const started = performance.now();
    for (let i = 0; i < 1_000; i++) hashedEmbedding(`${text} ${i}`);
    // Budget is 5 ms per embedding; asserting a generous 1 ms keeps this stable on a busy machine.
    expect((performance.now() - started) / 1_000).toBeLessThan(1);
  });
});

describe('hashed n-gram features', () => {
  /** FNV-1a of a feature's string, as the embedder hashed each feature when it built their strings. */
  const fnv1a = (text: string): number => {
    let hash = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
    return hash >>> 0;
  };
  const reference = (text: string): Float32Array => {
    const vector = new Float32Array(256);
    const add = (feature: string, weight: number): void => {
      const hash = fnv1a(feature);
      vector[(hash >>> 1) % 256]! += (hash & 1 ? 1 : -1) * weight;
    };
    const words = tokenize(text);
    words.forEach((word, index) => {
      add(`w:${word}`, 1);
      if (index > 0) add(`b:${words[index - 1]}_${word}`, 0.5);
      const padded = `<${word}>`;
      for (let i = 0; i + 3 <= padded.length; i++) add(`t:${padded.slice(i, i + 3)}`, 0.35);
    });
    let norm = 0;
    for (const value of vector) norm += value * value;
    if (norm > 0) for (let i = 0; i < 256; i++) vector[i]! *= 1 / Math.sqrt(norm);
    return vector;
  };

  it('hashes "w:word", "b:previous_word" and the trigrams of "<word>": every stored vector stays valid', () => {
    const texts = ['The user said: my sister runs an inn on the crossroads', 'a b', 'x', '', 'naïve café 日本語 😀 party', 'Walking, walked; walks!'];
    for (const text of texts) expect([...hashedEmbedding(text)], text).toEqual([...reference(text)]);
  });
});
