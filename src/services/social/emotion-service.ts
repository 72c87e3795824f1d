/**
 * Emotional state as use cases: a persona's mood brought up to now (drifted towards its baseline),
 * changed by interactions or set directly, persisted with a history for analytics.
 */
import {
  applyMoodEvent,
  baselineMood,
  driftMood,
  moodAt,
  moodName,
  MOOD_PROTOTYPES,
  type MoodFigures,
  type MoodName,
  type MoodState,
} from '../../domain/social/mood.js';
import { sentiment } from '../../domain/social/sentiment.js';
import type { Clock } from '../../ports/clock.js';
import type { SocialStore } from '../../ports/social-store.js';
import type { PersonaRecord } from '../../ports/store.js';
import { afterIo } from '../after-io.js';

export interface MoodPatch {
  mood?: MoodName;
  valence?: number;
  arousal?: number;
  stress?: number;
  curiosity?: number;
}

/**
 * Told of each mood change: the persona, the change's cause, and `savedBefore` when the change was found
 * saved already (the redo of a reply whose reaction was committed and marked before: a PostgreSQL node
 * that died, or the PostgreSQL copy a SQLite server took over): the mood it saved then (its `updatedAt`
 * the change's moment), not the mood now.
 */
export type ChangeListener = (persona: PersonaRecord, cause: string, savedBefore?: MoodState) => Promise<void>;

export class EmotionService {
  /**
   * Stored moods, read through: every write goes through this service, and `persona.status` and each
   * chat turn read the mood (bench/README.md, finding 2). `forget` drops entries another path replaced.
   * Not kept when other nodes share the store (`sharedStore`): they change moods too.
   */
  private readonly stored = new Map<string, MoodState | null>();
  /** Each persona record's baseline: a record is replaced, never changed, when the persona is edited. */
  private readonly baselines = new WeakMap<PersonaRecord, MoodFigures>();
  private readonly changeListeners: ChangeListener[] = [];
  /**
   * Per persona, the mood change being saved: readers of stored mood events wait for it (`settled`), and
   * with a shared store so do reads of the mood itself (another node may have changed it meanwhile).
   */
  private readonly saving = new Map<string, Promise<unknown>>();
  /**
   * Per persona, the mood change not yet decided (it waits for pending I/O, or for the change before it):
   * reads of that persona's mood wait for it, so a change made after a reply went out (`react`) is what the
   * next read sees, however soon it comes. With one writer (no shared store) a decided change is the
   * mood at once, before its write is committed: the next turn does not wait for the commit.
   */
  private readonly deciding = new Map<string, Promise<unknown>>();
  /** `currentNow`'s last answer per persona, with the instant, stored mood and baseline it was made from. */
  private readonly recentMoods = new Map<string, { at: number; from: MoodState | null; baseline: MoodFigures; mood: MoodState }>();

  constructor(
    private readonly store: SocialStore,
    private readonly clock: Clock,
    private readonly options: { sharedStore?: boolean } = {},
  ) {}

  /** Drops cached moods (all, or one persona's) after something else wrote them (an import). */
  forget(personaId?: string): void {
    if (personaId === undefined) {
      this.stored.clear();
      this.recentMoods.clear();
    } else {
      this.stored.delete(personaId);
      this.recentMoods.delete(personaId);
    }
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
    if (this.options.sharedStore !== true) this.stored.set(personaId, mood);
    return mood;
  }

  /**
   * Calls `listener` after each change, awaited by the change (the mood history records it): with one
   * writer as soon as the change is decided and its write asked for, so that the writes the listener asks
   * for then commit in the same transaction (a kill -9 cannot keep the one without the other: a reply's
   * reaction and its mood sample commit with the clearing of the reply's pending record); with a shared
   * store once the change is saved (the store decides it).
   */
  onChanged(listener: ChangeListener): void {
    this.changeListeners.push(listener);
  }

  /**
   * Saves what `change` makes of the mood (with its history entry) and tells the `onChanged` listeners.
   * With one writer the change applies to the mood this service keeps, which is the mood from the moment
   * the change is decided; with a shared store it applies to the mood the store holds when the write
   * runs (moods changed by several nodes at once all count).
   */
  private async change(
    persona: PersonaRecord,
    cause: string,
    conversationId: string | null,
    change: (current: MoodState, now: number) => MoodState,
    options: { afterIo?: boolean } = {},
  ): Promise<MoodState> {
    /** The listeners told of the change: with one writer when it is decided, in `save`; else once it is saved. */
    let told: Promise<void> | undefined;
    /** With a shared store, the mood the change saved before (a redo that found its write done: its mark). */
    let savedBefore: MoodState | undefined;
    const previous = this.saving.get(persona.id);
    const previousDecision = this.deciding.get(persona.id);
    let decide = (): void => undefined;
    const decision = new Promise<void>((resolve) => (decide = resolve));
    const isShared = this.options.sharedStore === true;
    const save = async (): Promise<MoodState> => {
      try {
        // one writer: the change before this one has been decided (its write is in the same ordered batch)
        if (isShared) await previous?.catch(() => undefined);
        else await previousDecision;
        if (options.afterIo === true) await afterIo();
        const now = this.clock.now();
        if (!isShared) {
          const stored = await this.storedMood(persona.id);
          // A write the store did already (a reply redone from a copy that committed its reaction): its
          // mood is the change's result, not the change applied to it once more.
          const writtenAlready = this.store.moodWrittenAlready?.(persona.id);
          const state = writtenAlready ?? change(this.driftBase(persona, stored, now), now);
          this.stored.set(persona.id, state);
          decide();
          const written = this.store.updateMood(persona.id, () => ({ state, event: { mood: moodName(state), cause, conversationId } }));
          told = this.tell(persona, cause, writtenAlready);
          try {
            return await written;
          } catch (error) {
            // not saved: the next read takes the mood from the store again
            this.stored.delete(persona.id);
            throw error;
          }
        }
        this.stored.delete(persona.id); // a failed write must not leave the unsaved mood cached
        // The cause is the caller's, not the write's: a redo that finds this write done (its mark, after a
        // crash) skips `change` but must still tell the listeners what changed the mood (its sample's cause).
        let isApplied = false;
        const saved = await this.store.updateMood(persona.id, (stored) => {
          isApplied = true;
          const state = change(this.driftBase(persona, stored, now), now);
          return { state, event: { mood: moodName(state), cause, conversationId } };
        });
        if (!isApplied) savedBefore = saved;
        return saved;
      } finally {
        decide();
      }
    };
    const saved = save();
    this.saving.set(persona.id, saved);
    this.deciding.set(persona.id, decision);
    void decision.then(() => {
      if (this.deciding.get(persona.id) === decision) this.deciding.delete(persona.id);
    });
    let next: MoodState;
    try {
      next = await saved;
    } finally {
      if (this.saving.get(persona.id) === saved) this.saving.delete(persona.id);
      await told;
    }
    if (told === undefined) await this.tell(persona, cause, savedBefore);
    return next;
  }

