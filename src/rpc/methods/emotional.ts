/**
 * Emotional-state methods (PROTOCOL.md "Relationship, emotion, state"): a persona's mood, stress,
 * curiosity and social energy, read and changed.
 */
import { z } from 'zod';
import { baselineMood, describeMood, MOOD_NAMES, moodName, type MoodName, type MoodState } from '../../domain/social/mood.js';
import { MOOD_SAMPLE_CAUSES } from '../../domain/social/mood-samples.js';
import type { MoodSampleRecord } from '../../ports/mood-history.js';
import type { PersonaRecord } from '../../ports/store.js';
import type { Services } from '../../services/index.js';
import type { PersonaSnapshot } from '../../services/persona-service.js';
import { defineMethod, type MethodDefinition } from '../registry.js';
import { isoTime, personaIdParam, round, toIso } from './wire.js';

export const emotionalStateWire = z.object({
  mood: z.enum(MOOD_NAMES as [MoodName, ...MoodName[]]).describe('Named mood from valence and arousal.'),
  valence: z.number().describe('Unpleasant −1 … pleasant 1.'),
  arousal: z.number().describe('Calm 0 … excited 1.'),
  energy_level: z.number().describe('Social energy / maximum, 0..1.'),
  stress_level: z.number().describe('0..1'),
  curiosity: z.number().describe('0..1'),
  social_battery: z.number().describe('Current social energy (0..max_social_energy).'),
  interaction_fatigue: z.number().describe('0..1'),
  baseline: z
    .object({ valence: z.number(), arousal: z.number(), stress: z.number(), curiosity: z.number() })
    .describe('Where the mood drifts back to.'),
  description: z.string().describe('The sentence the prompt uses.'),
  last_updated: isoTime,
});

export function emotionalStateToWire(
  persona: PersonaRecord,
  mood: MoodState,
  snapshot: PersonaSnapshot,
): z.infer<typeof emotionalStateWire> {
  const max = persona.socialEnergy.maxEnergy;
  return {
    mood: moodName(mood),
    valence: round(mood.valence, 4),
    arousal: round(mood.arousal, 4),
    energy_level: max > 0 ? round(snapshot.state.energy / max, 4) : 0,
    stress_level: round(mood.stress, 4),
    curiosity: round(mood.curiosity, 4),
    social_battery: round(snapshot.state.energy, 1),
    interaction_fatigue: round(snapshot.state.fatigue, 3),
    baseline: baselineMood(persona),
    description: describeMood(mood),
    last_updated: toIso(Math.max(mood.updatedAt, snapshot.state.updatedAt)),
  };
}

const unit = z.number().min(0).max(1);

/** Samples per `emotional.history` call: a default that fills a chart, a cap that keeps one answer small (~150 B each). */
export const MOOD_HISTORY_DEFAULT_LIMIT = 500;
export const MOOD_HISTORY_MAX_LIMIT = 2_000;

export const moodSampleWire = z.object({
  id: z.number().int().describe('Increasing; pass the last one back as `after_id` to get what came since.'),
  at: isoTime,
  cause: z
    .enum(MOOD_SAMPLE_CAUSES)
    .describe('turn: a reply spent energy; chat/group: a message moved the mood; manual: emotional.update_state; rest: where the persona had rested to just before the next change.'),
  mood: z.enum(MOOD_NAMES as [MoodName, ...MoodName[]]),
  valence: z.number().describe('Unpleasant −1 … pleasant 1.'),
  arousal: z.number().describe('Calm 0 … excited 1.'),
  stress_level: z.number().describe('0..1'),
  curiosity: z.number().describe('0..1'),
  social_battery: z.number().describe('Social energy then (0..max_social_energy).'),
  max_social_energy: z.number().describe("The persona's maximum energy then."),
  energy_level: z.number().describe('social_battery / max_social_energy, 0..1.'),
  interaction_fatigue: z.number().describe('0..1'),
});

export function moodSampleToWire(sample: MoodSampleRecord): z.infer<typeof moodSampleWire> {
  return {
    id: sample.id,
    at: toIso(sample.at),
    cause: sample.cause,
    mood: sample.mood,
    valence: round(sample.valence, 4),
    arousal: round(sample.arousal, 4),
    stress_level: round(sample.stress, 4),
    curiosity: round(sample.curiosity, 4),
    social_battery: round(sample.energy, 1),
    max_social_energy: sample.maxEnergy,
    energy_level: sample.maxEnergy > 0 ? round(sample.energy / sample.maxEnergy, 4) : 0,
    interaction_fatigue: round(sample.fatigue, 3),
  };
}

