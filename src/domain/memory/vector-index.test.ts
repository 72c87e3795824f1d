import { describe, expect, it } from 'vitest';
import { exactTopK, rotate, rotationSigns, VectorIndex } from './vector-index.js';

/** A seeded generator (mulberry32) so the test is deterministic. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function unit(next: () => number, dims: number): Float32Array {
  const vector = Float32Array.from({ length: dims }, () => next() * 2 - 1);
  const norm = Math.hypot(...vector);
  return vector.map((value) => value / norm);
}

describe('rotate', () => {
  it('gives the textbook transform\'s float32 values bit for bit: sign flips, one butterfly level at a time, then the scale', () => {
    // The reference stores every level in a Float32Array, as the transform was first written; rotate runs its
    // first two levels as one pass in locals, which must round each sum to float32 exactly where this does.
    const reference = (vector: Float32Array, signs: Float32Array): Float32Array => {
      const out = new Float32Array(signs.length);
      vector.forEach((value, i) => (out[i] = value * signs[i]!));
      for (let half = 1; half < out.length; half *= 2)
        for (let start = 0; start < out.length; start += half * 2)
          for (let i = start; i < start + half; i++) [out[i], out[i + half]] = [out[i]! + out[i + half]!, out[i]! - out[i + half]!];
      return out.map((value) => value * (1 / Math.sqrt(out.length)));
    };
    const next = random(5);
    for (const dims of [1, 2, 3, 4, 5, 8, 100, 256, 768]) {
      const signs = rotationSigns(2 ** Math.ceil(Math.log2(dims)));
      for (let draw = 0; draw < 5; draw++) {
        const vector = unit(next, dims);
        expect(rotate(vector, signs)).toEqual(reference(vector, signs));
      }
    }
  });
});

describe('VectorIndex', () => {
  it('answers each search alone although searches share their scratch distances (growing, shrinking, 256-d)', () => {
    const next = random(11);
    const index = new VectorIndex();
    const all = new Map<number, Float32Array>();
    const add = (id: number): void => {
      const vector = unit(next, 256);
      all.set(id, vector);
      index.upsert('p', id, vector);
    };
    for (let id = 1; id <= 300; id++) add(id);
    const queries = Array.from({ length: 5 }, () => unit(next, 256));
    const before = queries.map((query) => index.search(['p'], query, 5));
    // The same searches in reverse order give the same answers: nothing of one search leaks into the next.
    expect([...queries].reverse().map((query) => index.search(['p'], query, 5))).toEqual([...before].reverse());
    // The partition grows past its scratch array: a new vector equal to the query is found first.
    for (let id = 301; id <= 1_000; id++) add(id);
    index.upsert('p', 5_000, queries[0]!);
    expect(index.search(['p'], queries[0]!, 1)[0]!.id).toBe(5_000);
    // And shrinks: a removed vector is never returned from a stale slot.
    index.remove('p', 5_000);
    expect(index.search(['p'], queries[0]!, 10).map((hit) => hit.id)).not.toContain(5_000);
    const exact = new Set(exactTopK(queries[1]!, all, 10).map((hit) => hit.id));
    expect(index.search(['p'], queries[1]!, 10).filter((hit) => exact.has(hit.id)).length).toBeGreaterThanOrEqual(8);
  });

  it('finds the same top 10 as exact search on 2 000 random vectors (recall ≥ 0.9)', () => {
    const next = random(7);
    const index = new VectorIndex();
    const all = new Map<number, Float32Array>();
    for (let id = 1; id <= 2_000; id++) {
      const vector = unit(next, 64);
      all.set(id, vector);
      index.upsert('p', id, vector);
    }
    let found = 0;
    for (let q = 0; q < 20; q++) {
      const query = unit(next, 64);
      const exact = new Set(exactTopK(query, all, 10).map((hit) => hit.id));
      found += index.search(['p'], query, 10).filter((hit) => exact.has(hit.id)).length;
    }
    expect(found / 200).toBeGreaterThanOrEqual(0.9);
  });

  it('returns a vector itself first with similarity ≈ 1, and forgets removed ones', () => {
    const next = random(1);
    const index = new VectorIndex();
    const vectors = Array.from({ length: 50 }, () => unit(next, 32));
    vectors.forEach((vector, i) => index.upsert('p', i + 1, vector));
    const [hit] = index.search(['p'], vectors[9]!, 1);
    expect(hit!.id).toBe(10);
    expect(hit!.similarity).toBeCloseTo(1, 2);
    index.removeEverywhere(10);
    expect(index.search(['p'], vectors[9]!, 50).map((h) => h.id)).not.toContain(10);
    expect(index.size('p')).toBe(49);
  });

  it('returns the k best of every candidate, best first, equal similarities by smaller id, across partitions', () => {
    const index = new VectorIndex();
    // Fewer vectors than MIN_CANDIDATES: every one is re-ranked, so the order is that of the similarities.
    index.upsert('a', 5, [0, 1, 0, 0]);
    index.upsert('a', 4, [1, 0, 0, 0]);
    index.upsert('b', 2, [1, 0, 0, 0]);
    index.upsert('b', 3, [0.6, 0.8, 0, 0]);
    index.upsert('b', 1, [0, 0, 1, 0]);
    const hits = index.search(['a', 'b'], [1, 0, 0, 0], 3);
    expect(hits.map((hit) => hit.id)).toEqual([2, 4, 3]);
    expect(hits[2]!.similarity).toBeCloseTo(0.6, 1);
    expect(index.search(['a', 'b'], [1, 0, 0, 0], 10)).toHaveLength(5);
  });

  it('searches only the partitions named and applies the filter', () => {
    const index = new VectorIndex();
    index.upsert('a', 1, [1, 0, 0, 0]);
    index.upsert('b', 2, [1, 0, 0, 0]);
    index.upsert('b', 3, [0.9, 0.1, 0, 0]);
    expect(index.search(['a'], [1, 0, 0, 0], 5).map((hit) => hit.id)).toEqual([1]);
    expect(index.search(['a', 'b'], [1, 0, 0, 0], 5, (id) => id !== 2).map((hit) => hit.id)).toEqual([1, 3]);
  });

  it('re-ranks by the int8 copy exactly: each similarity is its int8 values times the rotated query, summed in order', () => {
    // The reference of what search computes, value by value: the vector rotated, rounded to int8 with
    // its scale, its dot product with the rotated query in double arithmetic, in dimension order. The
    // index packs the int8 values four to a word, skips the Hamming pass for a small store and re-ranks four
    // candidates at a time (123 vectors: 82 candidates in 'a', two of them past the last four): none of it may
    // change a bit (the memory eval's rankings stay byte-identical).
    const reference = (vector: Float32Array, query: Float32Array, signs: Float32Array): number => {
      const rotated = rotate(vector, signs);
      const rotatedQuery = rotate(query, signs);
      let max = 0;
      for (const value of rotated) max = Math.max(max, Math.abs(value));
      const scale = max === 0 ? 1 : max / 127;
      let dot = 0;
      for (let i = 0; i < rotated.length; i++) dot += Math.round(rotated[i]! / scale) * rotatedQuery[i]!;
      return dot * Math.fround(scale); // the index keeps the scale as a float32
    };
    for (const dims of [2, 16, 100, 256]) {
      const next = random(dims);
      const index = new VectorIndex();
      const vectors = new Map<number, Float32Array>();
      for (let id = 1; id <= 123; id++) {
        const vector = unit(next, dims);
        vectors.set(id, vector);
        index.upsert(id % 3 === 0 ? 'b' : 'a', id, vector);
      }
      const signs = rotationSigns(2 ** Math.ceil(Math.log2(dims)));
      const query = unit(next, dims);
      const accept = (id: number): boolean => id % 2 === 0;
      const hits = index.search(['a', 'b'], query, 30, accept, new Set(['b']));
      const expected = [...vectors]
        .filter(([id]) => id % 3 !== 0 || accept(id))
        .map(([id, vector]) => ({ id, similarity: reference(vector, query, signs) }))
        .sort((x, y) => y.similarity - x.similarity || x.id - y.id)
        .slice(0, 30);
      expect(hits).toEqual(expected);
    }
  });
});
