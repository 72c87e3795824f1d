/**
 * Parsing persona definitions: the zod schema that every persona passes before we trust it (files under
 * `personas/`, imports, `persona.create`), and the defaults that turn a few fields from a client into a
 * complete {@link PersonaDefinition}. The limits keep one persona from blowing up a prompt or a row.
 */
import { z } from 'zod';

import { slugify, type PersonaDefinition, type SocialEnergyProfile } from './persona.js';
import { templateProblem } from './prompt-template.js';

/** A template with an unknown macro is refused on save, with the known ones listed (never sent to a model). */
export function checkTemplateMacros(template: string, context: z.RefinementCtx): void {
  const problem = templateProblem(template);
  if (problem !== null) context.addIssue({ code: 'custom', message: problem });
}

/** Longest display name; ids are slugs of at most 48 characters (see `slugify`). */
export const NAME_MAX_LENGTH = 64;
export const DESCRIPTION_MAX_LENGTH = 2_000;
export const BACKSTORY_MAX_LENGTH = 4_000;
export const SPEAKING_STYLE_MAX_LENGTH = 2_000;
/** A custom template may be longer than the default, but a system prompt past ~2k tokens crowds out history. */
export const SYSTEM_PROMPT_TEMPLATE_MAX_LENGTH = 8_000;
export const EXAMPLE_LINE_MAX_LENGTH = 500;
export const EXAMPLE_LINES_MAX = 20;
export const TRAITS_MAX = 32;
export const TOPICS_MAX = 64;
/** Label of a trait or topic ("extroverted", "local news"). */
export const LABEL_MAX_LENGTH = 64;
/** Avatars are short: an emoji, initials or a URL — never inline image data. */
export const AVATAR_MAX_LENGTH = 2_048;

/** Trait strength a runtime-created persona gets for each trait named in a plain list. */
export const DEFAULT_LISTED_TRAIT_VALUE = 70;

/**
 * Social energy of a persona created without it: between Aria (150 energy, 4 per turn, 3/min back)
 * and Kira (80, 6 per turn, 1.5/min) — about 20 exchanges before a rest, recovering fully in under an hour.
 */
export const defaultSocialEnergyProfile: SocialEnergyProfile = Object.freeze({
  maxEnergy: 100,
  availableTime: 450,
  costPerTurn: 5,
  recoveryPerMinute: 2,
});

const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

const slugSchema = z.string().max(48).regex(SLUG, 'must be a slug: lower-case letters, digits and single dashes');
const nameSchema = z.string().trim().min(1).max(NAME_MAX_LENGTH);
const labelSchema = z.string().trim().min(1).max(LABEL_MAX_LENGTH);
const scoreSchema = z.number().min(0).max(100);

const traitsSchema = z
  .record(labelSchema, scoreSchema)
  .refine((traits) => Object.keys(traits).length <= TRAITS_MAX, `at most ${TRAITS_MAX} traits`);
const topicsSchema = z
  .record(labelSchema, scoreSchema)
  .refine((topics) => Object.keys(topics).length <= TOPICS_MAX, `at most ${TOPICS_MAX} topics`);
const exampleLinesSchema = z.array(z.string().trim().min(1).max(EXAMPLE_LINE_MAX_LENGTH)).max(EXAMPLE_LINES_MAX);
/** D&D-style scores (charisma 18); 0..100 leaves room for other scales without allowing nonsense. */
const attributesSchema = z
  .record(labelSchema, z.number().min(0).max(100))
  .refine((attributes) => Object.keys(attributes).length <= TRAITS_MAX, `at most ${TRAITS_MAX} attributes`);
/** Sampling options (temperature, top_p, num_ctx, seed, ...); values are checked by the backend. */
const modelOptionsSchema = z
  .record(z.string().min(1).max(64), z.number())
  .refine((options) => Object.keys(options).length <= 32, 'at most 32 model options');
const modelSchema = z.string().trim().min(1).max(200).nullable();
const avatarSchema = z.string().trim().min(1).max(AVATAR_MAX_LENGTH).nullable();

export const socialEnergyProfileSchema = z.strictObject({
  maxEnergy: z.number().positive().max(10_000),
  /** Seconds; up to a day. */
  availableTime: z.number().positive().max(86_400),
  costPerTurn: z.number().min(0).max(10_000),
  recoveryPerMinute: z.number().min(0).max(10_000),
});

