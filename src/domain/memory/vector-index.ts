/**
 * An in-memory approximate nearest-neighbour index for unit-length embeddings, partitioned (one
 * partition per persona and embedder, so vectors of different embedders are never compared and a
 * query scans only the partitions it may see).
 *
 * Every vector is first rotated by a fixed randomised Hadamard transform (random sign flips, then the
 * fast Walsh–Hadamard transform; Ailon & Chazelle, 2009). The rotation keeps dot products, and spreads
 * each vector's energy over all dimensions, so that the signs below behave like random-hyperplane LSH
 * (Charikar, 2002: Hamming distance / d ≈ angle / π) even for sparse vectors such as hashed n-grams.
 * Two quantised copies of each rotated vector are kept instead of the floats:
 * - a binary code (one sign bit per dimension): a query first ranks every vector by Hamming distance,
 *   which costs a few popcounts per vector — 32 dimensions per 32-bit word;
 * - an int8 copy (per-vector scale): the best `candidates` by Hamming distance are re-ranked by their
 *   dot product with the rotated float query, which is within ~1% of the exact cosine. The int8 values
 *   are packed four to a 32-bit word, so the re-ranking reads one word per four dimensions (a typed
 *   array read costs a bounds check each in V8: ~1.6× faster than reading an Int8Array).
 * Memory per 256-d vector: 32 bytes of code + 256 bytes of int8 + 4 of scale, against 1 KiB of floats.
 * The bench (`bench/memory`) reports recall@10 against exact search.
 */

/** Re-ranked candidates per result wanted (k × this), at least `MIN_CANDIDATES`: re-ranking is cheap. */
export const CANDIDATES_PER_RESULT = 50;
export const MIN_CANDIDATES = 500;
/**
 * And at least this share of the vectors searched: Hamming distance on 256 sign bits only roughly orders
 * a large partition, so a fixed count loses recall as it grows (bench/memory: recall@10 0.904 at 100k
 * with 500 candidates, 0.792 at 1M with the same 500). 0.5% is 500 at 100k, 5 000 at 1M.
 */
export const MIN_CANDIDATE_SHARE = 0.005;
/** Seed of the rotation's sign flips: fixed, so codes stay valid across restarts. */
const ROTATION_SEED = 0x5eed;

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** ±1 per dimension from a fixed seed (xorshift32). */
export function rotationSigns(size: number): Float32Array {
  const signs = new Float32Array(size);
  let state = ROTATION_SEED;
  for (let i = 0; i < size; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    signs[i] = state & 1 ? 1 : -1;
  }
  return signs;
}

/** The randomised Hadamard rotation of `vector`, zero-padded to a power of two, length-preserving. */
export function rotate(vector: ArrayLike<number>, signs: Float32Array): Float32Array {
  return rotateInto(vector, signs, new Float32Array(signs.length));
}

/**
 * {@link rotate} into `out` (its first `signs.length` values; any beyond are left as they are), for a caller
 * that rotates many vectors: the same float32 values, operation for operation. The transform's first two
 * levels (pairs, then fours) run as one pass of four values in locals: as separate passes, their inner
 * loops of one and two steps cost more than the butterflies (−35 % a 768-d rotation with the pass below).
 */
export function rotateInto(vector: ArrayLike<number>, signs: Float32Array, out: Float32Array): Float32Array {
  const size = signs.length;
  const length = vector.length;
  for (let i = 0; i < length; i++) out[i] = vector[i]! * signs[i]!;
  out.fill(0, length, size);
  let half = 1;
  if (size >= 4) {
    // Levels 1 and 2, each sum rounded to float32 as the array would store it (Math.fround).
    for (let start = 0; start < size; start += 4) {
      const a = out[start]!;
      const b = out[start + 1]!;
      const c = out[start + 2]!;
      const d = out[start + 3]!;
      const ab = Math.fround(a + b);
      const aMinusB = Math.fround(a - b);
      const cd = Math.fround(c + d);
      const cMinusD = Math.fround(c - d);
      out[start] = ab + cd;
      out[start + 1] = aMinusB + cMinusD;
      out[start + 2] = ab - cd;
      out[start + 3] = aMinusB - cMinusD;
    }
    half = 4;
  }
  for (; half < size; half *= 2) {
    for (let start = 0; start < size; start += half * 2) {
      for (let i = start, end = start + half; i < end; i++) {
        const a = out[i]!;
        const b = out[i + half]!;
        out[i] = a + b;
        out[i + half] = a - b;
      }
    }
  }
  const scale = 1 / Math.sqrt(size);
  for (let i = 0; i < size; i++) out[i]! *= scale;
  return out;
}

