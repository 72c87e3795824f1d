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
  /** FTS5 `rank` (BM25, negative; more negative is better). */
  bm25: number;
}

export interface SemanticHit {
  id: number;
  /** Cosine similarity, −1..1. */
  similarity: number;
}

/**
 * Convex-combination fusion (Bruch, Gai & Ingber, 2023, found it beats RRF when scores carry
 * information): relevance = LEXICAL_WEIGHT · lexical + (1 − LEXICAL_WEIGHT) · semantic, where
 * lexical is BM25 divided by the best BM25 among the hits (1 for the best text match, 0 when the
 * words do not occur) and semantic is the cosine similarity clamped to 0..1 (absolute, so a memory
 * that is merely the least unrelated one stays near 0). With several embedders, the first list that
 * has the memory wins (put the better embedder first).
 */
export function convexFusion(
  lexical: readonly LexicalHit[],
  semantic: readonly (readonly SemanticHit[])[],
  lexicalWeight = LEXICAL_WEIGHT,
): Map<number, number> {
  const best = lexical.reduce((min, hit) => Math.min(min, hit.bm25), 0);
  const lexicalScore = new Map(lexical.map((hit) => [hit.id, best < 0 ? hit.bm25 / best : 0]));
  const semanticScore = new Map<number, number>();
  for (const list of semantic)
    for (const hit of list) if (!semanticScore.has(hit.id)) semanticScore.set(hit.id, Math.min(1, Math.max(0, hit.similarity)));
  const fused = new Map<number, number>();
  for (const id of new Set([...lexicalScore.keys(), ...semanticScore.keys()])) {
    fused.set(id, lexicalWeight * (lexicalScore.get(id) ?? 0) + (1 - lexicalWeight) * (semanticScore.get(id) ?? 0));
  }
  return fused;
}