const definitionShape = {
  id: slugSchema,
  name: nameSchema,
  /** May be empty (old clients create personas with a name only); the prompt then just names the persona. */
  description: z.string().trim().max(DESCRIPTION_MAX_LENGTH),
  backstory: z.string().trim().max(BACKSTORY_MAX_LENGTH),
  personalityTraits: traitsSchema,
  speakingStyle: z.string().trim().max(SPEAKING_STYLE_MAX_LENGTH),
  topicPreferences: topicsSchema,
  exampleLines: exampleLinesSchema,
  attributes: attributesSchema,
  socialRank: labelSchema,
  defaultPriority: labelSchema,
  socialEnergy: socialEnergyProfileSchema,
  model: modelSchema,
  modelOptions: modelOptionsSchema,
  systemPromptTemplate: z.string().max(SYSTEM_PROMPT_TEMPLATE_MAX_LENGTH).superRefine(checkTemplateMacros),
  avatar: avatarSchema,
};

/**
 * A complete persona definition. Strict: an unknown field is an error, so a typo in a persona file
 * (`speakingstyle`) is reported instead of silently ignored.
 */
export const personaDefinitionSchema = z.strictObject(definitionShape);

/**
 * A persona file: a definition whose `id` may be left out (it is then the slug of the name), and
 * whose `avatar`, `model` and `systemPromptTemplate` default to "none" when omitted.
 */
export const personaFileSchema = z
  .strictObject({
    ...definitionShape,
    id: slugSchema.optional(),
    model: modelSchema.default(null),
    modelOptions: modelOptionsSchema.default({}),
    systemPromptTemplate: z.string().max(SYSTEM_PROMPT_TEMPLATE_MAX_LENGTH).superRefine(checkTemplateMacros).default(''),
    avatar: avatarSchema.default(null),
  })
  .transform((file): PersonaDefinition => ({ ...file, id: file.id ?? slugify(file.name) }));

// Compile-time guarantee that the schema and the hand-written type describe the same thing.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const schemaMatchesType: Equal<z.infer<typeof personaDefinitionSchema>, PersonaDefinition> = true;
void schemaMatchesType;

/** "socialEnergy.maxEnergy", "exampleLines[2]", "(root)". */
function formatPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else text += text.length === 0 ? String(key) : `.${String(key)}`;
  }
  return text.length === 0 ? '(root)' : text;
}

/** One line per problem: `field: message` (at most five, then a count). */
export function describeZodIssues(error: z.ZodError): string {
  const lines = error.issues.slice(0, 5).map((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? issue.keys.map((key) => [...issue.path, key]) : [issue.path];
    return keys.map((path) => `${formatPath(path)}: ${issue.message}`).join('; ');
  });
  if (error.issues.length > 5) lines.push(`(${error.issues.length - 5} more)`);
  return lines.join('; ');
}

/**
 * Parses the JSON content of a persona file. Throws an `Error` naming the file and each bad field, e.g.
 * `Invalid persona file aria.json: personalityTraits.extroverted: Too big: expected number to be <=100`.
 */
export function parsePersonaFile(json: unknown, fileName: string): PersonaDefinition {
  const result = personaFileSchema.safeParse(json);
  if (!result.success) {
    throw new Error(`Invalid persona file ${fileName}: ${describeZodIssues(result.error)}`, { cause: result.error });
  }
  return result.data;
}

/**
 * What a client may send to create a persona (`persona.create` params, wire names). Only `name` is
 * required (the protocol asks clients for `description` too; it defaults to ""); `personality_traits` may be a plain list (`["curious", "witty"]`, each
 * becomes {@link DEFAULT_LISTED_TRAIT_VALUE}) or a map of trait → 0..100.
 */
