/**
 * The scenario file format, declared once as zod schemas: the YAML loader validates with them, the
 * published JSON Schema (`scenarios/scenario.schema.json`, for editors) is generated from them, and the
 * runner's types are inferred from them. Field names are snake_case like the wire protocol.
 */
import { z } from 'zod';
import { personaCreateInputSchema } from '../../domain/persona-schema.js';

/** `90` (seconds), `"90s"`, `"15m"`, `"2h"`, `"500ms"`. */
export const durationSchema = z
  .union([z.number().nonnegative(), z.string().regex(/^\d+(\.\d+)?\s*(ms|s|m|h)$/, 'a duration like "90s", "15m", "2h" or a number of seconds')])
  .describe('A duration: seconds as a number, or "500ms", "90s", "15m", "2h".');

/** Milliseconds of a duration. */
export function durationMs(value: z.infer<typeof durationSchema>): number {
  if (typeof value === 'number') return value * 1000;
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/.exec(value)!;
  const amount = Number(match[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
  return amount * unit;
}

const ref = z.string().min(1).max(100);
const text = z.string().min(1).max(16_000);

const inlinePersonaSchema = personaCreateInputSchema.extend({
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a slug: lower-case letters, digits and "-"')
    .describe('The id the scenario refers to this persona by (also its id on the server).'),
});

export const personaEntrySchema = z
  .union([ref.describe('An existing persona, by id or name.'), inlinePersonaSchema.describe('A persona defined here (created on the server when missing).')])
  .describe('A persona taking part.');

export const userEntrySchema = z.union([
  ref.describe('A simulated user id.'),
  z.strictObject({ id: ref, name: z.string().max(100).optional() }),
]);

const timeOrTurn = z
  .strictObject({
    turn: z.number().int().min(0).optional().describe('After this many persona turns.'),
    time: durationSchema.optional().describe('Once this much simulated time has passed since the start.'),
  })
  .refine((at) => (at.turn === undefined) !== (at.time === undefined), 'give exactly one of "turn" or "time"');

const sayFields = {
  user: ref.optional().describe('Who speaks; defaults to the first user.'),
  to: ref.optional().describe('Chat mode: the persona addressed; defaults to the first persona.'),
};

/** Actions shared by script steps and timed events. */
const actionSchemas = {
  say: z.strictObject({ say: text.describe('A user line: persona.chat in chat mode, conversation.interject in a group.'), ...sayFields }),
  tell: z.strictObject({
    tell: text.describe('A fact told by a user (said like `say`), remembered for `recalls` and `no_private_crossover`.'),
    fact: ref.describe('A name for the fact, used by assertions.'),
    keywords: z.array(z.string().min(1)).min(1).optional().describe('Words that show the fact was recalled; default: its names and numbers.'),
    ...sayFields,
  }),
  join: z.strictObject({ join: ref.describe('A persona joins the group.') }),
  leave: z.strictObject({ leave: ref.describe('A persona leaves the group.') }),
  scene: z.strictObject({ scene: text.describe('The scene changes (scene.set, or visual.update on servers without it).') }),
  mood: z.strictObject({
    mood: z
      .strictObject({ persona: ref })
      .catchall(z.union([z.string(), z.number()]))
      .describe('emotional.update_state for a persona: `mood` (a named mood), `valence`, `arousal`, `energy_level`, ...'),
  }),
};

export const stepSchema = z
  .union([
    actionSchemas.say,
    actionSchemas.tell,
    actionSchemas.join,
    actionSchemas.leave,
    actionSchemas.scene,
    actionSchemas.mood,
    z.strictObject({
      run: z
        .union([z.number().int().min(1).max(10_000), z.literal('until_end')])
        .describe('Group mode: let the personas take this many turns (or until the conversation or a stop rule ends it).'),
    }),
    z.strictObject({ wait: durationSchema.describe('Let simulated time pass (personas rest, moods drift).') }),
  ])
  .describe('One step of the script, run in order.');

export const eventSchema = z
  .union([
    actionSchemas.say.extend({ at: timeOrTurn }),
    actionSchemas.tell.extend({ at: timeOrTurn }),
    actionSchemas.join.extend({ at: timeOrTurn }),
    actionSchemas.leave.extend({ at: timeOrTurn }),
    actionSchemas.scene.extend({ at: timeOrTurn }),
    actionSchemas.mood.extend({ at: timeOrTurn }),
  ])
  .describe('An action that happens at a given turn or simulated time, whatever the script is doing.');

const direction = z.enum(['up', 'down', 'same']);
const textMatch = {
  text: z.string().min(1).optional().describe('Case-insensitive substring.'),
  pattern: z.string().min(1).optional().describe('Regular expression (case-insensitive).'),
};
const named = { name: z.string().max(200).optional().describe('How the assertion is shown in reports.') };

export const assertionSchema = z
  .union([
    z.strictObject({
      ...named,
      speaks: ref.describe('A persona.'),
      min: z.number().int().min(0).optional(),
      max: z.number().int().min(0).optional(),
    }),
    z.strictObject({ ...named, mentions: ref.describe('A persona.'), ...textMatch, after_turn: z.number().int().min(0).optional() }),
    z.strictObject({ ...named, never_mentions: ref.describe('A persona.'), ...textMatch }),
    z.strictObject({ ...named, recalls: ref.describe('A fact name (from a `tell`).'), by: ref.describe('The persona that should recall it.') }),
    z.strictObject({
      ...named,
      relationship: z.strictObject({ from: ref.describe('A persona.'), to: ref.describe('A persona, or "user:ID".') }),
      field: z.enum(['affinity', 'trust', 'respect', 'intimacy', 'relationship_strength']).default('affinity'),
      direction,
      by: z.number().min(0).optional().describe('At least this much change (up/down), or at most this much (same). Default 0 / 0.001.'),
    }),
    z.strictObject({
      ...named,
      mood: ref.describe('A persona.'),
      field: z.enum(['valence', 'arousal', 'stress_level', 'curiosity', 'energy_level']).default('valence'),
      direction,
      by: z.number().min(0).optional(),
    }),
    z.strictObject({ ...named, ends_by_itself: z.strictObject({ within_turns: z.number().int().min(1) }) }),
    z.strictObject({ ...named, no_private_crossover: z.literal(true).describe('No user hears or can search another user\'s told facts.') }),
    z.strictObject({
      ...named,
      latency: z.strictObject({
        p50_ms: z.number().positive().optional(),
        p95_ms: z.number().positive().optional(),
        max_ms: z.number().positive().optional(),
      }),
    }),
    z.strictObject({
      ...named,
      consistency: ref.describe('A persona.'),
      min: z.number().min(0).max(1).describe('Lowest acceptable overall score (0..1).'),
      max_contradictions: z.number().int().min(0).optional(),
    }),
  ])
  .describe('What must hold once the scenario has run.');

export const scenarioSchema = z
  .strictObject({
    $schema: z.string().optional(),
    name: z.string().min(1).max(200),
    description: z.string().max(4000).optional(),
    mode: z.enum(['chat', 'group']).default('chat').describe('chat: users talk to personas; group: personas talk among themselves (users may interject).'),
    personas: z.array(personaEntrySchema).min(1).max(8),
    users: z.array(userEntrySchema).min(1).max(20).default(['user']),
    setting: z.string().min(1).max(4000).optional().describe('The scene at the start.'),
    topic: z.string().min(1).max(500).optional().describe('The group topic, or the chat context.'),
    token_budget: z.number().int().min(1).max(4096).optional(),
    clock: z
      .strictObject({
        start: z.iso.datetime().default('2026-06-01T18:00:00Z').describe('Simulated time at the start (embedded server only).'),
        turn_seconds: z.number().min(0).max(86_400).default(30).describe('Simulated seconds each turn takes.'),
      })
      .prefault({}),
    relationships: z
      .array(
        z.strictObject({
          from: ref,
          to: ref,
          quality: z.number().min(-1).max(1).describe('interaction_quality of each interaction.'),
          interactions: z.number().int().min(1).max(50).default(1),
          mutual: z.boolean().default(true),
        }),
      )
      .default([])
      .describe('Relationships to start from (relationship.update, repeated).'),
    moods: z
      .record(z.string(), z.union([z.string(), z.record(z.string(), z.union([z.string(), z.number()]))]))
      .default({})
      .describe('Moods to start from: persona → named mood, or emotional.update_state fields.'),
    script: z.array(stepSchema).default([]),
    events: z.array(eventSchema).default([]),
    stop: z
      .strictObject({
        max_turns: z.number().int().min(1).max(10_000).default(50).describe('Persona turns at most.'),
        max_time: durationSchema.optional().describe('Simulated time at most.'),
        all_tired: z.boolean().default(false).describe('Stop when every persona is tired (energy below 30 %).'),
        phrase: z.string().min(1).optional().describe('Stop when a persona says this (case-insensitive).'),
      })
      .prefault({}),
    assertions: z.array(assertionSchema).default([]),
    judge: z
      .enum(['offline', 'llm'])
      .default('offline')
      .describe('How persona consistency is scored: offline style measures, or an LLM judge with a fixed rubric (embedded server; falls back to offline when no model answers).'),
  })
  .superRefine((scenario, context) => {
    const ids = scenario.personas.map((entry) => (typeof entry === 'string' ? entry.toLowerCase() : entry.id));
    if (new Set(ids).size !== ids.length) context.addIssue({ code: 'custom', path: ['personas'], message: 'a persona is listed twice' });
    if (scenario.mode === 'chat') {
      scenario.script.forEach((step, index) => {
        if ('run' in step || 'join' in step || 'leave' in step)
          context.addIssue({ code: 'custom', path: ['script', index], message: 'run/join/leave need mode: group' });
      });
    }
  });

export type Scenario = z.output<typeof scenarioSchema>;
export type ScenarioStep = z.output<typeof stepSchema>;
export type ScenarioEvent = z.output<typeof eventSchema>;
export type ScenarioAssertion = z.output<typeof assertionSchema>;
export type InlinePersona = z.output<typeof inlinePersonaSchema>;

/** The JSON Schema published for editors (`scenarios/scenario.schema.json`). */
export function scenarioJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(scenarioSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'persona-mcp scenario',
    description: 'A scenario for `persona-mcp simulate`: personas, setting, script, events, stop rules and assertions. See docs/simulation.md.',
    ...Object.fromEntries(Object.entries(schema).filter(([key]) => key !== '$schema')),
  };
}
