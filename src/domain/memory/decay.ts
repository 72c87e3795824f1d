/**
 * Importance decay and reinforcement. A memory that is never recalled fades: its importance halves
 * every `halfLifeMs` (exponential decay, as forgetting curves are usually modelled), down to a floor.
 * Recall reinforces it: each access moves importance a fixed share of the way towards 1, and restarts
 * the decay clock (decay counts from the later of the last decay run and the last access).
 */
import { clampUnit } from './memory.js';

export interface DecayPolicy {
  /** Time for an unrecalled memory's importance to halve. Default 30 days. */
  halfLifeMs: number;
  /** Importance never decays below this. Default 0.01. */
  floor: number;
  /** Share of the distance to 1 that one recall adds. Default 0.1. */
  reinforcement: number;
}

export const DEFAULT_DECAY_POLICY: DecayPolicy = { halfLifeMs: 30 * 86_400_000, floor: 0.01, reinforcement: 0.1 };

/** `importance · 0.5^(elapsed / halfLife)`, never below the floor (nor raised to it when already lower). */
export function decayedImportance(importance: number, elapsedMs: number, policy: DecayPolicy = DEFAULT_DECAY_POLICY): number {
  if (elapsedMs <= 0) return importance;
  const decayed = importance * 0.5 ** (elapsedMs / policy.halfLifeMs);
  return Math.max(Math.min(importance, policy.floor), decayed);
}

/** The decay a memory is due now: from the later of its last decay and its last access. */
export function decayDue(
  memory: { importance: number; decayedAt: number; lastAccessedAt: number },
  now: number,
  policy: DecayPolicy = DEFAULT_DECAY_POLICY,
): number {
  const since = Math.max(memory.decayedAt, memory.lastAccessedAt);
  return decayedImportance(memory.importance, now - since, policy);
}

/** Importance after one recall: `importance + reinforcement · (1 − importance)`. */
export function reinforcedImportance(importance: number, policy: DecayPolicy = DEFAULT_DECAY_POLICY): number {
  return clampUnit(importance + policy.reinforcement * (1 - importance));
}
