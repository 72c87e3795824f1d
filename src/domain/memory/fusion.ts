/**
 * Fusing the full-text and vector result lists into one relevance per memory, 0..1. Two functions:
 * `convexFusion` (the one search uses) and `reciprocalRankFusion` (kept for comparison in the bench).
 *
 * Reciprocal rank fusion (Cormack, Clarke & Büttcher, 2009): each ranked list gives an item
 * `1 / (RRF_K + rank)` (rank from 1) and the contributions add up. It needs no score calibration
 * between BM25 and cosine similarity, which live on unrelated scales.
 */

/** The paper's constant: large enough that rank 1 and rank 2 differ little, so agreement between lists wins. */
export const RRF_K = 60;

/**
 * Fuses ranked lists of ids (best first) into one map id → relevance in 0..1: the RRF sum divided by
 * the best sum possible (first in every list), so an item first in every list has relevance 1.
 */
export function reciprocalRankFusion<T>(lists: readonly (readonly T[])[], k = RRF_K): Map<T, number> {
  const fused = new Map<T, number>();
  const nonEmpty = lists.filter((list) => list.length > 0);
  if (nonEmpty.length === 0) return fused;
  const best = nonEmpty.length / (k + 1);
  for (const list of nonEmpty) {
    list.forEach((id, index) => fused.set(id, (fused.get(id) ?? 0) + 1 / (k + index + 1)));
  }
  for (const [id, sum] of fused) fused.set(id, sum / best);
  return fused;
}

/**
 * Weight of the lexical (BM25) evidence in `convexFusion`; the semantic (vector) evidence gets the rest.
 * Equal weights: neither retriever is trusted more without a measurement saying so (bench/memory
 * prints recall@5 of this and of RRF on our labelled set).
 */
export const LEXICAL_WEIGHT = 0.5;

export interface LexicalHit {
  id: number;
  /** Absolute lexical relevance, 0..1: BM25 over the query's best possible BM25 (memory-store.ts). */
  relevance: number;
}

/**
 * Cosine similarity two unrelated texts still reach by chance (shared character trigrams, hash
 * collisions) with the offline hashed n-gram embedder; similarity above it counts, rescaled to 0..1.
 * Unrelated short texts reach 0.15–0.2 ("How many legs does an octopus have?" and "I suffer from
 * migraines": 0.17); raising this from 0.15 to 0.25 cut the memory lines unrelated questions bring
 * without losing recall on the labelled and paraphrase sets (bench/memory/eval.ts).
 */
export const SEMANTIC_BASELINE = 0.25;

/** Cosine similarity above the chance level, rescaled to 0..1. */
export function semanticRelevance(similarity: number, baseline = SEMANTIC_BASELINE): number {
  if (!Number.isFinite(similarity)) return 0;
  return Math.min(1, Math.max(0, (similarity - baseline) / (1 - baseline)));
}

export interface SemanticHit {
  id: number;
  /** Cosine similarity, −1..1. */
  similarity: number;
}

/** A full-text hit as `unionFusion` takes it: its lexical relevance, and the same without thesaurus evidence. */
export interface LiteralLexicalHit {
  id: number;
  /** Absolute lexical relevance, 0..1; none is 0. */
  relevance?: number;
  /** The share of the query's own words the memory's own text holds, 0..1; none is `relevance`. */
  literal?: number;
}

/**
 * The fusion search uses (issue 13): either piece of evidence alone can make a memory relevant, and both
 * together make it more so — relevance = 1 − (1 − lexical)(1 − semantic) (a probabilistic OR), with
 * lexical the absolute lexical relevance of the full-text hit and semantic the cosine above chance
 * (`semanticRelevance`). Unlike the convex average below, a paraphrase found only through the WordNet
 * terms (semantic ≈ 0 with the offline embedder) keeps its lexical relevance instead of half of it, so it
 * can clear the relevance floor; measured on the paraphrase set (bench/memory/eval.ts). With several
 * embedders the first list that has the memory wins (put the better embedder first), each with its own
 * chance level (`baselines`, default SEMANTIC_BASELINE). `direct` is the same fusion with each hit's
 * `literal` relevance in place of its relevance: both come from one pass (a recall fuses ~100 ids, and
 * the two fusions' six maps were a sixth of what its search allocated).
 */
