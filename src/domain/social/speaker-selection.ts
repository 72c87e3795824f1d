/**
 * Who speaks next in a group conversation. Each persona present (except the one who just spoke) has a
 * continue score for the latest message — its own wish to talk, from `continueScore` — and the group
 * adds who is being talked to and who has been quiet:
 *
 *   desire = continueScore + ADDRESSED_BONUS (named in the last message)
 *                          + AFFINITY_WEIGHT × affinity towards the last speaker (−1..1)
 *                          + QUIET_BONUS × min(turns since it last spoke, QUIET_CAP)
 *                            (a persona that has not spoken yet counts QUIET_CAP)
 *
 * Only personas whose continue decision is not `end` may speak; among them the highest desire wins,
 * ties going to the earlier participant (deterministic: no dice). When none may speak the conversation
 * ends by itself. A speaker whose decision is `wind_down` is asked to wrap up.
 */
import type { ContinueDecision } from '../continue-score.js';

export const ADDRESSED_BONUS = 25;
export const AFFINITY_WEIGHT = 10;
export const QUIET_BONUS = 5;
export const QUIET_CAP = 3;

export interface SpeakerCandidate {
  personaId: string;
  /** Can talk at all (not resting on a cooldown). */
  isAvailable: boolean;
  continueScore: number;
  decision: ContinueDecision;
  /** The last message names this persona. */
  isAddressed: boolean;
  /** −1..1 towards the last speaker; 0 for the user or a stranger. */
  affinityToLastSpeaker: number;
  /** Turns by others since this persona last spoke; null when it has not spoken yet. */
  turnsSinceSpoke: number | null;
}

export type SpeakerChoice =
  | { kind: 'speak'; personaId: string; mode: 'continue' | 'wind_down'; desire: number; desires: Record<string, number> }
  | { kind: 'end'; reason: 'nobody_wants_to_continue' | 'nobody_available'; desires: Record<string, number> };

/** The desire of one candidate (see the module comment). */
export function speakerDesire(candidate: SpeakerCandidate): number {
  const quiet = candidate.turnsSinceSpoke === null ? QUIET_CAP : Math.min(candidate.turnsSinceSpoke, QUIET_CAP);
  const desire =
    candidate.continueScore +
    (candidate.isAddressed ? ADDRESSED_BONUS : 0) +
    AFFINITY_WEIGHT * Math.max(-1, Math.min(1, candidate.affinityToLastSpeaker)) +
    QUIET_BONUS * quiet;
  return Math.round(desire * 100) / 100;
}

/** Picks the next speaker; `lastSpeakerId` (a persona id, or null after the user or at the start) never speaks twice in a row. */
export function chooseSpeaker(candidates: readonly SpeakerCandidate[], lastSpeakerId: string | null): SpeakerChoice {
  const desires: Record<string, number> = {};
  const present = candidates.filter((candidate) => candidate.personaId !== lastSpeakerId && candidate.isAvailable);
  for (const candidate of present) desires[candidate.personaId] = speakerDesire(candidate);
  if (present.length === 0) return { kind: 'end', reason: 'nobody_available', desires };
  const willing = present.filter((candidate) => candidate.decision !== 'end');
  if (willing.length === 0) return { kind: 'end', reason: 'nobody_wants_to_continue', desires };
  let best = willing[0]!;
  for (const candidate of willing.slice(1)) if (desires[candidate.personaId]! > desires[best.personaId]!) best = candidate;
  return {
    kind: 'speak',
    personaId: best.personaId,
    mode: best.decision === 'wind_down' ? 'wind_down' : 'continue',
    desire: desires[best.personaId]!,
    desires,
  };
}

/** Whether `text` names the persona (whole word, case-insensitive), e.g. "Kira, what do you think?". */
export function mentions(text: string, name: string): boolean {
  const escaped = name.trim().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  if (escaped.length === 0) return false;
  return new RegExp(`(^|[^\\p{L}\\p{N}])${escaped}($|[^\\p{L}\\p{N}])`, 'iu').test(text);
}
