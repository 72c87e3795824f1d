/** Persona methods: the catalogue, switching, status and runtime create/update/delete. */
import { z } from 'zod';
import type { PersonaDefinition } from '../../domain/persona.js';
import { buildPersonaDefinition, personaCreateInputSchema, type PersonaCreateInput } from '../../domain/persona-schema.js';
import { describeMood, moodName, type MoodState } from '../../domain/social/mood.js';
import type { PersonaRecord } from '../../ports/store.js';
import type { Services } from '../../services/index.js';
import type { PersonaSnapshot } from '../../services/persona-service.js';
import { defineMethod, type MethodContext, type MethodDefinition } from '../registry.js';
import { personaIdParam, personaStateToWire, personaStateWire, round, toIso } from './wire.js';
import { isAdmin } from '../access.js';
import { SharedResults } from '../shared-results.js';

const personaSummaryWire = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  available: z.boolean(),
  social_energy: z.number(),
  current_priority: z.string(),
  cooldown_remaining: z.number().describe('Seconds until the persona has rested; 0 when available.'),
  model: z.string().describe('The model this persona uses.'),
  avatar_url: z.string().describe('Its picture, relative to the server: the uploaded avatar (`/media/ID`) or a generated one (`/avatars/ID.svg`).'),
});

const personaListResultWire = z.object({ personas: z.array(personaSummaryWire), total_count: z.number().int(), available_count: z.number().int() });
type PersonaListResult = z.infer<typeof personaListResultWire>;

const personaStatusResultWire = z.object({
  persona_id: z.string(),
  name: z.string(),
  ...personaStateWire.shape,
  current_priority: z.string(),
  is_available: z.boolean(),
  cooldown_remaining: z.number(),
  max_social_energy: z.number(),
  is_active: z.boolean().describe("Whether it is this session's active persona."),
  mood: z.string().describe('Named mood (emotional.get_state has the figures).'),
  mood_description: z.string().describe('How the prompt tells the persona it feels.'),
});
type PersonaStatusResult = z.infer<typeof personaStatusResultWire>;

const personaDetailWire = z.object({
  persona_id: z.string(),
  id: z.string(),
  name: z.string(),
  description: z.string(),
  backstory: z.string(),
  personality_traits: z.record(z.string(), z.number()),
  speaking_style: z.string(),
  topic_preferences: z.record(z.string(), z.number()),
  example_lines: z.array(z.string()),
  attributes: z.record(z.string(), z.number()),
  social_rank: z.string(),
  default_priority: z.string(),
  social_energy_profile: z.object({
    max_energy: z.number(),
    available_time: z.number(),
    cost_per_turn: z.number(),
    recovery_per_minute: z.number(),
  }),
  model: z.string().nullable().describe("The persona's own model; null means the server default."),
  model_options: z.record(z.string(), z.number()),
  system_prompt_template: z.string(),
  avatar: z.string().nullable(),
  avatar_url: z.string().describe('The uploaded avatar (`/media/ID`), else the generated one (`/avatars/ID.svg`).'),
  is_builtin: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
});

/** A persona's definition under its wire names: the `persona.create` input, and the core of `persona.get`. */
function definitionToInput(persona: PersonaDefinition) {
  return {
    id: persona.id,
    name: persona.name,
    description: persona.description,
    personality_traits: persona.personalityTraits,
    topic_preferences: persona.topicPreferences,
    speaking_style: persona.speakingStyle,
    backstory: persona.backstory,
    example_lines: persona.exampleLines,
    attributes: persona.attributes,
    social_rank: persona.socialRank,
    default_priority: persona.defaultPriority,
    social_energy: {
      max_energy: persona.socialEnergy.maxEnergy,
      available_time: persona.socialEnergy.availableTime,
      cost_per_turn: persona.socialEnergy.costPerTurn,
      recovery_per_minute: persona.socialEnergy.recoveryPerMinute,
    },
    model: persona.model,
    model_options: persona.modelOptions,
    system_prompt_template: persona.systemPromptTemplate,
    avatar: persona.avatar,
  } satisfies PersonaCreateInput;
}

function personaDetailToWire(persona: PersonaRecord, avatarUrl: string): z.infer<typeof personaDetailWire> {
  // `social_energy` is a number in persona.list, so the detail names the profile `social_energy_profile`.
  const { social_energy: socialEnergyProfile, ...fields } = definitionToInput(persona);
  return {
    persona_id: persona.id,
    ...fields,
    social_energy_profile: socialEnergyProfile,
    avatar_url: avatarUrl,
    is_builtin: persona.isBuiltin,
    created_at: toIso(persona.createdAt),
    updated_at: toIso(persona.updatedAt),
  };
}

const personaUpdateParams = personaCreateInputSchema.omit({ id: true }).partial().extend({ persona_id: personaIdParam });

