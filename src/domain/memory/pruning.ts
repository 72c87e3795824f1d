/**
 * Pruning rules: which memories go, so a persona's store never grows without bound.
 *
 * 1. A memory whose importance has fallen below `threshold` and that was not recalled for
 *    `minIdleMs` is pruned (it faded and nobody missed it).
 * 2. Hard cap: when more than `maxPerPersona` would remain, the ones with the lowest retention value
 *    (`importance × recency`) go too, until the cap holds.
 */
import { recency } from './scoring.js';

export interface PrunePolicy {
  /** Importance below which an idle memory is pruned. Default 0.15. */
  threshold: number;
  /** A memory recalled more recently than this is kept whatever its importance. Default 7 days. */
  minIdleMs: number;
  /** Most memories a persona keeps. Default 10 000. */
  maxPerPersona: number;
}

export const DEFAULT_PRUNE_POLICY: PrunePolicy = { threshold: 0.15, minIdleMs: 7 * 86_400_000, maxPerPersona: 10_000 };

export interface PruneCandidate {
  id: number;
  importance: number;
  lastAccessedAt: number;
}

/** Ids to prune from one persona's memories, faded ones first, then the cap's. */
export function selectForPruning(memories: readonly PruneCandidate[], now: number, policy: PrunePolicy = DEFAULT_PRUNE_POLICY): number[] {
  const faded = memories.filter((memory) => memory.importance < policy.threshold && now - memory.lastAccessedAt >= policy.minIdleMs);
  const fadedIds = new Set(faded.map((memory) => memory.id));
  const rest = memories.filter((memory) => !fadedIds.has(memory.id));
  const excess = rest.length - policy.maxPerPersona;
  if (excess <= 0) return faded.map((memory) => memory.id);
  const byRetention = [...rest].sort(
    (a, b) => a.importance * recency(a.lastAccessedAt, now) - b.importance * recency(b.lastAccessedAt, now) || a.id - b.id,
  );
  return [...faded.map((memory) => memory.id), ...byRetention.slice(0, excess).map((memory) => memory.id)];
}

/** The advice sentence of prune results and recommendations. */
export function pruneRecommendation(count: number, wouldPrune: number, policy: PrunePolicy = DEFAULT_PRUNE_POLICY): string {
  if (wouldPrune === 0)
    return `No pruning needed: ${count} memories, none faded below ${policy.threshold} importance, cap ${policy.maxPerPersona}.`;
  const share = count === 0 ? 0 : Math.round((wouldPrune / count) * 100);
  return `Prune ${wouldPrune} of ${count} memories (${share}%): faded below ${policy.threshold} importance or over the cap of ${policy.maxPerPersona}. Call memory.prune with force: true to apply.`;
}
