/**
 * Compatibility between two personas from who they are (traits and interests), explained: each term
 * that raised or lowered the score is returned as a reason with its signed contribution, so that
 * `relationship.compatibility` can say *why* Aria and Kira get along (or do not).
 *
 *   score = 100 × clamp01( 0.5 + INTEREST_WEIGHT × (interestSimilarity − 0.5)
 *                              + TRAIT_WEIGHT × (traitSimilarity − 0.5)
 *                              + Σ pair effects )
 *
 * - interestSimilarity: cosine similarity of the two topic-preference vectors (a topic one of them
 *   lacks counts 0). Shared passions are the strongest bond in conversation.
 * - traitSimilarity: 1 − |a − b| / 100 averaged over traits both have; 0.5 (neutral) when none.
 * - pair effects: known ways two traits meet ({@link TRAIT_PAIRS}), each `effect × a/100 × b/100`,
 *   checked in both directions (A's trait with B's and B's with A's).
 */
import type { PersonaDefinition } from '../persona.js';

export const INTEREST_WEIGHT = 0.6;
export const TRAIT_WEIGHT = 0.2;

/**
 * How a trait of one persona meets a trait of the other. Positive effects complement, negative ones
 * clash. Kept short and plausible rather than exhaustive; personas with other traits fall back on
 * interests and shared-trait similarity.
 */
export const TRAIT_PAIRS: ReadonlyArray<{ a: string; b: string; effect: number; why: string }> = Object.freeze([
  { a: 'curious', b: 'analytical', effect: 0.08, why: 'curiosity meets a mind that loves explaining' },
  { a: 'empathetic', b: 'reserved', effect: 0.06, why: 'empathy gives a reserved partner room to open up' },
  { a: 'creative', b: 'methodical', effect: 0.04, why: 'creative ideas meet method to test them' },
  { a: 'optimistic', b: 'analytical', effect: 0.03, why: 'optimism balances a critical eye' },
  { a: 'extroverted', b: 'introverted', effect: -0.08, why: 'one wants lively company, the other quiet' },
  { a: 'extroverted', b: 'reserved', effect: -0.04, why: 'exuberance can overwhelm reserve' },
  { a: 'impulsive', b: 'methodical', effect: -0.05, why: 'impulsiveness frustrates a methodical partner' },
  { a: 'arrogant', b: 'proud', effect: -0.08, why: 'two egos compete for the room' },
]);

export interface CompatibilityReason {
  factor: 'interests' | 'traits' | 'trait_pair';
  /** Signed change to the score, in points (0..100 scale), rounded to 1 decimal. */
  points: number;
  explanation: string;
}

export interface CompatibilityResult {
  /** 0..100, integer. */
  score: number;
  interestSimilarity: number;
  traitSimilarity: number;
  /** Topics both like (≥ 50), best shared first. */
  sharedInterests: string[];
  reasons: CompatibilityReason[];
}

type Profile = Pick<PersonaDefinition, 'name' | 'personalityTraits' | 'topicPreferences'>;

