/**
 * Retrieval score, after the Generative Agents memory stream (Park et al., 2023, §4.1): three terms,
 * each normalised to 0..1, weighted and added:
 *
 *   score = wRelevance · relevance + wImportance · importance + wRecency · recency
 *
 * - relevance: how well the memory matches the query (fused full-text + vector rank, see `fusion.ts`);
 * - importance: the memory's current importance (formation heuristic or LLM poignancy, decayed);
 * - recency: exponential decay over the hours since the memory was last recalled,
 *   `RECENCY_DECAY_PER_HOUR ^ hours`.
 *
 * The paper weights all three terms 1; so do we by default (config `memory.weights`).
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

/** The paper's weights: every term counts the same. */
export const DEFAULT_WEIGHTS: ScoreWeights = { relevance: 1, importance: 1, recency: 1 };

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

/** The weighted sum of the three terms, each clamped to 0..1 first. */
export function retrievalScore(terms: ScoreTerms, weights: ScoreWeights = DEFAULT_WEIGHTS): number {
  return (
    weights.relevance * clampUnit(terms.relevance) +
    weights.importance * clampUnit(terms.importance) +
    weights.recency * clampUnit(terms.recency)
  );
}