export interface VectorHit {
  id: number;
  /** Approximate cosine similarity (dot product of the int8 copy with the float query). */
  similarity: number;
}

class Partition {
  readonly words: number;
  /** Rotated (padded) length. */
  readonly dims: number;
  readonly signs: Float32Array;
  size = 0;
  ids = new Float64Array(64);
  codes: Uint32Array;
  /** 32-bit words of the int8 copy per vector: four dimensions each (the last word zero-padded). */
  readonly packedWords: number;
  /** The int8 copy, dimension `4w + j` in byte j (bits 8j to 8j + 7) of word w, whatever the machine's byte order. */
  packed: Int32Array;
  scales = new Float32Array(64);
  readonly slotOf = new Map<number, number>();
  /**
   * The Hamming distances of the last search, reused by the next (searches are synchronous): a fresh
   * array per search was 200 KB at 100k vectors and 2 MB at 1M, garbage whose collection landed in the
   * tail of later searches.
   */
  private scratch = new Uint16Array(0);
  /**
   * The vector being added, rotated: reused by every upsert (synchronous), and as long as the codes' and the
   * packed copy's words (a multiple of 32 values), the values past `dims` zero.
   */
  private readonly rotated: Float32Array;

  distances(): Uint16Array {
    if (this.scratch.length < this.size) this.scratch = new Uint16Array(this.ids.length);
    return this.scratch;
  }

  constructor(readonly inputDims: number) {
    this.dims = nextPowerOfTwo(inputDims);
    this.signs = rotationSigns(this.dims);
    const dims = this.dims;
    this.words = Math.ceil(dims / 32);
    this.codes = new Uint32Array(64 * this.words);
    this.packedWords = Math.ceil(dims / 4);
    this.packed = new Int32Array(64 * this.packedWords);
    this.rotated = new Float32Array(this.words * 32);
  }

  private grow(): void {
    const capacity = this.ids.length * 2;
    const ids = new Float64Array(capacity);
    ids.set(this.ids);
    this.ids = ids;
    const codes = new Uint32Array(capacity * this.words);
    codes.set(this.codes);
    this.codes = codes;
    const packed = new Int32Array(capacity * this.packedWords);
    packed.set(this.packed);
    this.packed = packed;
    const scales = new Float32Array(capacity);
    scales.set(this.scales);
    this.scales = scales;
  }

  upsert(id: number, input: ArrayLike<number>): void {
    const vector = rotateInto(input, this.signs, this.rotated);
    let slot = this.slotOf.get(id);
    if (slot === undefined) {
      if (this.size === this.ids.length) this.grow();
      slot = this.size++;
      this.slotOf.set(id, slot);
      this.ids[slot] = id;
    }
    const { dims, words, packedWords, codes, packed } = this;
    let max = 0;
    for (let i = 0; i < dims; i++) max = Math.max(max, Math.abs(vector[i]!));
    const scale = max === 0 ? 1 : max / 127;
    this.scales[slot] = scale;
    // Each word built in a local and stored once (the rotated copy's zero padding gives the padded bits).
    for (let w = 0, i = 0; w < packedWords; w++, i += 4) {
      const v0 = vector[i]!;
      const v1 = vector[i + 1]!;
      const v2 = vector[i + 2]!;
      const v3 = vector[i + 3]!;
      packed[slot * packedWords + w] =
        (Math.round(v0 / scale) & 0xff) | ((Math.round(v1 / scale) & 0xff) << 8) | ((Math.round(v2 / scale) & 0xff) << 16) | ((Math.round(v3 / scale) & 0xff) << 24);
    }
    for (let w = 0, i = 0; w < words; w++) {
      let bits = 0;
      for (let bit = 0; bit < 32; bit++, i++) if (vector[i]! > 0) bits |= 1 << bit;
      codes[slot * words + w] = bits;
    }
  }

  remove(id: number): boolean {
    const slot = this.slotOf.get(id);
    if (slot === undefined) return false;
    const last = this.size - 1;
    if (slot !== last) {
      const lastId = this.ids[last]!;
      this.ids[slot] = lastId;
      this.codes.copyWithin(slot * this.words, last * this.words, (last + 1) * this.words);
      this.packed.copyWithin(slot * this.packedWords, last * this.packedWords, (last + 1) * this.packedWords);
      this.scales[slot] = this.scales[last]!;
      this.slotOf.set(lastId, slot);
    }
    this.slotOf.delete(id);
    this.size = last;
    return true;
  }
}