/** Computes the compatibility of two personas (see the module comment for the formula). */
export function compatibility(first: Profile, second: Profile): CompatibilityResult {
  const interestSimilarity = cosine(lowerKeys(first.topicPreferences), lowerKeys(second.topicPreferences));
  const traitsA = lowerKeys(first.personalityTraits);
  const traitsB = lowerKeys(second.personalityTraits);
  const shared = Object.keys(traitsA).filter((trait) => trait in traitsB);
  const traitSimilarity =
    shared.length === 0
      ? 0.5
      : shared.reduce((sum, trait) => sum + 1 - Math.abs(traitsA[trait]! - traitsB[trait]!) / 100, 0) / shared.length;

  const reasons: CompatibilityReason[] = [];
  const sharedInterests = sharedLikes(first.topicPreferences, second.topicPreferences);
  const interestPoints = 100 * INTEREST_WEIGHT * (interestSimilarity - 0.5);
  reasons.push({
    factor: 'interests',
    points: round1(interestPoints),
    explanation:
      sharedInterests.length === 0
        ? `No interests in common (interest similarity ${round2(interestSimilarity)})`
        : interestSimilarity < 0.5
          ? `Few interests in common, only ${sharedInterests.slice(0, 3).join(', ')} (interest similarity ${round2(interestSimilarity)})`
          : `Both enjoy ${sharedInterests.slice(0, 3).join(', ')} (interest similarity ${round2(interestSimilarity)})`,
  });
  const traitPoints = 100 * TRAIT_WEIGHT * (traitSimilarity - 0.5);
  if (shared.length > 0) {
    reasons.push({
      factor: 'traits',
      points: round1(traitPoints),
      explanation: `Similar in ${shared.length} shared trait(s) (similarity ${round2(traitSimilarity)})`,
    });
  }
  let pairTotal = 0;
  for (const pair of TRAIT_PAIRS) {
    for (const [x, y, xName, yName] of [
      [traitsA, traitsB, first.name, second.name],
      [traitsB, traitsA, second.name, first.name],
    ] as const) {
      const a = x[pair.a];
      const b = y[pair.b];
      if (a === undefined || b === undefined) continue;
      const effect = pair.effect * (a / 100) * (b / 100);
      pairTotal += effect;
      reasons.push({
        factor: 'trait_pair',
        points: round1(100 * effect),
        explanation: `${xName} is ${pair.a} (${a}), ${yName} is ${pair.b} (${b}): ${pair.why}`,
      });
    }
  }
  const raw = 0.5 + INTEREST_WEIGHT * (interestSimilarity - 0.5) + TRAIT_WEIGHT * (traitSimilarity - 0.5) + pairTotal;
  reasons.sort((p, q) => Math.abs(q.points) - Math.abs(p.points));
  return {
    score: Math.round(100 * Math.max(0, Math.min(1, raw))),
    interestSimilarity: round4(interestSimilarity),
    traitSimilarity: round4(traitSimilarity),
    sharedInterests,
    reasons,
  };
}

/** Ideas for the two to talk about: their shared interests, else each one's favourite topic. */
export function interactionSuggestions(first: Profile, second: Profile): string[] {
  const shared = sharedLikes(first.topicPreferences, second.topicPreferences);
  if (shared.length > 0) return shared.slice(0, 3).map((topic) => `Talk about ${topic}: both of them care about it.`);
  const favourite = (profile: Profile): string | undefined =>
    Object.entries(profile.topicPreferences).sort(([, x], [, y]) => y - x)[0]?.[0];
  return [first, second].flatMap((profile) => {
    const topic = favourite(profile);
    return topic === undefined ? [] : [`Let ${profile.name} talk about ${topic}.`];
  });
}

function sharedLikes(a: Record<string, number>, b: Record<string, number>): string[] {
  const x = lowerKeys(a);
  const y = lowerKeys(b);
  return Object.keys(x)
    .filter((topic) => topic in y && x[topic]! >= 50 && y[topic]! >= 50)
    .sort((p, q) => Math.min(y[q]!, x[q]!) - Math.min(y[p]!, x[p]!) || p.localeCompare(q));
}

function lowerKeys(record: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key.trim().toLowerCase(), value]));
}

function cosine(a: Record<string, number>, b: Record<string, number>): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (const [key, value] of Object.entries(a)) {
    normA += value * value;
    dot += value * (b[key] ?? 0);
  }
  for (const value of Object.values(b)) normB += value * value;
  return normA === 0 || normB === 0 ? 0 : dot / Math.sqrt(normA * normB);
}

const round1 = (value: number): number => Math.round(value * 10) / 10 || 0;
const round2 = (value: number): number => Math.round(value * 100) / 100;
const round4 = (value: number): number => Math.round(value * 10_000) / 10_000;
