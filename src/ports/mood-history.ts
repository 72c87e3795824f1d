/**
 * The stored history of each persona's mood and social energy: one sample whenever either changes
 * (a turn spends energy, an interaction moves the mood, someone sets them), so charts survive a
 * reload and a restart. Bounded by the retention clean-up (`prune`). Implemented on SQLite
 * (`src/adapters/sqlite/mood-history.ts`) and PostgreSQL (`src/adapters/postgres/pg-mood-history.ts`).
 *
 * A sample holds the persona's figures and what kind of change made it, never who caused it (no user,
 * session or conversation): it is as public as the persona's current mood (`emotional.get_state`).
 */
import type { MoodEnergyFigures, MoodSampleCause } from '../domain/social/mood-samples.js';

/** The figures of one sample (the domain's; energy 0..maxEnergy, fatigue 0..1). */
export type MoodSampleFigures = MoodEnergyFigures;

export interface MoodSampleInput extends MoodSampleFigures {
  personaId: string;
  /** When the persona had these figures (ms since epoch). */
  at: number;
  cause: MoodSampleCause;
}

export interface MoodSampleRecord extends MoodSampleInput {
  /** Increasing in insertion order: the cursor of `after`/`before`. */
  id: number;
}

export interface MoodSampleQuery {
  /** Only samples with a larger id (what came since the last read). */
  afterId?: number;
  /** Only samples with a smaller id (paging back). */
  beforeId?: number;
  /** Only samples taken at or after this time (ms). */
  since?: number;
  /** At most this many: the newest of those that match. */
  limit: number;
}

export interface MoodSamplePage {
  /** Oldest first. */
  samples: MoodSampleRecord[];
  /** Whether older samples match too (ask again with `beforeId` = the first sample's id). */
  hasMore: boolean;
}

export interface MoodHistory {
  append(sample: MoodSampleInput): Promise<MoodSampleRecord>;
  /**
   * The sample the next `append` of `cause` wrote already, when the store knows that write was done before
   * (a reply redone from a PostgreSQL copy that marked the sample committed: `sqlite/copied-marks.ts`);
   * that `append` then resolves with it and writes nothing. Undefined: it will be written.
   */
  sampleWrittenAlready?(cause: MoodSampleCause): MoodSampleRecord | undefined;
  /** The persona's newest sample, or null when none was recorded. */
  latest(personaId: string): Promise<MoodSampleRecord | null>;
  samples(personaId: string, query: MoodSampleQuery): Promise<MoodSamplePage>;
  /**
   * Deletes samples taken before `olderThan` (0: none by age) and, per persona, all but the newest
   * `keepPerPersona` (0: no cap); the same for the mood-change log (`SocialStore.moodEvents`). Returns
   * how many rows were deleted.
   */
  prune(rule: { olderThan: number; keepPerPersona: number }): Promise<number>;
}
