/**
 * The `mood_samples` row and its mapping, shared by the SQLite and PostgreSQL `MoodHistory` adapters
 * (the same table on both, migration 0030).
 */
import type { MoodSampleCause } from '../../domain/social/mood-samples.js';
import type { MoodName } from '../../domain/social/mood.js';
import type { MoodSampleInput, MoodSamplePage, MoodSampleRecord } from '../../ports/mood-history.js';

export interface MoodSampleRow {
  id: number;
  persona_id: string;
  at: number;
  cause: MoodSampleCause;
  mood: MoodName;
  valence: number;
  arousal: number;
  stress: number;
  curiosity: number;
  energy: number;
  max_energy: number;
  fatigue: number;
}

/** The inserted columns, in the order of {@link moodSampleValues}. */
export const MOOD_SAMPLE_COLUMNS = 'persona_id, at, cause, mood, valence, arousal, stress, curiosity, energy, max_energy, fatigue';

/** Figures are stored to 4 decimals: more is noise, and equal samples compare equal after a round trip. */
const stored = (value: number): number => Math.round(value * 10_000) / 10_000;

export function moodSampleValues(sample: MoodSampleInput): [string, number, MoodSampleCause, MoodName, ...number[]] {
  return [
    sample.personaId,
    Math.round(sample.at),
    sample.cause,
    sample.mood,
    stored(sample.valence),
    stored(sample.arousal),
    stored(sample.stress),
    stored(sample.curiosity),
    stored(sample.energy),
    stored(sample.maxEnergy),
    stored(sample.fatigue),
  ];
}

export function toMoodSample(row: MoodSampleRow): MoodSampleRecord {
  return {
    id: Number(row.id),
    personaId: row.persona_id,
    at: Number(row.at),
    cause: row.cause,
    mood: row.mood,
    valence: row.valence,
    arousal: row.arousal,
    stress: row.stress,
    curiosity: row.curiosity,
    energy: row.energy,
    maxEnergy: row.max_energy,
    fatigue: row.fatigue,
  };
}

/** Rows newest first, one more than `limit` when older ones match: the page, oldest first. */
export function pageOf(rows: readonly MoodSampleRow[], limit: number): MoodSamplePage {
  return { samples: rows.slice(0, limit).map(toMoodSample).reverse(), hasMore: rows.length > limit };
}
