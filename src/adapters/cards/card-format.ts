/**
 * Character Card V2 and V3 (the format of the wider character-chat ecosystem): recognising a card,
 * and the field mapping to and from a `PersonaDefinition`.
 *
 * Mapping (card `data` field ↔ persona):
 * - `name` ↔ name; `description` ↔ description; `scenario` ↔ backstory; `system_prompt` ↔ system-prompt template
 * - `personality` ↔ personality traits ("curious 75, witty 70"; a plain comma list gets 70 each), and the
 *   text is also kept as the speaking style when it is prose
 * - `mes_example` ↔ example lines (`<START>` blocks of `{{char}}: ...`)
 * - `tags` ↔ topic preferences (a tag becomes a topic of 70; topics export as tags, strongest first)
 * - V3 `assets` icon URL ↔ avatar (URLs only; persona-mcp keeps no inline image data)
 * - `extensions.persona_mcp` carries the whole persona definition, so a card exported here and imported
 *   back gives the same persona exactly; other applications read only the standard fields.
 * Every other field and extension is kept as it was imported (see `CardService`).
 */
import { z } from 'zod';
import { describeZodIssues, personaDefinitionSchema, BACKSTORY_MAX_LENGTH, DESCRIPTION_MAX_LENGTH, EXAMPLE_LINE_MAX_LENGTH, EXAMPLE_LINES_MAX, LABEL_MAX_LENGTH, NAME_MAX_LENGTH, SPEAKING_STYLE_MAX_LENGTH, SYSTEM_PROMPT_TEMPLATE_MAX_LENGTH, TOPICS_MAX, TRAITS_MAX, DEFAULT_LISTED_TRAIT_VALUE, buildPersonaDefinition } from '../../domain/persona-schema.js';
import { slugify, type PersonaDefinition } from '../../domain/persona.js';
import { BundleError } from '../bundle/errors.js';

export type CardSpec = 'chara_card_v2' | 'chara_card_v3';
/** Our extension key inside `data.extensions`. */
export const EXTENSION_KEY = 'persona_mcp';

const text = z.string().catch('');
/** The fields we read; everything else passes through untouched. */
const cardDataSchema = z.looseObject({
  name: z.string().trim().min(1, 'a card needs a name'),
  description: text.default(''),
  personality: text.default(''),
  scenario: text.default(''),
  first_mes: text.default(''),
  mes_example: text.default(''),
  system_prompt: text.default(''),
  tags: z.array(z.string()).catch([]).default([]),
  extensions: z.record(z.string(), z.unknown()).catch({}).default({}),
  assets: z.array(z.looseObject({ type: z.string(), uri: z.string(), name: z.string().optional() })).optional().catch(undefined),
});

export type CardData = z.infer<typeof cardDataSchema>;

export interface ParsedCard {
  spec: CardSpec;
  /** The whole card object, as given (V1 cards are wrapped into V2 first). */
  card: Record<string, unknown>;
  data: CardData;
}

/** Recognises a V2 or V3 card object (or a flat V1 one, wrapped as V2); throws a BundleError otherwise. */
export function parseCard(json: unknown): ParsedCard {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new BundleError('unsupported_format', 'a character card must be a JSON object');
  const object = json as Record<string, unknown>;
  let card: Record<string, unknown>;
  let spec: CardSpec;
  if (object.spec === 'chara_card_v3' || object.spec === 'chara_card_v2') {
    spec = object.spec;
    card = object;
  } else if (object.spec === undefined && typeof object.name === 'string' && 'first_mes' in object) {
    spec = 'chara_card_v2';
    const { name, description, personality, scenario, first_mes, mes_example } = object;
    card = { spec, spec_version: '2.0', data: { name, description, personality, scenario, first_mes, mes_example, extensions: {} } };
  } else {
    throw new BundleError('unsupported_format', `not a Character Card V2 or V3 (spec ${JSON.stringify(object.spec ?? null)})`);
  }
  const parsed = cardDataSchema.safeParse(card.data);
  if (!parsed.success) throw new BundleError('unsupported_format', `the character card is invalid: ${describeZodIssues(parsed.error)}`);
  return { spec, card, data: parsed.data };
}

