/**
 * Emotional state: a mood on Russell's circumplex (valence: unpleasant −1 … pleasant +1; arousal:
 * calm 0 … excited 1) plus stress and curiosity, each drifting back to the persona's own baseline
 * while nothing happens. Pure functions over an explicit `now`.
 *
 * - Baseline from traits: valence 0.6 × optimistic/100 − 0.1 (Aria 0.41; no trait → 0.2),
 *   arousal 0.4 + 0.3 × (extroverted − introverted)/100 (Aria 0.67, Kira 0.19), stress 0.1,
 *   curiosity max(curious, analytical)/100 (Aria 0.75, Kira 0.95; none → 0.5).
 * - Drift: each figure closes half its distance to the baseline every {@link MOOD_HALF_LIFE_MS}.
 * - An interaction with sentiment s (−1..1): valence += 0.2·s, arousal += 0.1·|s| (strong words stir),
 *   stress += 0.1·max(0, −s) and −0.05·max(0, s) (kindness soothes), curiosity += 0.05 when the
 *   message asked a question. All clamped to their ranges.
 */
import type { PersonaDefinition } from '../persona.js';

/** A mood halves its distance to the baseline every 2 hours: a quarrel is mostly forgotten by the next day. */
export const MOOD_HALF_LIFE_MS = 2 * 60 * 60_000;
export const VALENCE_PER_SENTIMENT = 0.2;
export const AROUSAL_PER_INTENSITY = 0.1;
export const STRESS_PER_HOSTILITY = 0.1;
export const STRESS_RELIEF_PER_KINDNESS = 0.05;
export const CURIOSITY_PER_QUESTION = 0.05;
export const BASELINE_STRESS = 0.1;

export interface MoodFigures {
  valence: number;
  arousal: number;
  stress: number;
  curiosity: number;
}

export interface MoodState extends MoodFigures {
  /** When the figures were last brought up to date (ms). */
  updatedAt: number;
}

export type MoodName = 'excited' | 'cheerful' | 'content' | 'tense' | 'irritated' | 'melancholy' | 'alert' | 'neutral' | 'calm';

/** The named moods with a prototype point each, used by `emotional.update_state {mood: "cheerful"}`. */
export const MOOD_PROTOTYPES: Readonly<Record<MoodName, { valence: number; arousal: number }>> = Object.freeze({
  excited: { valence: 0.6, arousal: 0.8 },
  cheerful: { valence: 0.5, arousal: 0.5 },
  content: { valence: 0.4, arousal: 0.2 },
  tense: { valence: -0.4, arousal: 0.8 },
  irritated: { valence: -0.4, arousal: 0.5 },
  melancholy: { valence: -0.4, arousal: 0.2 },
  alert: { valence: 0, arousal: 0.8 },
  neutral: { valence: 0, arousal: 0.5 },
  calm: { valence: 0, arousal: 0.2 },
});

export const MOOD_NAMES = Object.keys(MOOD_PROTOTYPES) as MoodName[];

/** Valence beyond ±0.15 counts as pleasant/unpleasant; arousal ≥ 0.65 high, ≥ 0.35 medium. */
export const VALENCE_NEUTRAL_BAND = 0.15;
export const HIGH_AROUSAL = 0.65;
export const MEDIUM_AROUSAL = 0.35;

export function baselineMood(persona: Pick<PersonaDefinition, 'personalityTraits'>): MoodFigures {
  const traits = lowerKeys(persona.personalityTraits);
  const optimism = traits['optimistic'];
  const sociability = ((traits['extroverted'] ?? 0) - (traits['introverted'] ?? 0)) / 100;
  const curiosity = Math.max(traits['curious'] ?? 0, traits['analytical'] ?? 0);
  return round({
    valence: optimism === undefined ? 0.2 : 0.6 * (optimism / 100) - 0.1,
    arousal: clamp01(0.4 + 0.3 * sociability),
    stress: BASELINE_STRESS,
    curiosity: curiosity === 0 ? 0.5 : curiosity / 100,
  });
}

export function freshMood(persona: Pick<PersonaDefinition, 'personalityTraits'>, now: number): MoodState {
  return moodAt(baselineMood(persona), now);
}

/**
 * The figures as a state brought up to date at `updatedAt`. Written out rather than `{ ...figures,
 * updatedAt }`: on Node 20 a spread followed by another property costs ~1 µs (a slow runtime path),
 * and `persona.status` and every chat turn read a mood (bench/README.md, round 4).
 */
