/**
 * Samples of a persona's mood and social energy over time, and the rule that makes a chart of them
 * honest. Between two changes nothing is recorded, yet the persona rests: energy recovers linearly
 * (`restEnergy`) and the mood drifts back to its baseline (`driftMood`). A line drawn straight from one
 * recorded change to the next would hide that. So before recording a change after a quiet spell, the
 * state the persona had rested to just before it is recorded too (a `rest` sample), computed from the
 * previous sample with the same pure functions the server uses: between a `rest` sample and the change
 * before it, the chart's straight line is (up to the energy cap) exactly the recovery.
 */
import type { SocialEnergyProfile } from '../persona.js';
import { restEnergy } from '../social-energy.js';
import { driftMood, moodName, type MoodFigures, type MoodName, type MoodState } from './mood.js';

/**
 * What made a sample: `turn` (a reply spent energy), `chat` / `group` (a message moved the mood),
 * `manual` (`emotional.update_state`), `rest` (the resting point before a change, see above).
 */
export const MOOD_SAMPLE_CAUSES = ['turn', 'chat', 'group', 'manual', 'rest'] as const;
export type MoodSampleCause = (typeof MOOD_SAMPLE_CAUSES)[number];

/** The figures of one sample. */
export interface MoodEnergyFigures {
  mood: MoodName;
  valence: number;
  arousal: number;
  stress: number;
  curiosity: number;
  /** Social energy, 0..maxEnergy. */
  energy: number;
  /** The persona's maximum energy when the sample was taken (its profile may change later). */
  maxEnergy: number;
  /** Tiredness from recent talk, 0..1. */
  fatigue: number;
}

/** A quiet spell shorter than this gets no `rest` sample: nothing visible recovers in a minute. */
export const REST_SAMPLE_MIN_GAP_MS = 60_000;
/** Energy recovered by less than this (points) is not worth a `rest` sample. */
export const REST_SAMPLE_MIN_ENERGY = 0.5;
/** Mood figures that moved by less than this are the same (they are stored to 4 decimals). */
export const SAME_FIGURE_TOLERANCE = 0.001;

/**
 * The state the persona had rested to at `now` since the sample `last` taken at `lastAt`, or null when
 * it is not worth recording (a short gap, or nothing moved visibly).
 */
export function restSample(
  last: MoodEnergyFigures,
  lastAt: number,
  profile: SocialEnergyProfile,
  baseline: MoodFigures,
  now: number,
): MoodEnergyFigures | null {
  if (now - lastAt < REST_SAMPLE_MIN_GAP_MS) return null;
  const rested = restEnergy({ energy: last.energy, fatigue: last.fatigue, updatedAt: lastAt, cooldownUntil: null }, profile, now);
  const drifted = driftedSampleMood(last, lastAt, baseline, now);
  const sample: MoodEnergyFigures = {
    mood: moodName(drifted),
    valence: drifted.valence,
    arousal: drifted.arousal,
    stress: drifted.stress,
    curiosity: drifted.curiosity,
    energy: rested.energy,
    maxEnergy: profile.maxEnergy,
    fatigue: rested.fatigue,
  };
  const moved = Math.abs(sample.energy - last.energy) >= REST_SAMPLE_MIN_ENERGY || !sameMood(sample, last);
  return moved ? sample : null;
}

/** The mood of the sample `last` taken at `lastAt`, drifted towards the baseline until `now`. */
export function driftedSampleMood(last: MoodEnergyFigures, lastAt: number, baseline: MoodFigures, now: number): MoodState {
  return driftMood({ valence: last.valence, arousal: last.arousal, stress: last.stress, curiosity: last.curiosity, updatedAt: lastAt }, baseline, now);
}

/** Whether two samples show the same figures (a change that changed nothing is not recorded again). */
export function sameFigures(a: MoodEnergyFigures, b: MoodEnergyFigures): boolean {
  return sameMood(a, b) && Math.abs(a.energy - b.energy) < 0.05 && Math.abs(a.fatigue - b.fatigue) < SAME_FIGURE_TOLERANCE && a.maxEnergy === b.maxEnergy;
}

function sameMood(a: MoodEnergyFigures, b: MoodEnergyFigures): boolean {
  const close = (x: number, y: number): boolean => Math.abs(x - y) < SAME_FIGURE_TOLERANCE;
  return close(a.valence, b.valence) && close(a.arousal, b.arousal) && close(a.stress, b.stress) && close(a.curiosity, b.curiosity);
}
