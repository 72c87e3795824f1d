/**
 * Importance decay. A memory that is never recalled fades: its importance halves every `halfLifeMs`
 * (exponential decay, as forgetting curves are usually modelled), down to a floor. A recall restarts the
 * decay clock (decay counts from the later of the last decay run and the last access) but never raises
 * importance: raising it on every recall made the most recalled memories outrank relevant ones
 * (issue 13, "rich get richer").
 */

export interface DecayPolicy {
  /** Time for an unrecalled memory's importance to halve. Default 30 days. */
  halfLifeMs: number;
  /** Importance never decays below this. Default 0.01. */
  floor: number;
}

export const DEFAULT_DECAY_POLICY: DecayPolicy = { halfLifeMs: 30 * 86_400_000, floor: 0.01 };

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

