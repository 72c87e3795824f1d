/**
 * Relationships: how one persona feels about another persona or a user. Directed — Aria's view of
 * Kira is not Kira's view of Aria — and updated one interaction at a time by pure rules:
 *
 * - affinity (−1..1, liking): moves towards +1 after a pleasant interaction and towards −1 after an
 *   unpleasant one, by `AFFINITY_RATE × |quality|` of the remaining distance. Neutral talk (quality 0)
 *   changes nothing, and a strong feeling is hard to push further (diminishing returns at both ends).
 * - trust (0..1): grows slowly after good interactions (`TRUST_GAIN_RATE × quality` of the way to 1)
 *   and is lost faster after bad ones (`TRUST_LOSS_RATE × |quality|` of what there is) — trust arrives
 *   on foot and leaves on horseback.
 * - respect (0..1): like trust, symmetric, at `RESPECT_RATE`.
 * - familiarity (0..1): every interaction, good or bad, closes `FAMILIARITY_RATE` of the gap to 1, so
 *   after n interactions it is 1 − 0.95ⁿ (10 → 0.40, 30 → 0.79).
 * - intimacy (old server field) = familiarity × max(0, affinity): closeness needs both.
 * - strength = (|affinity| + trust + familiarity) / 3: how much the relationship matters, either way.
 *
 * The label (`relationship_type` on the wire) is derived, never stored: see {@link relationshipLabel}.
 */

export const AFFINITY_RATE = 0.1;
export const TRUST_GAIN_RATE = 0.05;
export const TRUST_LOSS_RATE = 0.15;
export const RESPECT_RATE = 0.05;
export const FAMILIARITY_RATE = 0.05;

/** Where every relationship starts: no feeling either way, cautious trust, neutral respect, unknown. */
export const INITIAL_RELATIONSHIP = Object.freeze({ affinity: 0, trust: 0.3, respect: 0.5, familiarity: 0 });

export type OtherKind = 'persona' | 'user';

export interface RelationshipFigures {
  /** −1..1 */
  affinity: number;
  /** 0..1 */
  trust: number;
  /** 0..1 */
  respect: number;
  /** 0..1 */
  familiarity: number;
}

export interface RelationshipState extends RelationshipFigures {
  interactionCount: number;
  /** Milliseconds spent interacting, summed over interactions. */
  totalInteractionMs: number;
  /** ms since the epoch; null until the first interaction. */
  firstMeeting: number | null;
  lastInteraction: number | null;
}

export interface Interaction {
  /** How pleasant the interaction was, −1..1 (clamped). */
  quality: number;
  /** How long it lasted; adds to the total interaction time. */
  durationMs: number;
  now: number;
}

export function newRelationship(): RelationshipState {
  return { ...INITIAL_RELATIONSHIP, interactionCount: 0, totalInteractionMs: 0, firstMeeting: null, lastInteraction: null };
}

/** Applies one interaction (see the module comment for each rule). Values are rounded to 4 decimals. */
export function applyInteraction(state: RelationshipState, interaction: Interaction): RelationshipState {
  const quality = clamp(interaction.quality, -1, 1);
  const target = quality >= 0 ? 1 : -1;
  const affinity = state.affinity + AFFINITY_RATE * Math.abs(quality) * (target - state.affinity);
  const trust =
    quality >= 0 ? state.trust + TRUST_GAIN_RATE * quality * (1 - state.trust) : state.trust - TRUST_LOSS_RATE * -quality * state.trust;
  const respect =
    quality >= 0 ? state.respect + RESPECT_RATE * quality * (1 - state.respect) : state.respect - RESPECT_RATE * -quality * state.respect;
  const familiarity = state.familiarity + FAMILIARITY_RATE * (1 - state.familiarity);
  return {
    affinity: round4(clamp(affinity, -1, 1)),
    trust: round4(clamp(trust, 0, 1)),
    respect: round4(clamp(respect, 0, 1)),
    familiarity: round4(clamp(familiarity, 0, 1)),
    interactionCount: state.interactionCount + 1,
    totalInteractionMs: state.totalInteractionMs + Math.max(0, Math.round(interaction.durationMs)),
    firstMeeting: state.firstMeeting ?? interaction.now,
    lastInteraction: interaction.now,
  };
}

/** Closeness: familiarity × max(0, affinity). */
export function intimacy(figures: RelationshipFigures): number {
  return round4(figures.familiarity * Math.max(0, figures.affinity));
}

/** How much the relationship matters either way: (|affinity| + trust + familiarity) / 3. */
export function relationshipStrength(figures: RelationshipFigures): number {
  return round4((Math.abs(figures.affinity) + figures.trust + figures.familiarity) / 3);
}

export type RelationshipLabel = 'stranger' | 'acquaintance' | 'friend' | 'close_friend' | 'rival' | 'enemy';

/** Below this familiarity the other is still a stranger, whatever the first impression. */
export const STRANGER_BELOW_FAMILIARITY = 0.1;

/**
 * The relationship's name, first rule that holds wins:
 * familiarity < 0.1 → stranger; affinity ≤ −0.5 → enemy; affinity ≤ −0.2 → rival;
 * affinity ≥ 0.6, familiarity ≥ 0.5 and trust ≥ 0.6 → close_friend; affinity ≥ 0.3 and
 * familiarity ≥ 0.25 → friend; otherwise acquaintance.
 */
export function relationshipLabel(figures: RelationshipFigures): RelationshipLabel {
  if (figures.familiarity < STRANGER_BELOW_FAMILIARITY) return 'stranger';
  if (figures.affinity <= -0.5) return 'enemy';
  if (figures.affinity <= -0.2) return 'rival';
  if (figures.affinity >= 0.6 && figures.familiarity >= 0.5 && figures.trust >= 0.6) return 'close_friend';
  if (figures.affinity >= 0.3 && figures.familiarity >= 0.25) return 'friend';
  return 'acquaintance';
}

/**
 * One sentence for the prompt about how the persona feels towards the one it talks with, or "" for a
 * stranger met for the first time (nothing to say yet).
 */
export function describeRelationship(figures: RelationshipFigures, otherName: string): string {
  const label = relationshipLabel(figures);
  switch (label) {
    case 'stranger':
      return figures.familiarity === 0 ? '' : `You have only just met ${otherName}.`;
    case 'enemy':
      return `You dislike ${otherName} and do not trust them.`;
    case 'rival':
      return `${otherName} tends to rub you the wrong way; you are wary of them.`;
    case 'close_friend':
      return `${otherName} is a close friend of yours; you trust them and are glad to talk with them.`;
    case 'friend':
      return `You consider ${otherName} a friend.`;
    default:
      return figures.affinity < 0 ? `You know ${otherName} a little and are not fond of them.` : `You know ${otherName} a little.`;
  }
}

function clamp(value: number, min: number, max: number): number {
  if (Number.isNaN(value)) return min;
  return Math.max(min, Math.min(max, value));
}

function round4(value: number): number {
  return Math.round(value * 10_000) / 10_000 || 0;
}