/** Set bits of every 16-bit value: two lookups count a 32-bit word (faster than SWAR in V8, see hamming256). */
const POPCOUNT16 = (() => {
  const table = new Uint8Array(65_536);
  for (let value = 1; value < 65_536; value++) table[value] = (value & 1) + table[value >>> 1]!;
  return table;
})();

/**
 * The Hamming pass for 256-bit codes (the offline embedder's 256 dimensions; every memory search runs it
 * over the whole partition), unrolled over the 8 words with the query's words in locals and a 16-bit
 * popcount table: 0.7 ms per 100k codes against 1.6 ms for the generic SWAR loop (measured with
 * process.cpuUsage on this machine). Fills `distances` and counts them in `histogram`.
 */
function hamming256(codes: Uint32Array, code: Uint32Array, size: number, distances: Uint16Array, histogram: Uint32Array): void {
  const table = POPCOUNT16;
  const q0 = code[0]!, q1 = code[1]!, q2 = code[2]!, q3 = code[3]!, q4 = code[4]!, q5 = code[5]!, q6 = code[6]!, q7 = code[7]!;
  for (let slot = 0, base = 0; slot < size; slot++, base += 8) {
    let v = codes[base]! ^ q0;
    let distance = table[v & 0xffff]! + table[v >>> 16]!;
    v = codes[base + 1]! ^ q1;
    distance += table[v & 0xffff]! + table[v >>> 16]!;
    v = codes[base + 2]! ^ q2;
    distance += table[v & 0xffff]! + table[v >>> 16]!;
    v = codes[base + 3]! ^ q3;
    distance += table[v & 0xffff]! + table[v >>> 16]!;
    v = codes[base + 4]! ^ q4;
    distance += table[v & 0xffff]! + table[v >>> 16]!;
    v = codes[base + 5]! ^ q5;
    distance += table[v & 0xffff]! + table[v >>> 16]!;
    v = codes[base + 6]! ^ q6;
    distance += table[v & 0xffff]! + table[v >>> 16]!;
    v = codes[base + 7]! ^ q7;
    distance += table[v & 0xffff]! + table[v >>> 16]!;
    distances[slot] = distance;
    histogram[distance]!++;
  }
}

/**
 * The dot product of one vector's int8 copy (`packed`, from word `base`) with the rotated query (padded
 * with zeros to a multiple of four), summed in dimension order: the same double as summing the int8
 * values one by one. Each byte is sign-extended by shifting it to the top of the word and back.
 */
function packedDot(packed: Int32Array, base: number, query: Float64Array): number {
  let dot = 0;
  for (let i = 0, w = base; i < query.length; i += 4, w++) {
    const word = packed[w]!;
    dot += ((word << 24) >> 24) * query[i]!;
    dot += ((word << 16) >> 24) * query[i + 1]!;
    dot += ((word << 8) >> 24) * query[i + 2]!;
    dot += (word >> 24) * query[i + 3]!;
  }
  return dot;
}

/**
 * `packedDot` of four vectors (from words `a`, `b`, `c`, `d`) at once, into `out[at]` to `out[at + 3]`: each
 * sum is still added in dimension order (the same doubles as `packedDot`), but the four chains of additions
 * are independent, so the CPU overlaps them (one chain alone waits on each addition in turn), and each
 * query word is read once for four vectors: −26 to −36 % a search (bench/micro-vector-search.ts).
 */
function packedDot4(
  packed: Int32Array,
  a: number,
  b: number,
  c: number,
  d: number,
  query: Float64Array,
  out: Float64Array,
  at: number,
): void {
  let dotA = 0;
  let dotB = 0;
  let dotC = 0;
  let dotD = 0;
  for (let i = 0, w = 0; i < query.length; i += 4, w++) {
    const q0 = query[i]!;
    const q1 = query[i + 1]!;
    const q2 = query[i + 2]!;
    const q3 = query[i + 3]!;
    const wordA = packed[a + w]!;
    const wordB = packed[b + w]!;
    const wordC = packed[c + w]!;
    const wordD = packed[d + w]!;
    dotA += ((wordA << 24) >> 24) * q0;
    dotB += ((wordB << 24) >> 24) * q0;
    dotC += ((wordC << 24) >> 24) * q0;
    dotD += ((wordD << 24) >> 24) * q0;
    dotA += ((wordA << 16) >> 24) * q1;
    dotB += ((wordB << 16) >> 24) * q1;
    dotC += ((wordC << 16) >> 24) * q1;
    dotD += ((wordD << 16) >> 24) * q1;
    dotA += ((wordA << 8) >> 24) * q2;
    dotB += ((wordB << 8) >> 24) * q2;
    dotC += ((wordC << 8) >> 24) * q2;
    dotD += ((wordD << 8) >> 24) * q2;
    dotA += (wordA >> 24) * q3;
    dotB += (wordB >> 24) * q3;
    dotC += (wordC >> 24) * q3;
    dotD += (wordD >> 24) * q3;
  }
  out[at] = dotA;
  out[at + 1] = dotB;
  out[at + 2] = dotC;
  out[at + 3] = dotD;
}

