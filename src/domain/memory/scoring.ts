/**
 * Retrieval score (issue 13): relevance dominates; importance and recency only break ties between
 * memories about equally relevant to the query.
 *
 *   score = relevance × (w_rel + w_imp · importance + w_rec · recency) / (w_rel + w_imp + w_rec)
 *
 * - relevance: how well the memory matches the query, 0..1 (fused full-text + vector, `fusion.ts`);
 * - importance: the memory's current importance, 0..1 (formation heuristic or LLM rating, decayed);
 * - recency: `RECENCY_DECAY_PER_HOUR ^ hours since last recall` (Generative Agents), 0..1.
 *
 * With the default weights (0.75, 0.15, 0.10) the factor after relevance lies in 0.75..1, so a memory
 * needs at least 1/0.75 ≈ 1.33 times the relevance of another to be outranked by importance and recency
 * together: an important, fresh memory wins a near tie and never a clear one, and a memory with no
 * relevance scores 0 whatever its importance. (The earlier sum, relevance + importance + recency with
 * weight 1 each, let memories reinforced by recall outrank every relevant one.) Memories below the
 * relevance floor (`RELEVANCE_FLOOR`) are not recalled into a prompt at all.
 */
import { clampUnit } from './memory.js';

/**
 * Recency multiplier per hour since last access: the paper's 0.995. After a day a memory's recency is
 * 0.995^24 ≈ 0.887, after a week ≈ 0.431, after a month ≈ 0.027.
 */
export const RECENCY_DECAY_PER_HOUR = 0.995;

export const MS_PER_HOUR = 3_600_000;

export interface ScoreWeights {
  relevance: number;
  importance: number;
  recency: number;
}

/** Relevance carries 75 % of the multiplier for sure; importance and recency add the rest. */
export const DEFAULT_WEIGHTS: ScoreWeights = { relevance: 0.75, importance: 0.15, recency: 0.1 };

/**
 * The least relevance (0..1) a memory needs to be recalled into a prompt: about a third of a query's
 * rarer words found in it, or a clear vector match. Chosen on the labelled and paraphrase sets
 * (bench/memory/eval.ts prints recall and the memory lines an unrelated question brings at this floor).
 */
export const RELEVANCE_FLOOR = 0.12;

/** `decayPerHour ^ hours since lastAccessedAt`; 1 for a memory touched now (or "in the future"). */
export function recency(lastAccessedAt: number, now: number, decayPerHour = RECENCY_DECAY_PER_HOUR): number {
  const hours = Math.max(0, now - lastAccessedAt) / MS_PER_HOUR;
  return decayPerHour ** hours;
}

export interface ScoreTerms {
  relevance: number;
  importance: number;
  recency: number;
}

/** Relevance times the weighted mean of (1, importance, recency); each term clamped to 0..1 first. */
export function retrievalScore(terms: ScoreTerms, weights: ScoreWeights = DEFAULT_WEIGHTS): number {
  const total = weights.relevance + weights.importance + weights.recency;
  if (total <= 0) return clampUnit(terms.relevance);
  const factor = (weights.relevance + weights.importance * clampUnit(terms.importance) + weights.recency * clampUnit(terms.recency)) / total;
  return clampUnit(terms.relevance) * factor;
}

/**
 * Without a query there is no relevance (listing what a persona remembers, e.g. `persona.memory` with no
 * query): importance and recency alone, in their weights' proportion, 0..1.
 */
export function salienceScore(terms: Omit<ScoreTerms, 'relevance'>, weights: ScoreWeights = DEFAULT_WEIGHTS): number {
  const total = weights.importance + weights.recency;
  if (total <= 0) return 0;
  return (weights.importance * clampUnit(terms.importance) + weights.recency * clampUnit(terms.recency)) / total;
}