export function moodAt(figures: MoodFigures, updatedAt: number): MoodState {
  return { valence: figures.valence, arousal: figures.arousal, stress: figures.stress, curiosity: figures.curiosity, updatedAt };
}

/** Brings the mood up to `now`: every figure closes half its distance to the baseline per half-life. */
export function driftMood(state: MoodState, baseline: MoodFigures, now: number): MoodState {
  const elapsed = Math.max(0, now - state.updatedAt);
  const keep = Math.pow(0.5, elapsed / MOOD_HALF_LIFE_MS);
  const toward = (value: number, base: number): number => base + (value - base) * keep;
  return moodAt(
    round({
      valence: toward(state.valence, baseline.valence),
      arousal: toward(state.arousal, baseline.arousal),
      stress: toward(state.stress, baseline.stress),
      curiosity: toward(state.curiosity, baseline.curiosity),
    }),
    Math.max(now, state.updatedAt),
  );
}

/** Applies one interaction's sentiment (−1..1) after drifting to `now` (see the module comment). */
export function applyMoodEvent(
  state: MoodState,
  baseline: MoodFigures,
  event: { sentiment: number; askedQuestion: boolean; now: number },
): MoodState {
  const current = driftMood(state, baseline, event.now);
  const s = Math.max(-1, Math.min(1, event.sentiment));
  return moodAt(
    round({
      valence: clamp(current.valence + VALENCE_PER_SENTIMENT * s, -1, 1),
      arousal: clamp01(current.arousal + AROUSAL_PER_INTENSITY * Math.abs(s)),
      stress: clamp01(current.stress + STRESS_PER_HOSTILITY * Math.max(0, -s) - STRESS_RELIEF_PER_KINDNESS * Math.max(0, s)),
      curiosity: clamp01(current.curiosity + (event.askedQuestion ? CURIOSITY_PER_QUESTION : 0)),
    }),
    current.updatedAt,
  );
}

/**
 * The named mood for a point on the circumplex: pleasant (valence > 0.15) → excited / cheerful /
 * content by arousal (≥ 0.65, ≥ 0.35, below); unpleasant (< −0.15) → tense / irritated / melancholy;
 * in between → alert / neutral / calm.
 */
export function moodName(figures: Pick<MoodFigures, 'valence' | 'arousal'>): MoodName {
  const level = figures.arousal >= HIGH_AROUSAL ? 0 : figures.arousal >= MEDIUM_AROUSAL ? 1 : 2;
  if (figures.valence > VALENCE_NEUTRAL_BAND) return (['excited', 'cheerful', 'content'] as const)[level];
  if (figures.valence < -VALENCE_NEUTRAL_BAND) return (['tense', 'irritated', 'melancholy'] as const)[level];
  return (['alert', 'neutral', 'calm'] as const)[level];
}

const MOOD_PHRASES: Readonly<Record<MoodName, string>> = Object.freeze({
  excited: 'You feel excited and full of life.',
  cheerful: 'You are in a cheerful mood.',
  content: 'You feel content and at ease.',
  tense: 'You feel tense and on edge.',
  irritated: 'You are a little irritated.',
  melancholy: 'You feel a little low and melancholy.',
  alert: 'You feel alert and attentive.',
  neutral: 'Your mood is even.',
  calm: 'You feel calm and quiet.',
});

/** Stress at or above this is mentioned in the prompt. */
export const STRESSED_AT = 0.5;

/** One or two sentences for the prompt ("You are a little irritated. You feel stressed."). */
export function describeMood(figures: MoodFigures): string {
  const line = MOOD_PHRASES[moodName(figures)];
  return figures.stress >= STRESSED_AT ? `${line} You feel stressed.` : line;
}

function round(figures: MoodFigures): MoodFigures {
  const r = (value: number): number => Math.round(value * 10_000) / 10_000 || 0;
  return { valence: r(figures.valence), arousal: r(figures.arousal), stress: r(figures.stress), curiosity: r(figures.curiosity) };
}

function lowerKeys(record: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key.trim().toLowerCase(), value]));
}

function clamp(value: number, min: number, max: number): number {
  return Number.isNaN(value) ? min : Math.max(min, Math.min(max, value));
}

function clamp01(value: number): number {
  return clamp(value, 0, 1);
}