/** The persona a card describes (its own extension, when present, wins over the standard fields). */
export function cardToPersona(data: CardData): PersonaDefinition {
  const ours = personaDefinitionSchema.partial().safeParse(data.extensions[EXTENSION_KEY]);
  const base = ours.success ? ours.data : {};
  const name = data.name.trim().slice(0, NAME_MAX_LENGTH);
  const traits = parseTraits(data.personality);
  const isTraitList = Object.keys(traits).length > 0 && data.personality.split(/[,;\n]/).every((part) => part.trim().length <= LABEL_MAX_LENGTH);
  const defaults = buildPersonaDefinition({ name, id: base.id ?? slugify(name) });
  const topics: Record<string, number> = {};
  for (const tag of data.tags.slice(0, TOPICS_MAX)) {
    const label = tag.trim().toLowerCase().slice(0, LABEL_MAX_LENGTH);
    if (label.length > 0) topics[label] = DEFAULT_LISTED_TRAIT_VALUE;
  }
  const icon = data.assets?.find((asset) => asset.type === 'icon' && /^https?:\/\//.test(asset.uri) && asset.uri.length <= 2_048);
  const fromCard: PersonaDefinition = {
    ...defaults,
    ...base,
    name,
    description: data.description.trim().slice(0, DESCRIPTION_MAX_LENGTH),
    backstory: data.scenario.trim().slice(0, BACKSTORY_MAX_LENGTH),
    personalityTraits: isTraitList ? traits : (base.personalityTraits ?? traits),
    speakingStyle: isTraitList ? (base.speakingStyle ?? '') : data.personality.trim().slice(0, SPEAKING_STYLE_MAX_LENGTH),
    topicPreferences: data.tags.length > 0 && !sameKeys(topics, base.topicPreferences) ? topics : (base.topicPreferences ?? topics),
    exampleLines: parseExamples(data.mes_example),
    systemPromptTemplate: data.system_prompt.slice(0, SYSTEM_PROMPT_TEMPLATE_MAX_LENGTH),
    avatar: icon?.uri ?? base.avatar ?? null,
  };
  const checked = personaDefinitionSchema.safeParse(fromCard);
  if (!checked.success) throw new BundleError('unsupported_format', `the character card cannot be a persona: ${describeZodIssues(checked.error)}`);
  return checked.data;
}

/** The standard card fields for a persona (without our extension). */
export function personaToCardFields(persona: PersonaDefinition): Pick<CardData, 'name' | 'description' | 'personality' | 'scenario' | 'mes_example' | 'system_prompt' | 'tags'> {
  const traits = Object.entries(persona.personalityTraits)
    .map(([trait, value]) => `${trait} ${value}`)
    .join(', ');
  return {
    name: persona.name,
    description: persona.description,
    personality: persona.speakingStyle.length > 0 && traits.length === 0 ? persona.speakingStyle : traits,
    scenario: persona.backstory,
    mes_example: persona.exampleLines.map((line) => `<START>\n{{char}}: ${line}`).join('\n'),
    system_prompt: persona.systemPromptTemplate,
    tags: Object.entries(persona.topicPreferences)
      .sort((a, b) => b[1] - a[1])
      .map(([topic]) => topic),
  };
}

/** "curious 75, witty" → {curious: 75, witty: 70}; anything that is not a short label is left out. */
function parseTraits(personality: string): Record<string, number> {
  const traits: Record<string, number> = {};
  for (const part of personality.split(/[,;\n]/)) {
    const match = /^\s*(.+?)(?:\s*[:(]?\s*(\d{1,3})\s*\)?)?\s*$/.exec(part);
    const label = match?.[1]?.trim().toLowerCase();
    if (label === undefined || label.length === 0 || label.length > LABEL_MAX_LENGTH) continue;
    const value = match?.[2] === undefined ? DEFAULT_LISTED_TRAIT_VALUE : Math.min(100, Number(match[2]));
    traits[label] = value;
    if (Object.keys(traits).length >= TRAITS_MAX) break;
  }
  return traits;
}

/** `<START>\n{{char}}: Hello!\n{{user}}: Hi` → ["Hello!"] (the persona's own lines). */
function parseExamples(examples: string): string[] {
  const lines: string[] = [];
  for (const line of examples.split('\n')) {
    const match = /^\s*\{\{char\}\}\s*:\s*(.+)$/i.exec(line);
    const content = match?.[1]?.trim();
    if (content !== undefined && content.length > 0) lines.push(content.slice(0, EXAMPLE_LINE_MAX_LENGTH));
    if (lines.length >= EXAMPLE_LINES_MAX) break;
  }
  return lines;
}

function sameKeys(a: Record<string, number>, b: Record<string, number> | undefined): boolean {
  if (b === undefined) return false;
  const keys = Object.keys(a).sort();
  const other = Object.keys(b).sort();
  return keys.length === other.length && keys.every((key, index) => key === other[index]);
}