export function unionFusion(
  lexical: readonly LiteralLexicalHit[],
  semantic: readonly (readonly SemanticHit[])[],
  baselines: readonly number[] = [],
): FusedRelevance {
  const fused = new FusedRelevance(lexical.length + semantic.reduce((sum, list) => sum + list.length, 0));
  const { relevance, direct } = fused;
  for (const hit of lexical) {
    const at = fused.slotOf(hit.id);
    relevance[at] = Math.min(1, Math.max(0, hit.relevance ?? 0));
    direct[at] = Math.min(1, Math.max(0, hit.literal ?? hit.relevance ?? 0));
  }
  const lexicalCount = fused.size;
  // The semantic part of each slot (NaN: none yet; `semanticRelevance` is never NaN).
  const semanticPart = new Float64Array(relevance.length).fill(NaN);
  semantic.forEach((list, index) => {
    for (const hit of list) {
      const at = fused.slotOf(hit.id);
      if (Number.isNaN(semanticPart[at]!)) semanticPart[at] = semanticRelevance(hit.similarity, baselines[index]);
    }
  });
  for (let at = 0; at < fused.size; at++) {
    const part = semanticPart[at]!;
    if (at < lexicalCount) {
      const semanticOr = Number.isNaN(part) ? 0 : part;
      relevance[at] = 1 - (1 - relevance[at]!) * (1 - semanticOr);
      direct[at] = 1 - (1 - direct[at]!) * (1 - semanticOr);
    } else {
      // with no lexical score: 1 − (1 − 0)(1 − semantic), the same double
      relevance[at] = 1 - (1 - part);
      direct[at] = relevance[at]!;
    }
  }
  return fused;
}

/** `unionFusion`'s answer: per memory fused (the lexical hits in their order, then those only the vectors found), its relevance and direct relevance. */
export class FusedRelevance {
  readonly ids: number[] = [];
  readonly relevance: Float64Array;
  readonly direct: Float64Array;
  private readonly slots = new Map<number, number>();

  constructor(capacity: number) {
    this.relevance = new Float64Array(capacity);
    this.direct = new Float64Array(capacity);
  }

  get size(): number {
    return this.ids.length;
  }

  /** The memory's relevance, 0 when it was not fused. */
  relevanceOf(id: number): number {
    const at = this.slots.get(id);
    return at === undefined ? 0 : this.relevance[at]!;
  }

  /** The memory's direct relevance, 0 when it was not fused. */
  directOf(id: number): number {
    const at = this.slots.get(id);
    return at === undefined ? 0 : this.direct[at]!;
  }

  /** The memory's slot, made (after the others) when it has none. */
  slotOf(id: number): number {
    let at = this.slots.get(id);
    if (at === undefined) {
      at = this.ids.length;
      this.ids.push(id);
      this.slots.set(id, at);
    }
    return at;
  }
}

/**
 * Convex-combination fusion (Bruch, Gai & Ingber, 2023, found it beats RRF when scores carry
 * information): relevance = LEXICAL_WEIGHT · lexical + (1 − LEXICAL_WEIGHT) · semantic, where
 * lexical is the absolute lexical relevance of the full-text hit (0 when the words do not occur) and
 * semantic the cosine similarity above chance (`semanticRelevance`). Both are absolute, so a memory that
 * is merely the least unrelated one stays near 0 — which is what lets a relevance floor say "nothing
 * relevant". Each embedder's list may carry its own chance level (`baselines`, default
 * SEMANTIC_BASELINE); with several embedders, the first list that has the memory wins (put the better
 * embedder first).
 */
export function convexFusion(
  lexical: readonly LexicalHit[],
  semantic: readonly (readonly SemanticHit[])[],
  lexicalWeight = LEXICAL_WEIGHT,
  baselines: readonly number[] = [],
): Map<number, number> {
  const lexicalScore = new Map(lexical.map((hit) => [hit.id, Math.min(1, Math.max(0, hit.relevance))]));
  const semanticScore = new Map<number, number>();
  semantic.forEach((list, index) => {
    for (const hit of list) if (!semanticScore.has(hit.id)) semanticScore.set(hit.id, semanticRelevance(hit.similarity, baselines[index]));
  });
  const fused = new Map<number, number>();
  for (const id of new Set([...lexicalScore.keys(), ...semanticScore.keys()])) {
    fused.set(id, lexicalWeight * (lexicalScore.get(id) ?? 0) + (1 - lexicalWeight) * (semanticScore.get(id) ?? 0));
  }
  return fused;
}
