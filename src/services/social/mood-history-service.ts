/**
 * Mood and energy over time: records a sample of a persona's mood and social energy whenever either
 * changes — a reply spent energy (`messageStored`), an interaction or `emotional.update_state` moved the
 * mood (`EmotionService.onChanged`) — and serves the series to `emotional.history`. Bounded by the
 * retention clean-up (`prune`, limits in `MoodHistoryPolicy`).
 */
import type { Logger } from 'pino';
import { driftedSampleMood, restSample, sameFigures, type MoodEnergyFigures, type MoodSampleCause } from '../../domain/social/mood-samples.js';
import { baselineMood, moodName, type MoodState } from '../../domain/social/mood.js';
import { restEnergy, type SocialEnergyState } from '../../domain/social-energy.js';
import type { Clock } from '../../ports/clock.js';
import type { EventBus } from '../../ports/events.js';
import type { MoodHistory, MoodSampleInput, MoodSamplePage, MoodSampleQuery } from '../../ports/mood-history.js';
import type { PersonaRecord } from '../../ports/store.js';
import { afterIo } from '../after-io.js';
import type { PersonaService } from '../persona-service.js';
import type { EmotionService } from './emotion-service.js';

/** How much history is kept (the retention policy's part; read on every clean-up, so `config.set` changes it live). */
export interface MoodHistoryPolicy {
  /** Samples older than this are deleted; 0 keeps them by age. */
  moodHistoryMaxAgeMs: number;
  /** At most this many samples per persona (the newest); 0 = no cap. */
  maxMoodSamplesPerPersona: number;
}

export class MoodHistoryService {
  /**
   * Per persona, the last sample asked for, until its write has been asked for (one writer) or committed
   * (shared store): samples of one persona are taken one after another, in the order they were asked for.
   */
  private readonly asking = new Map<string, Promise<void>>();
  /** Per persona, the last sample asked for, until its write has committed (or failed). */
  private readonly writing = new Map<string, Promise<void>>();
  /**
   * Each persona's newest sample as this service last asked to write or read it: every chat turn records
   * two samples, each compared with the newest, and this service is their only writer (an import, pruning,
   * a persona's deletion and a failed write make it read the store again). Not kept when other nodes share
   * the store: there a sample is taken once the one before it has committed, and the newest read then.
   */
  private readonly newest = new Map<string, MoodSampleInput | null>();

  constructor(
    private readonly deps: {
      history: MoodHistory;
      personas: PersonaService;
      emotions: EmotionService;
      clock: Clock;
      logger: Logger;
      /** Other nodes write samples to the same store (PostgreSQL): the newest is read from it each time. */
      sharedStore?: boolean;
    },
  ) {}

  /**
   * Records from now on: after each mood change (awaited by the one who changed it, so a client that
   * set a mood reads it back at once; with one writer asked for as the change is, so both commit
   * together) and after each reply a persona gave (its energy was spent). Events of other nodes are
   * theirs to record.
   */
  listen(events: EventBus): void {
    this.deps.emotions.onChanged((persona, cause, savedBefore) =>
      this.record(persona, cause === 'chat' || cause === 'group' ? cause : 'manual', savedBefore === undefined ? {} : { savedBefore }),
    );
    events.subscribe((event) => {
      if (event.type === 'stateImported') this.newest.clear();
      if (event.type === 'personaChanged' && event.change === 'deleted') this.newest.delete(event.personaId);
      if (event.type !== 'messageStored' || event.message.role !== 'assistant' || event.message.personaId === null) return;
      const persona = this.deps.personas.find(event.message.personaId);
      // Written once the reply has gone out; it still comes before the mood's reaction to the exchange,
      // which is saved after it (EmotionService.react also waits for pending I/O, and was asked later).
      if (persona !== null) void this.record(persona, 'turn', { afterIo: true, isRedone: event.isRecovered === true });
    });
  }

  /** Settles once every sample of the persona asked for so far is written (or given up). */
  async written(personaId: string): Promise<void> {
    await this.writing.get(personaId);
  }

  /**
   * Records the persona's mood and energy as they are now — preceded, after a quiet spell, by the
   * state it had rested to (`restSample`) — unless nothing changed since the last sample (`isRedone`: the
   * sample of a reply redone after a crash, written all the same: see `ask`). Never throws:
   * a lost sample must not fail the change it describes (the failure is logged).
   */
  record(persona: PersonaRecord, cause: MoodSampleCause, options: { afterIo?: boolean; savedBefore?: MoodState; isRedone?: boolean } = {}): Promise<void> {
    const previous = this.asking.get(persona.id) ?? Promise.resolve();
    // The state is read now (a reply's sample shows the mood the persona answered in, not the reaction
    // saved after it); with `afterIo` it is written once the reply has gone out. A change a redo found
    // saved before is sampled as of its moment, with the mood it saved (as the node that made it would have).
    const { savedBefore } = options;
    const state = this.stateOf(persona, cause, savedBefore);
    state.catch(() => undefined);
    const asked = (options.afterIo === true ? Promise.all([previous, afterIo()]) : previous).then(() =>
      this.ask(persona, cause, state, { at: savedBefore?.updatedAt, isRedone: options.isRedone === true }),
    );
    const next = asked
      .then(({ written }) => written)
      .catch((error: unknown) => this.deps.logger.warn({ err: error, personaId: persona.id }, 'could not record a mood and energy sample'));
    // With one writer the next sample is taken once this one's write is asked for: it compares with this
    // one (`newest`), and its write joins the same batch when asked for at the same moment (a reply's
    // reaction and its sample: EmotionService.onChanged), not the batch after this one's commit.
    const taken = this.deps.sharedStore === true ? next : asked.then(() => undefined, () => undefined);
    track(this.asking, persona.id, taken);
    track(this.writing, persona.id, next);
    return next;
  }

