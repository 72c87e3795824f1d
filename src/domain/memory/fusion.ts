/**
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