  /** Calls every `onChanged` listener at once (what each asks for to write joins the moment's batch). */
  private async tell(persona: PersonaRecord, cause: string, savedBefore?: MoodState): Promise<void> {
    await Promise.all(this.changeListeners.map((listener) => listener(persona, cause, savedBefore)));
  }

  /** What a change applies to: the stored mood, or the baseline's mood at `now` for a persona never moved. */
  private driftBase(persona: PersonaRecord, stored: MoodState | null, now: number): MoodState {
    return stored === null ? moodAt(this.baseline(persona), now) : stored;
  }

  /** Settles when every mood change begun so far is saved (readers of stored mood events wait for it). */
  async settled(): Promise<void> {
    await Promise.all([...this.saving.values()].map((saving) => saving.catch(() => undefined)));
  }

  /** `current` without a promise when the stored mood is cached; undefined when it must be read. */
  currentNow(persona: PersonaRecord): MoodState | undefined {
    if (!this.stored.has(persona.id)) return undefined;
    const stored = this.stored.get(persona.id) ?? null;
    const now = this.clock.now();
    const baseline = this.baseline(persona);
    // Asked again in the same millisecond from the same stored mood (persona.status polled ~10 times a ms
    // under load): the same mood, not two to four new objects each time. Read-only for its callers.
    const recent = this.recentMoods.get(persona.id);
    if (recent !== undefined && recent.at === now && recent.from === stored && recent.baseline === baseline) return recent.mood;
    const mood = this.driftedMood(persona, stored, now);
    if (recent === undefined) this.recentMoods.set(persona.id, { at: now, from: stored, baseline, mood });
    else {
      recent.at = now;
      recent.from = stored;
      recent.baseline = baseline;
      recent.mood = mood;
    }
    return mood;
  }

  /** The mood now: the stored one drifted towards the baseline, or the baseline for a persona never moved. */
  async current(persona: PersonaRecord): Promise<MoodState> {
    const pending = this.options.sharedStore === true ? this.saving.get(persona.id) : this.deciding.get(persona.id);
    if (pending !== undefined) await pending.catch(() => undefined);
    return this.currentSaved(persona);
  }

  /**
   * The mood now as saved so far, without waiting for a change being saved (the mood history's sample
   * of a reply's moment, taken before the reaction to it lands).
   */
  async currentSaved(persona: PersonaRecord): Promise<MoodState> {
    const now = this.clock.now();
    return this.driftedMood(persona, await this.storedMood(persona.id), now);
  }

  /**
   * Whether the persona's next mood change is saved already: a reply redone from a PostgreSQL copy that
   * committed its reaction before the copy was taken (`SocialStore.moodWrittenAlready`). The mood stored
   * is then the reaction's, past the moment the persona answered in.
   */
  nextChangeSavedAlready(persona: PersonaRecord): boolean {
    return this.store.moodWrittenAlready?.(persona.id) !== undefined;
  }

  /** The stored mood drifted towards the baseline until `now`, or the baseline for a persona never moved. */
  private driftedMood(persona: PersonaRecord, stored: MoodState | null, now: number): MoodState {
    return stored === null ? moodAt(this.baseline(persona), now) : driftMood(stored, this.baseline(persona), now);
  }

  /**
   * Applies the tone of what the persona heard (`heard`: its sentiment, and whether it asked a question);
   * saved with a history entry. Called as a reply is stored, it works out the tone and saves once pending
   * I/O has had its turn (the reply goes out first); reads of the persona's mood made meanwhile wait for it.
   */
  react(persona: PersonaRecord, event: { heard: string; cause: string; conversationId: string | null }): Promise<MoodState> {
    return this.change(
      persona,
      event.cause,
      event.conversationId,
      (stored, now) => applyMoodEvent(stored, this.baseline(persona), { sentiment: sentiment(event.heard).score, askedQuestion: event.heard.includes('?'), now }),
      { afterIo: true },
    );
  }

  /** Sets figures directly (`emotional.update_state`); a named mood sets valence and arousal to its prototype first. */
  update(persona: PersonaRecord, patch: MoodPatch): Promise<MoodState> {
    const prototype = patch.mood === undefined ? {} : MOOD_PROTOTYPES[patch.mood];
    return this.change(persona, 'manual', null, (stored, now) => {
      const current = driftMood(stored, this.baseline(persona), now);
      return { ...current, ...prototype, ...definedOnly(patch), updatedAt: now };
    });
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