export const personaCreateInputSchema = z.object({
  name: nameSchema,
  description: z.string().trim().max(DESCRIPTION_MAX_LENGTH).optional(),
  /** An explicit id; by default the slug of the name. */
  id: slugSchema.optional(),
  personality_traits: z.union([z.array(labelSchema).max(TRAITS_MAX), traitsSchema]).optional(),
  topic_preferences: topicsSchema.optional(),
  speaking_style: z.string().trim().max(SPEAKING_STYLE_MAX_LENGTH).optional(),
  backstory: z.string().trim().max(BACKSTORY_MAX_LENGTH).optional(),
  example_lines: exampleLinesSchema.optional(),
  attributes: attributesSchema.optional(),
  social_rank: labelSchema.optional(),
  default_priority: labelSchema.optional(),
  social_energy: z
    .strictObject({
      max_energy: socialEnergyProfileSchema.shape.maxEnergy.optional(),
      available_time: socialEnergyProfileSchema.shape.availableTime.optional(),
      cost_per_turn: socialEnergyProfileSchema.shape.costPerTurn.optional(),
      recovery_per_minute: socialEnergyProfileSchema.shape.recoveryPerMinute.optional(),
    })
    .optional(),
  model: modelSchema.optional(),
  model_options: modelOptionsSchema.optional(),
  system_prompt_template: z.string().max(SYSTEM_PROMPT_TEMPLATE_MAX_LENGTH).superRefine(checkTemplateMacros).optional(),
  avatar: avatarSchema.optional(),
});

export type PersonaCreateInput = z.input<typeof personaCreateInputSchema>;

/**
 * Personality traits from what a client sent: a plain list (`["curious", "witty"]`, each at
 * {@link DEFAULT_LISTED_TRAIT_VALUE}) or a map of trait → 0..100. Names are lower-cased.
 */
export function traitsFromInput(traits: readonly string[] | Readonly<Record<string, number>>): Record<string, number> {
  const result: Record<string, number> = {};
  if (isList(traits)) {
    for (const trait of traits) result[trait.trim().toLowerCase()] = DEFAULT_LISTED_TRAIT_VALUE;
  } else {
    for (const [trait, value] of Object.entries(traits)) result[trait.trim().toLowerCase()] = value;
  }
  return result;
}

function isList(value: readonly string[] | Readonly<Record<string, number>>): value is readonly string[] {
  return Array.isArray(value);
}

/** Attributes of a persona created without them: the D&D average. */
export const DEFAULT_ATTRIBUTES: Readonly<Record<string, number>> = Object.freeze({ charisma: 10, intelligence: 10 });
export const DEFAULT_SOCIAL_RANK = 'commoner';
export const DEFAULT_PRIORITY = 'social';

/**
 * Builds a complete definition for a persona created at runtime from what the client gave, filling the
 * rest with defaults (no backstory, no examples, {@link defaultSocialEnergyProfile}, the server's model,
 * the default template). The input is parsed here, so raw params can be passed; a bad field throws a
 * `ZodError` whose issues name it.
 */
export function buildPersonaDefinition(input: PersonaCreateInput): PersonaDefinition {
  const parsed = personaCreateInputSchema.parse(input);
  const traits = traitsFromInput(parsed.personality_traits ?? []);
  const topics: Record<string, number> = {};
  for (const [topic, value] of Object.entries(parsed.topic_preferences ?? {})) topics[topic.toLowerCase()] = value;
  const energy = parsed.social_energy ?? {};
  const definition: PersonaDefinition = {
    id: parsed.id ?? slugify(parsed.name),
    name: parsed.name,
    description: parsed.description ?? '',
    backstory: parsed.backstory ?? '',
    personalityTraits: traits,
    speakingStyle: parsed.speaking_style ?? '',
    topicPreferences: topics,
    exampleLines: parsed.example_lines ?? [],
    attributes: parsed.attributes ?? { ...DEFAULT_ATTRIBUTES },
    socialRank: parsed.social_rank ?? DEFAULT_SOCIAL_RANK,
    defaultPriority: parsed.default_priority ?? DEFAULT_PRIORITY,
    socialEnergy: {
      maxEnergy: energy.max_energy ?? defaultSocialEnergyProfile.maxEnergy,
      availableTime: energy.available_time ?? defaultSocialEnergyProfile.availableTime,
      costPerTurn: energy.cost_per_turn ?? defaultSocialEnergyProfile.costPerTurn,
      recoveryPerMinute: energy.recovery_per_minute ?? defaultSocialEnergyProfile.recoveryPerMinute,
    },
    model: parsed.model ?? null,
    modelOptions: parsed.model_options ?? {},
    systemPromptTemplate: parsed.system_prompt_template ?? '',
    avatar: parsed.avatar ?? null,
  };
  // Defaults are valid by construction; this guards the combination (and any future default).
  return personaDefinitionSchema.parse(definition);
}