export class VectorIndex {
  private readonly partitions = new Map<string, Partition>();
  /** A search's candidates in one partition (their slots) and their dot products, reused by the next search (searches are synchronous). */
  private slots = new Int32Array(0);
  private dots = new Float64Array(0);

  private candidateSlots(size: number): Int32Array {
    if (this.slots.length < size) {
      this.slots = new Int32Array(size);
      this.dots = new Float64Array(size);
    }
    return this.slots;
  }

  /** Adds or replaces a vector; the partition is created with the vector's length. */
  upsert(partition: string, id: number, vector: ArrayLike<number>): void {
    let part = this.partitions.get(partition);
    if (part === undefined) {
      part = new Partition(vector.length);
      this.partitions.set(partition, part);
    }
    if (vector.length !== part.inputDims)
      throw new RangeError(`vector has ${vector.length} dimensions, partition ${partition} has ${part.inputDims}`);
    part.upsert(id, vector);
  }

  remove(partition: string, id: number): boolean {
    return this.partitions.get(partition)?.remove(id) ?? false;
  }

  /** Removes `id` from every partition (a deleted memory). */
  removeEverywhere(id: number): void {
    for (const part of this.partitions.values()) part.remove(id);
  }

  has(partition: string): boolean {
    return this.partitions.has(partition);
  }

  size(partition?: string): number {
    if (partition !== undefined) return this.partitions.get(partition)?.size ?? 0;
    let total = 0;
    for (const part of this.partitions.values()) total += part.size;
    return total;
  }

  /** The names of the partitions whose name starts with `prefix`. */
  partitionNames(prefix: string): string[] {
    return [...this.partitions.keys()].filter((name) => name.startsWith(prefix));
  }

  /** Vectors in the partitions whose name starts with `prefix` (e.g. one embedder's). */
  sizeWithPrefix(prefix: string): number {
    let total = 0;
    for (const [name, part] of this.partitions) if (name.startsWith(prefix)) total += part.size;
    return total;
  }

  dropPartition(partition: string): void {
    this.partitions.delete(partition);
  }