export function personaMethods(services: Services): MethodDefinition[] {
  const { personas, sessions, conversations, chat } = services;
  const { media } = services.media;
  const detail = (persona: PersonaRecord): z.infer<typeof personaDetailWire> => personaDetailToWire(persona, media.avatarUrl(persona));
  // Polled by every client, and the same answer for a while: an unchanged answer is the same object,
  // serialised once (shared-results.ts).
  const listAnswers = new SharedResults<PersonaListResult>(1);
  // One per value of `is_active`, keyed by persona id (no key string to build per call).
  const statusAnswers = { active: new SharedResults<PersonaStatusResult>(), inactive: new SharedResults<PersonaStatusResult>() };
  // What each answer is made from, filled again on every call: the answer is built (and compared) only when
  // one of these changed (`SharedResults.lookup`). A persona record is replaced, never changed, when the
  // persona is (persona-service.ts), so its fields (name, avatar) are compared by the record's identity.
  const listInputs: unknown[] = [];
  const LIST_STRIDE = 5;
  const statusInputs: unknown[] = [];

  /** The catalogue with each persona's energy as `snapshotOf` gives it; null when one is missing. */
  const personaList = (snapshotOf: (persona: PersonaRecord) => PersonaSnapshot | null): PersonaListResult | null => {
    // Filled by index, not emptied and pushed: setting `length = 0` lets V8 drop the array's storage.
    let filled = 0;
    const all = personas.all();
    for (let index = 0; index < all.length; index += 1) {
      const persona = all[index] as PersonaRecord;
      const snapshot = snapshotOf(persona);
      if (snapshot === null) return null;
      listInputs[filled] = persona;
      listInputs[filled + 1] = snapshot.availability.isAvailable;
      listInputs[filled + 2] = round(snapshot.state.energy, 1);
      listInputs[filled + 3] = snapshot.availability.cooldownRemaining;
      listInputs[filled + 4] = chat.modelFor(persona);
      filled += LIST_STRIDE;
    }
    if (listInputs.length !== filled) listInputs.length = filled;
    const kept = listAnswers.lookup('all', listInputs);
    if (kept !== undefined) return kept;
    const list: Array<z.infer<typeof personaSummaryWire>> = [];
    let available = 0;
    for (let at = 0; at < listInputs.length; at += LIST_STRIDE) {
      const persona = listInputs[at] as PersonaRecord;
      const isAvailable = listInputs[at + 1] as boolean;
      if (isAvailable) available += 1;
      list.push({
        id: persona.id,
        name: persona.name,
        description: persona.description,
        available: isAvailable,
        social_energy: listInputs[at + 2] as number,
        current_priority: persona.defaultPriority,
        cooldown_remaining: listInputs[at + 3] as number,
        model: listInputs[at + 4] as string,
        avatar_url: media.avatarUrl(persona),
      });
    }
    return listAnswers.keep('all', listInputs, { personas: list, total_count: list.length, available_count: available });
  };
  const snapshotInMemory = (persona: PersonaRecord): PersonaSnapshot | null => personas.snapshotNow(persona);
  /** The catalogue after reading the energy states not in memory yet (one after another: few, once). */
  const personaListRead = async (): Promise<PersonaListResult> => {
    const read = new Map<string, PersonaSnapshot>();
    for (const persona of personas.list()) read.set(persona.id, personas.snapshotNow(persona) ?? (await personas.snapshot(persona)));
    // A persona created during the reads is read on a second pass.
    return personaList((persona) => read.get(persona.id) ?? null) ?? personaListRead();
  };

  const personaStatus = (persona: PersonaRecord, activeId: string | null, snapshot: PersonaSnapshot, mood: MoodState): PersonaStatusResult => {
    const isActive = activeId === persona.id;
    const answers = isActive ? statusAnswers.active : statusAnswers.inactive;
    const { state, availability } = snapshot;
    statusInputs[0] = persona;
    statusInputs[1] = round(state.energy, 1);
    statusInputs[2] = availability.availableTime;
    statusInputs[3] = round(state.fatigue, 3);
    statusInputs[4] = availability.isAvailable;
    statusInputs[5] = availability.cooldownRemaining;
    statusInputs[6] = moodName(mood);
    statusInputs[7] = describeMood(mood);
    const kept = answers.lookup(persona.id, statusInputs);
    if (kept !== undefined) return kept;
    const wire = personaStateToWire(snapshot);
    // Written out field by field: no spreads, ~1 µs each on Node 20.
    return answers.keep(persona.id, statusInputs, {
      persona_id: persona.id,
      name: persona.name,
      social_energy: wire.social_energy,
      available_time: wire.available_time,
      interaction_fatigue: wire.interaction_fatigue,
      current_priority: persona.defaultPriority,
      is_available: availability.isAvailable,
      cooldown_remaining: availability.cooldownRemaining,
      max_social_energy: persona.socialEnergy.maxEnergy,
      is_active: isActive,
      mood: statusInputs[6] as string,
      mood_description: statusInputs[7] as string,
    });
  };
  /** persona.status when something it needs is not in memory yet. */
  const personaStatusRead = async (personaId: string | undefined, context: MethodContext): Promise<PersonaStatusResult> => {
    const persona = await services.target.persona(context.session, personaId);
    const activeId = await sessions.activePersonaId(context.session);
    const snapshot = await personas.snapshot(persona);
    const mood = await services.social.emotions.current(persona);
    return personaStatus(persona, activeId, snapshot, mood);
  };

  return [
    defineMethod({
      name: 'persona.list',
      requires: 'user',
      summary: 'List every persona with its availability and social energy.',
      params: z.object({}),
      result: personaListResultWire,
      hints: { readOnly: true, idempotent: true },
      // Answered without a promise when every energy state is in memory (always, after start-up): the
      // WebSocket transport then writes the answer in the same turn of the event loop.
      handler: () => personaList(snapshotInMemory) ?? personaListRead(),
    }),

    defineMethod({
      name: 'persona.switch',
      requires: 'user',
      summary: "Make a persona the session's active one; its own conversation with the session resumes.",
      params: z.object({ persona_id: personaIdParam }),
      result: z.object({
        persona_id: z.string(),
        name: z.string(),
        description: z.string(),
        status: z.literal('active'),
        social_energy: z.number(),
        available_time: z.number(),
        current_priority: z.string(),
        conversation_id: z.string().nullable().describe("The persona's active conversation with this session, if one exists."),
      }),
      hints: { idempotent: true },
      handler: async ({ persona_id }, context) => {
        const persona = personas.resolve(persona_id);
        await sessions.setActivePersona(context.session, persona.id);
        const snapshot = await personas.snapshot(persona);
        const conversation = await conversations.activeWith(context.session, persona.id);
        return {
          persona_id: persona.id,
          name: persona.name,
          description: persona.description,
          status: 'active' as const,
          social_energy: round(snapshot.state.energy, 1),
          available_time: snapshot.availability.availableTime,
          current_priority: persona.defaultPriority,
          conversation_id: conversation?.id ?? null,
        };
      },
    }),

    defineMethod({
      name: 'persona.status',
      requires: 'user',
      summary: "A persona's social energy, fatigue and availability (the active persona when none is named).",
      params: z.object({ persona_id: personaIdParam.optional() }),
      result: personaStatusResultWire,
      hints: { readOnly: true, idempotent: true },
      handler: ({ persona_id }, context) => {
        // Every read below is cached (catalogue, session, energy, mood): read without a promise when it is
        // (a promise and a suspended function per read were most of this call's allocation, bench/README.md
        // round 5), and answered without one too when all four are at hand (round 6).
        const persona = services.target.personaNow(context.session, persona_id);
        if (persona === undefined) return personaStatusRead(persona_id, context);
        const activeId = sessions.activePersonaIdNow(context.session);
        const snapshot = personas.snapshotNow(persona);
        const mood = services.social.emotions.currentNow(persona);
        if (activeId === undefined || snapshot === null || mood === undefined) return personaStatusRead(persona_id, context);
        return personaStatus(persona, activeId, snapshot, mood);
      },
    }),

    defineMethod({
      name: 'persona.get',
      requires: 'user',
      summary: "A persona's full definition (character card fields).",
      params: z.object({ persona_id: personaIdParam }),
      result: personaDetailWire,
      hints: { readOnly: true, idempotent: true },
      handler: async ({ persona_id }) => detail(personas.resolve(persona_id)),
    }),

    defineMethod({
      name: 'persona.create',
      requires: 'user',
      summary: 'Create a persona at runtime; its id is a slug of its name.',
      description: '`personality_traits` may be a list of names (each scored 70) or a map of trait → 0..100.',
      params: personaCreateInputSchema,
      result: personaDetailWire,
      handler: async (params, context) =>
        detail(await personas.create(buildPersonaDefinition(params), isAdmin(context.session) ? null : context.session.userId)),
    }),

    defineMethod({
      name: 'persona.update',
      requires: { owner: 'persona', param: 'persona_id' },
      summary: "Change a persona's definition; only the fields given change.",
      params: personaUpdateParams,
      result: personaDetailWire,
      hints: { idempotent: true },
      handler: async ({ persona_id, ...patch }) => {
        const current = definitionToInput(personas.resolve(persona_id));
        const merged: PersonaCreateInput = { ...current, ...patch, social_energy: { ...current.social_energy, ...patch.social_energy } };
        return detail(await personas.update(buildPersonaDefinition(merged)));
      },
    }),

    defineMethod({
      name: 'persona.delete',
      requires: { owner: 'persona', param: 'persona_id' },
      summary: 'Delete a persona; its conversations end but their messages stay readable.',
      params: z.object({ persona_id: personaIdParam }),
      result: z.object({ deleted: z.literal(true), persona_id: z.string() }),
      hints: { destructive: true, idempotent: false },
      handler: async ({ persona_id }, context) => {
        const persona = personas.resolve(persona_id);
        await personas.delete(persona);
        if ((await sessions.activePersonaId(context.session)) === persona.id) await sessions.setActivePersona(context.session, null);
        return { deleted: true as const, persona_id: persona.id };
      },
    }),
  ];
}

