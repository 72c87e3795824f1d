/**
 * Mood and energy over time: records a sample of a persona's mood and social energy whenever either
 * changes — a reply spent energy (`messageStored`), an interaction or `emotional.update_state` moved the
 * mood (`EmotionService.onSaved`) — and serves the series to `emotional.history`. Bounded by the
 * retention clean-up (`prune`, limits in `MoodHistoryPolicy`).
 */
import type { Logger } from 'pino';
import { restSample, sameFigures, type MoodEnergyFigures, type MoodSampleCause } from '../../domain/social/mood-samples.js';
import { baselineMood, moodName, type MoodState } from '../../domain/social/mood.js';
import type { SocialEnergyState } from '../../domain/social-energy.js';
import type { Clock } from '../../ports/clock.js';
import type { EventBus } from '../../ports/events.js';
import type { MoodHistory, MoodSamplePage, MoodSampleQuery, MoodSampleRecord } from '../../ports/mood-history.js';
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
  /** Per persona, the recording in progress: samples of one persona are written one after another. */
  private readonly writing = new Map<string, Promise<void>>();
  /**
   * Each persona's newest sample as this service last wrote or read it: every chat turn records two
   * samples, each compared with the newest, and this service is their only writer (an import, pruning
   * and a persona's deletion make it read the store again). Not kept when other nodes share the store.
   */
  private readonly newest = new Map<string, MoodSampleRecord | null>();

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
   * set a mood reads it back at once) and after each reply a persona gave (its energy was spent).
   * Events of other nodes are theirs to record.
   */
  listen(events: EventBus): void {
    this.deps.emotions.onSaved((persona, cause) => this.record(persona, cause === 'chat' || cause === 'group' ? cause : 'manual'));
    events.subscribe((event) => {
      if (event.type === 'stateImported') this.newest.clear();
      if (event.type === 'personaChanged' && event.change === 'deleted') this.newest.delete(event.personaId);
      if (event.type !== 'messageStored' || event.message.role !== 'assistant' || event.message.personaId === null) return;
      const persona = this.deps.personas.find(event.message.personaId);
      // Written once the reply has gone out; it still comes before the mood's reaction to the exchange,
      // which is saved after it (EmotionService.react also waits for pending I/O, and was asked later).
      if (persona !== null) void this.record(persona, 'turn', { afterIo: true });
    });
  }

  /** Settles once every sample of the persona asked for so far is written (or given up). */
  async written(personaId: string): Promise<void> {
    await this.writing.get(personaId);
  }

  /**
   * Records the persona's mood and energy as they are now — preceded, after a quiet spell, by the
   * state it had rested to (`restSample`) — unless nothing changed since the last sample. Never throws:
   * a lost sample must not fail the change it describes (the failure is logged).
   */
  record(persona: PersonaRecord, cause: MoodSampleCause, options: { afterIo?: boolean } = {}): Promise<void> {
    const previous = this.writing.get(persona.id) ?? Promise.resolve();
    // The state is read now (a reply's sample shows the mood the persona answered in, not the reaction
    // saved after it); with `afterIo` it is written once the reply has gone out.
    const state = this.stateOf(persona, cause);
    state.catch(() => undefined);
    const next = (options.afterIo === true ? Promise.all([previous, afterIo()]) : previous)
      .then(() => this.write(persona, cause, state))
      .catch((error: unknown) => this.deps.logger.warn({ err: error, personaId: persona.id }, 'could not record a mood and energy sample'));
    this.writing.set(persona.id, next);
    void next.then(() => {
      if (this.writing.get(persona.id) === next) this.writing.delete(persona.id);
    });
    return next;
  }

  /** The persona's mood and energy: for a reply's sample as saved now, else once changes being saved are. */
  private stateOf(persona: PersonaRecord, cause: MoodSampleCause): Promise<[MoodState, { state: SocialEnergyState }]> {
    const { personas, emotions } = this.deps;
    return Promise.all([cause === 'turn' ? emotions.currentSaved(persona) : emotions.current(persona), personas.snapshot(persona)]);
  }

  private async write(persona: PersonaRecord, cause: MoodSampleCause, state: Promise<[MoodState, { state: SocialEnergyState }]>): Promise<void> {
    const { history, clock } = this.deps;
    const kept = this.newest.get(persona.id);
    const [[moodNow, snapshot], last] = await Promise.all([state, kept !== undefined ? kept : history.latest(persona.id)]);
    const now = clock.now();
    const figures: MoodEnergyFigures = {
      mood: moodName(moodNow),
      valence: moodNow.valence,
      arousal: moodNow.arousal,
      stress: moodNow.stress,
      curiosity: moodNow.curiosity,
      energy: snapshot.state.energy,
      maxEnergy: persona.socialEnergy.maxEnergy,
      fatigue: snapshot.state.fatigue,
    };
    this.newest.delete(persona.id); // until the appends below are known to have been written
    if (last !== null) {
      if (sameFigures(figures, last)) return this.keep(persona.id, last);
      const rested = restSample(last, last.at, persona.socialEnergy, baselineMood(persona), now);
      if (rested !== null && !sameFigures(rested, figures)) await history.append({ ...rested, personaId: persona.id, at: now, cause: 'rest' });
    }
    this.keep(persona.id, await history.append({ ...figures, personaId: persona.id, at: now, cause }));
  }

  private keep(personaId: string, sample: MoodSampleRecord): void {
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

