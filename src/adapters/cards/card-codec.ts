/**
 * The `CardCodec` port: Character Cards V2/V3 from and to JSON and PNG. Round trips keep everything:
 * a field the persona did not change since the card was imported is written back exactly as it came
 * (even where persona-mcp shortened or reinterpreted it), and every unknown field and extension stays.
 */
import type { PersonaDefinition } from '../../domain/persona.js';
import type { CardCodec, CardContainer, CardSpecName, DecodedCard, StoredCard } from '../../ports/cards.js';
import { BundleError } from '../bundle/errors.js';
import { cardToPersona, EXTENSION_KEY, parseCard, personaToCardFields, type CardData } from './card-format.js';
import { isPng, placeholderImage, readCardTexts, stripCardChunks, writeCardTexts } from './png.js';
import { exceedsJsonDepth, MAX_JSON_DEPTH } from '../../domain/json-depth.js';

/** Card files larger than this are refused. Defaults to 16 MiB (a big PNG portrait). */
export const MAX_CARD_BYTES = 16 * 1024 ** 2;

/** Standard fields and the persona fields each is made from. */
const FIELD_SOURCES: ReadonlyArray<[keyof CardData, ReadonlyArray<keyof PersonaDefinition>]> = [
  ['name', ['name']],
  ['description', ['description']],
  ['personality', ['personalityTraits', 'speakingStyle']],
  ['scenario', ['backstory']],
  ['mes_example', ['exampleLines']],
  ['system_prompt', ['systemPromptTemplate']],
  ['tags', ['topicPreferences']],
];

const V2_DEFAULTS = {
  name: '',
  description: '',
  personality: '',
  scenario: '',
  first_mes: '',
  mes_example: '',
  creator_notes: '',
  system_prompt: '',
  post_history_instructions: '',
  alternate_greetings: [] as string[],
  tags: [] as string[],
  creator: '',
  character_version: '',
  extensions: {} as Record<string, unknown>,
};

export class CharacterCardCodec implements CardCodec {
  decode(bytes: Buffer): DecodedCard {
    if (bytes.length > MAX_CARD_BYTES) throw new BundleError('too_large', `the card is larger than ${MAX_CARD_BYTES} bytes`);
    let json: unknown;
    let image: Buffer | null = null;
    if (isPng(bytes)) {
      const texts = readCardTexts(bytes);
      const textOf = texts.ccv3 ?? texts.chara;
      if (textOf === undefined) throw new BundleError('unsupported_format', 'the PNG carries no character card (no "ccv3" or "chara" text chunk)');
      json = parseJson(textOf, 'the card in the PNG');
      image = stripCardChunks(bytes);
    } else {
      json = parseJson(bytes.toString('utf8'), 'the card');
    }
    const parsed = parseCard(json);
    return { spec: parsed.spec, card: parsed.card, image, persona: cardToPersona(parsed.data) };
  }

  encode(
    persona: PersonaDefinition,
    stored: StoredCard | null,
    options: { spec: CardSpecName; container: CardContainer; createdAt: number; updatedAt: number; image?: Buffer | undefined },
  ): { card: Record<string, unknown>; png: Buffer | null } {
    const fields: Record<string, unknown> = { ...personaToCardFields(persona) };
    let base: Record<string, unknown> = { ...V2_DEFAULTS };
    if (stored !== null) {
      const original = parseCard(stored.card);
      const derived = cardToPersona(original.data);
      for (const [field, sources] of FIELD_SOURCES) {
        const unchanged = sources.every((source) => JSON.stringify(persona[source]) === JSON.stringify(derived[source]));
        if (unchanged) fields[field] = original.data[field];
      }
      base = { ...V2_DEFAULTS, ...(stored.card.data as Record<string, unknown>) };
    }
    const { isBuiltin: _b, createdAt: _c, updatedAt: _u, ownerUserId: _o, ...definition } = persona as PersonaDefinition & Record<string, unknown>;
    const extensions = { ...(base.extensions as Record<string, unknown>), [EXTENSION_KEY]: definition };
    const data: Record<string, unknown> = { ...base, ...fields, extensions };
    if (stored === null && data.creator_notes === '') data.creator_notes = `${persona.name}, exported from persona-mcp.`;
    const v2 = { spec: 'chara_card_v2', spec_version: '2.0', data };
    const v3 = {
      spec: 'chara_card_v3',
      spec_version: '3.0',
      data: {
        group_only_greetings: [],
        creation_date: Math.floor(options.createdAt / 1000),
        modification_date: Math.floor(options.updatedAt / 1000),
        ...data,
      },
    };
    const card = options.spec === 'v3' ? v3 : v2;
    if (options.container === 'json') return { card, png: null };
    const image = options.image ?? stored?.image ?? placeholderImage(persona.id);
    const texts = options.spec === 'v3' ? { chara: JSON.stringify(v2), ccv3: JSON.stringify(v3) } : { chara: JSON.stringify(v2) };
    return { card, png: writeCardTexts(image, texts) };
  }
}

function parseJson(text: string, what: string): unknown {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new BundleError('unsupported_format', `${what} is not valid JSON (${(error as Error).message})`);
  }
  // Parsing copes with any depth; storing and exporting it (JSON.stringify) would overflow the stack.
  if (exceedsJsonDepth(json)) throw new BundleError('unsupported_format', `${what} nests more than ${MAX_JSON_DEPTH} levels of objects and arrays; no character card does`);
  return json;
}
