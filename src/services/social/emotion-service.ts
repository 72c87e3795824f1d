/**
 * Emotional state as use cases: a persona's mood brought up to now (drifted towards its baseline),
 * changed by interactions or set directly, persisted with a history for analytics.
 */
import {
  applyMoodEvent,
  baselineMood,
  driftMood,
  moodName,
  MOOD_PROTOTYPES,
  type MoodFigures,
  type MoodName,
  type MoodState,
} from '../../domain/social/mood.js';
import type { Clock } from '../../ports/clock.js';
import type { SocialStore } from '../../ports/social-store.js';
import type { PersonaRecord } from '../../ports/store.js';

export interface MoodPatch {
  mood?: MoodName;
  valence?: number;
  arousal?: number;
  stress?: number;
  curiosity?: number;
}

export class EmotionService {
  /**
   * Stored moods, read through: every write goes through this service, and `persona.status` and each
   * chat turn read the mood (bench/README.md, finding 2). `forget` drops entries another path replaced.
   */
  private readonly stored = new Map<string, MoodState | null>();
  /** Each persona record's baseline: a record is replaced, never changed, when the persona is edited. */
  private readonly baselines = new WeakMap<PersonaRecord, MoodFigures>();

  constructor(
    private readonly store: SocialStore,
    private readonly clock: Clock,
  ) {}

  /** Drops cached moods (all, or one persona's) after something else wrote them (an import). */
  forget(personaId?: string): void {
    if (personaId === undefined) this.stored.clear();
    else this.stored.delete(personaId);
  }

  /** The persona's baseline mood (`baselineMood`), worked out once per persona record. */
  private baseline(persona: PersonaRecord): MoodFigures {
    let baseline = this.baselines.get(persona);
    if (baseline === undefined) {
      baseline = baselineMood(persona);
      this.baselines.set(persona, baseline);
    }
    return baseline;
  }

  private async storedMood(personaId: string): Promise<MoodState | null> {
    if (this.stored.has(personaId)) return this.stored.get(personaId) ?? null;
    const mood = await this.store.getMood(personaId);
    this.stored.set(personaId, mood);
    return mood;
  }

  private async save(personaId: string, next: MoodState, entry: Parameters<SocialStore['saveMood']>[2]): Promise<void> {
    this.stored.delete(personaId); // a failed write must not leave the unsaved mood cached
    await this.store.saveMood(personaId, next, entry);
    this.stored.set(personaId, next);
  }

  /** The mood now: the stored one drifted towards the baseline, or the baseline for a persona never moved. */
  async current(persona: PersonaRecord): Promise<MoodState> {
    const now = this.clock.now();
    const stored = await this.storedMood(persona.id);
    const baseline = this.baseline(persona);
    return stored === null ? { ...baseline, updatedAt: now } : driftMood(stored, baseline, now);
  }

  /** Applies an interaction's sentiment; saved with a history entry. */
  async react(
    persona: PersonaRecord,
    event: { sentiment: number; askedQuestion: boolean; cause: string; conversationId: string | null },
  ): Promise<MoodState> {
    const now = this.clock.now();
    const baseline = this.baseline(persona);
    const stored = (await this.storedMood(persona.id)) ?? { ...baseline, updatedAt: now };
    const next = applyMoodEvent(stored, baseline, { sentiment: event.sentiment, askedQuestion: event.askedQuestion, now });
    await this.save(persona.id, next, { mood: moodName(next), cause: event.cause, conversationId: event.conversationId });
    return next;
  }

  /** Sets figures directly (`emotional.update_state`); a named mood sets valence and arousal to its prototype first. */
  async update(persona: PersonaRecord, patch: MoodPatch): Promise<MoodState> {
    const current = await this.current(persona);
    const prototype = patch.mood === undefined ? {} : MOOD_PROTOTYPES[patch.mood];
    const next: MoodState = { ...current, ...prototype, ...definedOnly(patch), updatedAt: this.clock.now() };
    await this.save(persona.id, next, { mood: moodName(next), cause: 'manual', conversationId: null });
    return next;
  }
}

function definedOnly(patch: MoodPatch): Partial<MoodState> {
  const out: Partial<MoodState> = {};
  if (patch.valence !== undefined) out.valence = patch.valence;
  if (patch.arousal !== undefined) out.arousal = patch.arousal;
  if (patch.stress !== undefined) out.stress = patch.stress;
  if (patch.curiosity !== undefined) out.curiosity = patch.curiosity;
  return out;
}
