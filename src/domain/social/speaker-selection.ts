/**
 * Who speaks next in a group conversation. The rules, in order (the first that decides wins):
 *
 * 1. **Who can speak at all**: personas present and not resting on a cooldown; never the one who just
 *    spoke (nobody speaks twice in a row).
 * 2. **Direct address**, before any score: a persona spoken to answers first (see {@link addressees}) —
 *    named in the latest line, asked by the latest line's speaker whose question it answers, or named by
 *    the user's latest line and not yet heard since. The first addressee who can speak takes the turn,
 *    whatever its continue score; if that score says it would rather stop, it answers briefly
 *    (`wind_down`).
 * 3. **Desire**: otherwise each persona's continue score for what it last heard (its own wish to talk,
 *    from `continueScore`) plus who is being talked to and who has been quiet:
 *
 *      desire = continueScore + ADDRESSED_BONUS (named since it last spoke)
 *                             + AFFINITY_WEIGHT × affinity towards the last speaker (−1..1)
 *                             + QUIET_BONUS × min(turns since it last spoke, QUIET_CAP)
 *                               (a persona that has not spoken yet counts QUIET_CAP)
 *
 *    Only personas whose continue decision is not `end` may speak; among them the highest desire wins,
 *    ties going to the earlier participant (deterministic: no dice). A speaker whose decision is
 *    `wind_down` is asked to wrap up.
 * 4. **Nobody** may speak: the conversation ends by itself (`nobody_available`, `nobody_wants_to_continue`).
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
  /** A message since this persona last spoke names it (the desire bonus). */
  isAddressed: boolean;
  /**
   * Place in the order of those directly addressed by the latest lines ({@link addressees}; 0 answers
   * first), or null when not addressed. Decides before any score.
   */
  addressRank?: number | null;
  /** −1..1 towards the last speaker; 0 for the user or a stranger. */
  affinityToLastSpeaker: number;
  /** Turns by others since this persona last spoke; null when it has not spoken yet. */
  turnsSinceSpoke: number | null;
}

export type SpeakerChoice =
  | {
      kind: 'speak';
      personaId: string;
      mode: 'continue' | 'wind_down';
      /** `addressed`: rule 2 chose (direct address); `desire`: rule 3. */
      reason: 'addressed' | 'desire';
      desire: number;
      desires: Record<string, number>;
    }
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
  const addressed = present
    .filter((candidate) => candidate.addressRank !== undefined && candidate.addressRank !== null)
    .sort((a, b) => a.addressRank! - b.addressRank!)[0];
  if (addressed !== undefined) {
    return {
      kind: 'speak',
      personaId: addressed.personaId,
      mode: addressed.decision === 'continue' ? 'continue' : 'wind_down',
      reason: 'addressed',
      desire: desires[addressed.personaId]!,
      desires,
    };
  }
  const willing = present.filter((candidate) => candidate.decision !== 'end');
  if (willing.length === 0) return { kind: 'end', reason: 'nobody_wants_to_continue', desires };
  let best = willing[0]!;
  for (const candidate of willing.slice(1)) if (desires[candidate.personaId]! > desires[best.personaId]!) best = candidate;
  return {
    kind: 'speak',
    personaId: best.personaId,
    mode: best.decision === 'wind_down' ? 'wind_down' : 'continue',
    reason: 'desire',
    desire: desires[best.personaId]!,
    desires,
  };
}

/**
 * Whether `text` names the persona (whole word, any case), e.g. "Kira, what do you think?" or "bram what
 * do you think". A name written all in lower case counts only in a line that capitalises no name itself:
 * "I will ask Kira" does not name Will, "i will go" does (a lower-case writer's line cannot tell).
 */
export function mentions(text: string, name: string): boolean {
  return mentionIndex(text, name) >= 0;
}

/** Where `text` first names the persona (see {@link mentions}); −1 when it does not. */
export function mentionIndex(text: string, name: string): number {
  const escaped = name.trim().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  if (escaped.length === 0) return -1;
  const pattern = new RegExp(`(^|[^\\p{L}\\p{N}])(${escaped})(?=$|[^\\p{L}\\p{N}])`, 'giu');
  for (const match of text.matchAll(pattern)) {
    const written = match[2]!;
    if (written !== written.toLowerCase() || !capitalisesNames(text)) return match.index + match[1]!.length;
  }
  return -1;
}

/** A word in Title Case inside a sentence ("Hello, Kira"): the writer capitalises names (unlike "i will go"). */
function capitalisesNames(text: string): boolean {
  return /[^.!?\s]\s+\p{Lu}\p{Ll}/u.test(text);
}

/** A line of the conversation as direct address reads it. */
export interface AddressLine {
  /** The speaking persona's id; null for the user. */
  speakerId: string | null;
  content: string;
}

/** A persona present in the conversation, by the name others call it. */
export interface Participant {
  personaId: string;
  name: string;
}

/**
 * Who is being spoken to, in the order they should answer (rule 2 of the module comment). From the
 * latest line backwards:
 *
 * 1. **Named** in the latest line (not its own speaker), in the order named: "Bram, what do you think?".
 * 2. **Asked**: the latest line names nobody and answers a question — the line before it was another
 *    persona's and asked something ("?") — so the persona who asked hears the answer and speaks next.
 * 3. **Still owed an answer**: named in the user's latest line, and not heard from since ("Kira and Bram,
 *    what do you think?" — Bram after Kira).
 *
 * Each persona appears once, at its first place. Lines are oldest first.
 */
export function addressees(lines: readonly AddressLine[], participants: readonly Participant[]): string[] {
  const order: string[] = [];
  const add = (personaId: string): void => {
    if (!order.includes(personaId)) order.push(personaId);
  };
  const latest = lines.at(-1);
  if (latest === undefined) return order;
  const named = namedIn(latest, participants);
  named.forEach(add);
  const previous = lines.at(-2);
  if (
    named.length === 0 &&
    previous !== undefined &&
    previous.speakerId !== null &&
    previous.speakerId !== latest.speakerId &&
    previous.content.includes('?') &&
    participants.some((participant) => participant.personaId === previous.speakerId)
  )
    add(previous.speakerId);
  const userIndex = findLastIndex(lines, (line) => line.speakerId === null);
  if (userIndex >= 0) {
    const spokeSince = new Set(lines.slice(userIndex + 1).map((line) => line.speakerId));
    for (const personaId of namedIn(lines[userIndex]!, participants)) if (!spokeSince.has(personaId)) add(personaId);
  }
  return order;
}

/** The participants a line names (never its own speaker), in the order they are named. */
function namedIn(line: AddressLine, participants: readonly Participant[]): string[] {
  return participants
    .filter((participant) => participant.personaId !== line.speakerId)
    .map((participant) => ({ personaId: participant.personaId, at: mentionIndex(line.content, participant.name) }))
    .filter((mention) => mention.at >= 0)
    .sort((a, b) => a.at - b.at)
    .map((mention) => mention.personaId);
}

function findLastIndex<T>(items: readonly T[], predicate: (item: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (predicate(items[i]!)) return i;
  return -1;
}