  /**
   * The persona's mood and energy: for a reply's sample as saved now, else once changes being saved are.
   * The mood is null for a reply's sample when the reply's reaction is saved already (a redo of a copy that
   * committed it and not this sample): the mood it answered in is then no longer stored (see `ask`).
   */
  private stateOf(persona: PersonaRecord, cause: MoodSampleCause, savedBefore: MoodState | undefined): Promise<[MoodState | null, { state: SocialEnergyState }]> {
    const { personas, emotions } = this.deps;
    const mood =
      savedBefore !== undefined
        ? savedBefore
        : cause !== 'turn'
          ? emotions.current(persona)
          : emotions.nextChangeSavedAlready(persona)
            ? null
            : emotions.currentSaved(persona);
    return Promise.all([mood, personas.snapshot(persona)]);
  }

  /** Decides the persona's sample(s) and asks for their writes; `written` settles once those have committed. */
  private async ask(
    persona: PersonaRecord,
    cause: MoodSampleCause,
    state: Promise<[MoodState | null, { state: SocialEnergyState }]>,
    { at, isRedone }: { at: number | undefined; isRedone: boolean },
  ): Promise<{ written: Promise<void> }> {
    const { history, clock } = this.deps;
    const kept = this.newest.get(persona.id);
    const [[saved, snapshot], last] = await Promise.all([state, kept !== undefined ? kept : history.latest(persona.id)]);
    const copied = history.sampleWrittenAlready?.(cause);
    if (copied !== undefined) {
      // A reply redone from a copy that wrote this sample: the copy holds it (asked for, it writes nothing),
      // and later samples compare with it, not with figures read now (the copy's mood may be past it).
      this.keep(persona.id, copied);
      return { written: history.append(copied).then(() => undefined) };
    }
    const now = at ?? clock.now();
    // A reply's sample whose reaction the copy saved already: the mood before that reaction is the newest
    // sample's (each change is sampled after it), drifted until now as the stored mood would have been. Taken
    // from the stored mood, it showed the reaction's, and the reaction's own sample was then dropped as the same.
    const moodNow = saved ?? (last === null ? await this.deps.emotions.currentSaved(persona) : driftedSampleMood(last, last.at, baselineMood(persona), now));
    // A change sampled as of its moment (a redo's): the energy of that moment, the newest sample's (taken
    // before it: the reply's `turn` sample) rested until then, not the persona's at the redo.
    const energy =
      at !== undefined && last !== null && last.at <= at
        ? restEnergy({ energy: last.energy, fatigue: last.fatigue, updatedAt: last.at, cooldownUntil: null }, persona.socialEnergy, at)
        : snapshot.state;
    const figures: MoodEnergyFigures = {
      mood: moodName(moodNow),
      valence: moodNow.valence,
      arousal: moodNow.arousal,
      stress: moodNow.stress,
      curiosity: moodNow.curiosity,
      energy: energy.energy,
      maxEnergy: persona.socialEnergy.maxEnergy,
      fatigue: energy.fatigue,
    };
    // A reply redone after a crash is sampled even with the newest's figures: its energy is the persona's at
    // the redo, not the reply's, so of replies redone one after another each `turn` sample read the same
    // energy as the `chat` sample before it, and all but the first were dropped as the same.
    if (last !== null && !isRedone && sameFigures(figures, last)) {
      this.keep(persona.id, last);
      return { written: Promise.resolve() };
    }
    const appends: Promise<unknown>[] = [];
    const rested = last === null ? null : restSample(last, last.at, persona.socialEnergy, baselineMood(persona), now);
    if (rested !== null && !sameFigures(rested, figures)) appends.push(history.append({ ...rested, personaId: persona.id, at: now, cause: 'rest' }));
    const sample: MoodSampleInput = { ...figures, personaId: persona.id, at: now, cause };
    appends.push(history.append(sample));
    this.keep(persona.id, sample);
    const written = Promise.all(appends).then(
      () => undefined,
      (error: unknown) => {
        this.newest.delete(persona.id); // not written: the next sample compares with what the store holds
        throw error;
      },
    );
    return { written };
  }

  private keep(personaId: string, sample: MoodSampleInput | null): void {
    if (this.deps.sharedStore !== true) this.newest.set(personaId, sample);
  }

  /** Samples of the persona, oldest first (the newest `limit` of those that match). */
  series(persona: PersonaRecord, query: MoodSampleQuery): Promise<MoodSamplePage> {
    return this.deps.history.samples(persona.id, query);
  }

  /** Applies the retention limits (a limit left out or 0 is off); returns how many samples were deleted. */
  async prune(now: number, policy: Partial<MoodHistoryPolicy>): Promise<number> {
    const maxAge = policy.moodHistoryMaxAgeMs ?? 0;
    // the newest sample may be among those deleted
    this.newest.clear();
    try {
      return await this.deps.history.prune({ olderThan: maxAge > 0 ? now - maxAge : 0, keepPerPersona: policy.maxMoodSamplesPerPersona ?? 0 });
    } finally {
      this.newest.clear();
    }
  }
}

/** Keeps `step` as the persona's entry in `steps` until it settles (unless a later one replaced it). */
function track(steps: Map<string, Promise<void>>, personaId: string, step: Promise<void>): void {
  steps.set(personaId, step);
  void step.then(() => {
    if (steps.get(personaId) === step) steps.delete(personaId);
  });
}