export function emotionalMethods(services: Services): MethodDefinition[] {
  const { personas } = services;
  const { emotions, moodHistory } = services.social;

  return [
    defineMethod({
      name: 'emotional.get_state',
      requires: 'user',
      summary: "A persona's mood (valence, arousal, named mood), stress, curiosity and social energy.",
      params: z.object({ persona_id: personaIdParam.optional() }),
      result: z.object({ persona_id: z.string(), emotional_state: emotionalStateWire }),
      hints: { readOnly: true, idempotent: true },
      handler: async ({ persona_id }, context) => {
        const persona = await services.target.persona(context.session, persona_id);
        const [mood, snapshot] = await Promise.all([emotions.current(persona), personas.snapshot(persona)]);
        return { persona_id: persona.id, emotional_state: emotionalStateToWire(persona, mood, snapshot) };
      },
    }),

    defineMethod({
      name: 'emotional.update_state',
      requires: { owner: 'persona', param: 'persona_id' },
      summary: "Change a persona's mood, energy or fatigue; mood drifts back to its baseline and fatigue recovers with rest.",
      description: "A named `mood` sets valence and arousal to that mood's typical point; explicit `valence`/`arousal` then override it.",
      params: z.object({
        persona_id: personaIdParam,
        mood: z.enum(MOOD_NAMES as [MoodName, ...MoodName[]]).optional(),
        valence: z.number().min(-1).max(1).optional(),
        arousal: unit.optional(),
        stress_level: unit.optional(),
        curiosity: unit.optional(),
        energy_level: unit
          .optional()
          .describe(
            'Sets social energy to this share of the maximum; 1 means fully rested (fatigue 0 unless interaction_fatigue is given).',
          ),
        social_battery: z.number().min(0).optional().describe('Sets social energy (capped at the maximum).'),
        interaction_fatigue: unit.optional().describe('Sets the tiredness from recent talk (0 fresh … 1 worn out); it recovers with rest.'),
      }),
      result: z.object({ success: z.literal(true), message: z.string(), persona_id: z.string(), updated_state: emotionalStateWire }),
      hints: { idempotent: true },
      handler: async (params) => {
        const persona = personas.resolve(params.persona_id);
        // Energy first: the mood change then records one history sample holding both.
        const max = persona.socialEnergy.maxEnergy;
        const energy = params.social_battery ?? (params.energy_level === undefined ? undefined : params.energy_level * max);
        if (energy !== undefined || params.interaction_fatigue !== undefined) {
          await personas.restore(persona, {
            ...(energy !== undefined ? { energy } : {}),
            ...(params.interaction_fatigue !== undefined ? { fatigue: params.interaction_fatigue } : {}),
          });
        }
        const mood = await emotions.update(persona, {
          ...(params.mood !== undefined ? { mood: params.mood } : {}),
          ...(params.valence !== undefined ? { valence: params.valence } : {}),
          ...(params.arousal !== undefined ? { arousal: params.arousal } : {}),
          ...(params.stress_level !== undefined ? { stress: params.stress_level } : {}),
          ...(params.curiosity !== undefined ? { curiosity: params.curiosity } : {}),
        });
        const snapshot = await personas.snapshot(persona);
        return {
          success: true as const,
          message: `${persona.name}: ${describeMood(mood)}`,
          persona_id: persona.id,
          updated_state: emotionalStateToWire(persona, mood, snapshot),
        };
      },
    }),

    defineMethod({
      name: 'emotional.history',
      requires: 'user',
      summary: "A persona's mood and social energy over time: a sample whenever either changed, oldest first.",
      description:
        'Samples are recorded by the server as changes happen (a reply spends energy, a message moves the mood, emotional.update_state), ' +
        'with a `rest` sample before a change that followed a quiet spell, so that a line through them shows the recovery. ' +
        'Kept for `retention.moodHistoryDays` (90) and at most `retention.maxMoodSamplesPerPersona` (5,000) per persona. ' +
        'Page back with `before_id` (next_before_id); follow live with `after_id` (last_id of the previous answer). ' +
        'Samples name no user or conversation: they are as public as emotional.get_state.',
      params: z.object({
        persona_id: personaIdParam.optional().describe("Persona id or name; the session's active persona when left out."),
        since: z
          .union([z.iso.datetime({ offset: true }), z.iso.date()], { error: 'expected an ISO 8601 time such as "2026-11-27T09:00:00Z" (or a date, "2026-11-27", meaning its start in UTC)' })
          .optional()
          .describe('Only samples taken at or after this ISO 8601 time ("2026-11-27T09:00:00Z"), or since the start of a date ("2026-11-27", UTC).'),
        after_id: z.number().int().min(0).optional().describe('Only samples newer than this id (the last_id of a previous answer).'),
        before_id: z.number().int().positive().optional().describe('Only samples older than this id (next_before_id of the previous page).'),
        limit: z.number().int().min(1).max(MOOD_HISTORY_MAX_LIMIT).default(MOOD_HISTORY_DEFAULT_LIMIT).describe('At most this many: the newest of those that match.'),
      }),
      result: z.object({
        persona_id: z.string(),
        samples: z.array(moodSampleWire).describe('Oldest first.'),
        has_more: z.boolean().describe('Older samples match too.'),
        next_before_id: z.number().int().nullable().describe('Pass as before_id for the older page; null when there is none.'),
        last_id: z.number().int().nullable().describe('The newest sample id returned (pass as after_id to follow); null when none.'),
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async (params, context) => {
        const persona = await services.target.persona(context.session, params.persona_id);
        const page = await moodHistory.series(persona, {
          limit: params.limit,
          ...(params.after_id !== undefined ? { afterId: params.after_id } : {}),
          ...(params.before_id !== undefined ? { beforeId: params.before_id } : {}),
          ...(params.since !== undefined ? { since: Date.parse(params.since) } : {}),
        });
        return {
          persona_id: persona.id,
          samples: page.samples.map(moodSampleToWire),
          has_more: page.hasMore,
          next_before_id: page.hasMore ? (page.samples[0]?.id ?? null) : null,
          last_id: page.samples.at(-1)?.id ?? null,
        };
      },
    }),
  ];
}