  /**
   * The `k` nearest vectors to `query` (unit length) across `partitions`, best first. `accept` filters
   * ids before ranking (visibility), in the partitions named in `filtered` only when given (the others
   * are taken whole: a per-vector call costs ~15 ms per 100k vectors). Approximate: see the file comment.
   *
   * Written as tight loops over typed arrays (no object per vector, popcount inlined, locals hoisted):
   * the Hamming pass touches every code of the partition, so at 100k vectors any per-vector cost is
   * multiplied 100 000 times (bench/memory).
   */
  search(
    partitions: readonly string[],
    rawQuery: ArrayLike<number>,
    k: number,
    accept?: (id: number) => boolean,
    filtered?: ReadonlySet<string>,
  ): VectorHit[] {
    const parts: Partition[] = [];
    const accepts: Array<((id: number) => boolean) | undefined> = [];
    for (const name of partitions) {
      const part = this.partitions.get(name);
      if (part !== undefined && part.size > 0 && part.inputDims === rawQuery.length) {
        parts.push(part);
        accepts.push(filtered === undefined || filtered.has(name) ? accept : undefined);
      }
    }
    if (parts.length === 0 || k <= 0) return [];
    const { dims, packedWords } = parts[0]!;
    const rotated = rotate(rawQuery, parts[0]!.signs);
    const words = Math.ceil(dims / 32);
    const code = new Uint32Array(words);
    for (let i = 0; i < dims; i++) if (rotated[i]! > 0) code[i >>> 5]! |= 1 << (i & 31);
    // As doubles (the same values: float32 → double is exact), padded to the packed words' length.
    const query = new Float64Array(packedWords * 4);
    query.set(rotated);

    // Pass 1: Hamming distance of every vector, and a histogram of distances to find the cut-off
    // that keeps `wanted` candidates without sorting everything.
    let searched = 0;
    for (const part of parts) searched += part.size;
    const wanted = Math.max(MIN_CANDIDATES, k * CANDIDATES_PER_RESULT, Math.ceil(searched * MIN_CANDIDATE_SHARE));
    const histogram = new Uint32Array(dims + 2);
    const distances: Uint16Array[] = [];
    for (const [index, part] of parts.entries()) {
      const size = part.size;
      const codes = part.codes;
      const ids = part.ids;
      const accept = accepts[index];
      const d = part.distances();
      if (searched <= wanted) {
        // Every vector searched is re-ranked anyway (a small store): no distance to compute, only the
        // filter to apply (0 keeps a vector, as the cut-off below then ends past every distance).
        for (let slot = 0; slot < size; slot++) d[slot] = accept === undefined || accept(ids[slot]!) ? 0 : 0xffff;
        distances.push(d);
        continue;
      }
      if (words === 8 && accept === undefined) {
        hamming256(codes, code, size, d, histogram);
        distances.push(d);
        continue;
      }
      for (let slot = 0, base = 0; slot < size; slot++, base += words) {
        if (accept !== undefined && !accept(ids[slot]!)) {
          d[slot] = 0xffff;
          continue;
        }
        let distance = 0;
        for (let w = 0; w < words; w++) {
          // popcount of the differing bits (SWAR; Hacker's Delight 5-2), inlined: this is the hot loop.
          let v = (codes[base + w]! ^ code[w]!) >>> 0;
          v = v - ((v >>> 1) & 0x55555555);
          v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
          distance += Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
        }
        d[slot] = distance;
        histogram[distance]!++;
      }
      distances.push(d);
    }
    let cutoff = 0;
    let below = 0;
    for (; cutoff <= dims; cutoff++) {
      if (below + histogram[cutoff]! >= wanted) break;
      below += histogram[cutoff]!;
    }

    // Pass 2: re-rank the candidates by the int8 dot product, keeping the best k in a small sorted
    // array (k is at most a few dozen). Ties at the cut-off are taken only until `wanted` is reached,
    // so a flat distance distribution cannot blow up the re-ranking.
    let atCutoff = wanted - below;
    const topIds = new Float64Array(k);
    const topScores = new Float64Array(k).fill(-Infinity);
    let count = 0;
    for (let index = 0; index < parts.length; index++) {
      const part = parts[index]!;
      const d = distances[index]!;
      const { packed, scales, ids } = part;
      const size = part.size;
      // The partition's candidates first, then their dot products four at a time (packedDot4).
      const slots = this.candidateSlots(size);
      let candidates = 0;
      for (let slot = 0; slot < size; slot++) {
        const distance = d[slot]!;
        if (distance > cutoff) continue;
        if (distance === cutoff && atCutoff-- <= 0) continue;
        slots[candidates++] = slot;
      }
      const dots = this.dots;
      let done = 0;
      for (; done + 4 <= candidates; done += 4)
        packedDot4(
          packed,
          slots[done]! * packedWords,
          slots[done + 1]! * packedWords,
          slots[done + 2]! * packedWords,
          slots[done + 3]! * packedWords,
          query,
          dots,
          done,
        );
      for (; done < candidates; done++) dots[done] = packedDot(packed, slots[done]! * packedWords, query);
      for (let candidate = 0; candidate < candidates; candidate++) {
        const slot = slots[candidate]!;
        const similarity = dots[candidate]! * scales[slot]!;
        const id = ids[slot]!;
        // Insert into the top k (best first; ties by smaller id, as a full sort would order them).
        if (count === k && !(similarity > topScores[k - 1]! || (similarity === topScores[k - 1]! && id < topIds[k - 1]!))) continue;
        let at = count < k ? count++ : k - 1;
        while (at > 0 && (similarity > topScores[at - 1]! || (similarity === topScores[at - 1]! && id < topIds[at - 1]!))) {
          topScores[at] = topScores[at - 1]!;
          topIds[at] = topIds[at - 1]!;
          at--;
        }
        topScores[at] = similarity;
        topIds[at] = id;
      }
    }
    const hits: VectorHit[] = [];
    for (let i = 0; i < count; i++) hits.push({ id: topIds[i]!, similarity: topScores[i]! });
    return hits;
  }
}

/** Cosine similarity of two vectors (0 when either is zero). */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** Exact top-k by cosine: the reference the approximate index is measured against. */
export function exactTopK(query: ArrayLike<number>, vectors: ReadonlyMap<number, ArrayLike<number>>, k: number): VectorHit[] {
  const hits: VectorHit[] = [];
  for (const [id, vector] of vectors) hits.push({ id, similarity: cosine(query, vector) });
  hits.sort((a, b) => b.similarity - a.similarity || a.id - b.id);
  return hits.slice(0, k);
}
