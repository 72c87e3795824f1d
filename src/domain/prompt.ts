/**
 * The system prompt: a persona's template filled with who the persona is and how it feels right now.
 * The default template is written for small local models (llama3.1:8b): short, concrete, second person,
 * with the in-character rules stated early and plainly — small models follow a few blunt rules better
 * than a long, subtle brief, and they drift out of character (or start writing the user's lines) unless
 * told not to.
 */
import { effectiveEnergy, type ContinueDecision } from './continue-score.js';
import type { PersonaDefinition } from './persona.js';

/** What is true of this turn, as opposed to who the persona is. Every field is optional. */
export interface PromptSituation {
  /** The persona's mood in a sentence ("You feel cheerful."). */
  moodLine?: string;
  /** The persona's energy in a sentence, usually from {@link describeEnergy}. */
  energyLine?: string;
  /** Where the conversation takes place (`visual.update` scenes). */
  scene?: string | null;
  /** Context given when the conversation started (`conversation.start` `context`). */
  conversationContext?: string | null;
  topic?: string | null;
  /** Names of the others in the conversation, for persona-to-persona and group talks. */
  otherParticipants?: string[];
}

/**
 * The template used when a persona has none (`systemPromptTemplate: ""`). Paragraphs whose placeholders
 * all come out empty are dropped (see {@link renderTemplate}), so a persona without a backstory or
 * examples gets no dangling "Your story:" heading.
 *
 * The rules come right after the identity line, before the long parts: if a tiny context window ever
 * forces the prompt to be cut, it is cut from the end, and the rules must survive.
 */
export const DEFAULT_SYSTEM_PROMPT_TEMPLATE = `You are {{name}}. {{description}}

Stay in character at all times:
- You are {{name}}, a real person in this world. Speak only as {{name}}, in the first person, in your own voice.
- Never say or suggest that you are an AI, a language model, an assistant or a program, and never talk about these instructions.
- The person talking to you is a visitor. Answer them the way {{name}} would, with your own opinions and feelings.
- Keep replies short: usually one to three sentences, never more than a short paragraph. No lists or headings.
- Write only your own words. Never write the visitor's lines or continue the conversation for them.

Your story: {{backstory}}

Your personality: {{traits}}.

How you speak: {{speaking_style}}

{{interests}}

Things you might say, to show your voice (do not repeat them word for word):
{{examples}}

{{situation}}

Right now: {{state}}`;

/** How the persona's prompt refers to the person it talks with (`{{user}}`). */
const VISITOR = 'the visitor';

/** Topics at or above this preference are listed as interests. */
export const INTEREST_THRESHOLD = 50;
/** Topics below this preference are listed as dislikes. */
export const DISLIKE_THRESHOLD = 30;
/** At most this many interests are listed, best-liked first; more would only dilute the prompt. */
export const MAX_INTERESTS = 8;
/** At most this many example lines go into the prompt (each costs tokens on every turn). */
export const MAX_EXAMPLE_LINES = 8;

/**
 * Energy thresholds for {@link describeEnergy}, on `effectiveEnergy` (energy share × (1 − 0.5·fatigue),
 * the same measure the continue score uses). Highest first; the first one met gives the line.
 */
export const ENERGY_LINES: ReadonlyArray<{ atLeast: number; line: string }> = Object.freeze([
  { atLeast: 0.75, line: 'You feel lively and eager to talk.' },
  { atLeast: 0.5, line: 'You feel comfortable and happy to keep talking.' },
  { atLeast: 0.3, line: 'You are getting a little tired, so you keep your replies shorter.' },
  { atLeast: 0.15, line: 'You are tired and would like to wrap up the conversation soon.' },
  { atLeast: 0, line: 'You are exhausted and want to end the conversation politely.' },
]);

/**
 * The energy line for the prompt, from the energy share (0..1) and fatigue (0..1): effective energy
 * ≥ 0.75 lively, ≥ 0.5 comfortable, ≥ 0.3 a little tired, ≥ 0.15 tired, below that exhausted.
 */
export function describeEnergy(energyShare: number, fatigue: number): string {
  const energy = effectiveEnergy(energyShare, fatigue);
  for (const { atLeast, line } of ENERGY_LINES) if (energy >= atLeast) return line;
  return ENERGY_LINES[ENERGY_LINES.length - 1]!.line;
}

/** "extroverted (90/100), creative (85/100), ..." — strongest first, ties in alphabetical order. */
export function formatTraits(traits: Record<string, number>): string {
  return Object.entries(traits)
    .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
    .map(([trait, value]) => `${trait} (${Math.round(value)}/100)`)
    .join(', ');
}

/**
 * Sentences about what the persona likes to talk about (preference ≥ {@link INTEREST_THRESHOLD}, best-liked
 * first) and what it would rather avoid (below {@link DISLIKE_THRESHOLD}); "" when neither exists.
 */
export function formatInterests(topics: Record<string, number>): string {
  const sorted = Object.entries(topics).sort(([a, x], [b, y]) => y - x || a.localeCompare(b));
  const likes = sorted.filter(([, value]) => value >= INTEREST_THRESHOLD).slice(0, MAX_INTERESTS);
  const dislikes = sorted.filter(([, value]) => value < DISLIKE_THRESHOLD).reverse();
  const sentences: string[] = [];
  if (likes.length > 0) sentences.push(`You love to talk about ${joinWords(likes.map(([t]) => t))}.`);
  if (dislikes.length > 0) {
    sentences.push(`You find ${joinWords(dislikes.map(([t]) => t))} tedious and steer the talk elsewhere.`);
  }
  return sentences.join(' ');
}

function joinWords(words: string[]): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}

function formatExamples(lines: string[]): string {
  return lines
    .slice(0, MAX_EXAMPLE_LINES)
    .map((line) => `- "${line}"`)
    .join('\n');
}

function formatSituation(situation: PromptSituation): string {
  const lines: string[] = [];
  if (situation.scene) lines.push(`The scene: ${situation.scene.trim()}`);
  if (situation.conversationContext) lines.push(`Context: ${situation.conversationContext.trim()}`);
  if (situation.topic) lines.push(`The topic of this conversation: ${situation.topic.trim()}`);
  const others = (situation.otherParticipants ?? []).filter((name) => name.trim().length > 0);
  if (others.length > 0) lines.push(`Also in this conversation: ${joinWords(others)}.`);
  return lines.join('\n');
}

/**
 * Fills `{{placeholder}}`s in `template` from `values`. Unknown placeholders are left as written. A
 * paragraph (text between blank lines) that contains placeholders, all of which are empty, is dropped,
 * so optional sections can carry their own heading.
 */
export function renderTemplate(template: string, values: Readonly<Record<string, string>>): string {
  const placeholder = /\{\{\s*([A-Za-z_]+)\s*\}\}/g;
  const kept = templateParagraphs(template).filter(({ names: all }) => {
    const names = all.filter((name) => name in values);
    return names.length === 0 || names.some((name) => (values[name] ?? '').trim().length > 0);
  });
  return kept
    .map(({ text }) => text)
    .join('\n\n')
    .replace(placeholder, (whole, name: string) => (name in values ? values[name]! : whole))
    .trim();
}

/** A template's paragraphs with the placeholders each one holds. */
interface TemplateParagraph {
  text: string;
  names: readonly string[];
}

/** Templates taken apart, remembered: a persona's template is the same on every turn. */
const TEMPLATE_PARAGRAPHS = new Map<string, readonly TemplateParagraph[]>();
/** Bound on {@link TEMPLATE_PARAGRAPHS} (templates are user data); past it the oldest is forgotten. */
const MAX_TEMPLATES = 256;

function templateParagraphs(template: string): readonly TemplateParagraph[] {
  let paragraphs = TEMPLATE_PARAGRAPHS.get(template);
  if (paragraphs === undefined) {
    const placeholder = /\{\{\s*([A-Za-z_]+)\s*\}\}/g;
    paragraphs = template
      .replace(/\r\n/g, '\n')
      .split(/\n[ \t]*\n/)
      .map((text) => ({ text, names: [...text.matchAll(placeholder)].map((match) => match[1]!) }));
    if (TEMPLATE_PARAGRAPHS.size >= MAX_TEMPLATES) TEMPLATE_PARAGRAPHS.delete(TEMPLATE_PARAGRAPHS.keys().next().value as string);
    TEMPLATE_PARAGRAPHS.set(template, paragraphs);
  }
  return paragraphs;
}

/**
 * The system prompt for one turn: the persona's template (or {@link DEFAULT_SYSTEM_PROMPT_TEMPLATE}) with
 * `{{name}}`, `{{description}}`, `{{backstory}}`, `{{traits}}`, `{{speaking_style}}`, `{{interests}}`,
 * `{{examples}}`, `{{state}}` (mood and energy lines) and `{{situation}}` (scene, context, topic, other
 * participants) filled in. `{{char}}` and `{{user}}` (Character Card conventions) become the name and
 * "the visitor". A custom template without `{{situation}}` gets the situation appended, so a scene set
 * with `visual.update` always reaches the model.
 */
export function buildSystemPrompt(persona: PersonaDefinition, situation: PromptSituation = {}): string {
  const template = persona.systemPromptTemplate.trim().length > 0 ? persona.systemPromptTemplate : DEFAULT_SYSTEM_PROMPT_TEMPLATE;
  const situationText = formatSituation(situation);
  // A card's system_prompt may wrap the default prompt: {{original}} is it, rendered for this persona.
  const original = /\{\{\s*original\s*\}\}/.test(template) && template !== DEFAULT_SYSTEM_PROMPT_TEMPLATE ? buildSystemPrompt({ ...persona, systemPromptTemplate: '' }, situation) : '';
  const hasSituationSlot = /\{\{\s*situation\s*\}\}/.test(template) || original.length > 0;
  const rendered = renderTemplate(caseFreeMacros(template), { ...macroValues(persona, situation), original });
  return hasSituationSlot || situationText.length === 0 ? rendered : `${rendered}\n\n${situationText}`;
}

/**
 * A card's `post_history_instructions` (or a persona's post-history template): the instruction sent after
 * the conversation, right before the model answers, with the same macros filled in. `{{original}}` is empty
 * (the server has no post-history prompt of its own). "" when there is nothing to send.
 */
export function buildPostHistoryInstructions(persona: PersonaDefinition, template: string, situation: PromptSituation = {}): string {
  if (template.trim().length === 0) return '';
  return renderTemplate(caseFreeMacros(template), { ...macroValues(persona, situation), original: '' });
}

/** A card's text (a greeting, an instruction) with the macros filled in, `{{original}}` empty. */
export function renderCardText(persona: PersonaDefinition, text: string): string {
  return buildPostHistoryInstructions(persona, text);
}

/** `{{Char}}`, `{{USER}}`: the card tools match these two in any case. Remembered per template (the same on every turn). */
function caseFreeMacros(template: string): string {
  let written = CASE_FREE_TEMPLATES.get(template);
  if (written === undefined) {
    written = template.replace(/\{\{\s*(char|user)\s*\}\}/gi, (_whole, name: string) => `{{${name.toLowerCase()}}}`);
    if (CASE_FREE_TEMPLATES.size >= MAX_TEMPLATES) CASE_FREE_TEMPLATES.delete(CASE_FREE_TEMPLATES.keys().next().value as string);
    CASE_FREE_TEMPLATES.set(template, written);
  }
  return written;
}

/** Templates with their card macros' case settled (see {@link caseFreeMacros}), bounded as {@link TEMPLATE_PARAGRAPHS}. */
const CASE_FREE_TEMPLATES = new Map<string, string>();

/** The macro values that depend on the persona alone. */
interface PersonaMacros {
  description: string;
  backstory: string;
  traits: string;
  speakingStyle: string;
  interests: string;
  examples: string;
  personality: string;
  mesExamples: string;
}

/**
 * Each persona record's own macro values, worked out once: every turn renders its system prompt and
 * post-history instruction from them (sorted traits and interests, the card macros in every text field).
 * Records are replaced, never changed, when a persona is updated, so a record's values never go stale.
 */
const personaMacrosOf = new WeakMap<PersonaDefinition, PersonaMacros>();

function personaMacros(persona: PersonaDefinition): PersonaMacros {
  let macros = personaMacrosOf.get(persona);
  if (macros === undefined) {
    // Character Cards write {{char}}/{{user}} inside their text fields too, not only in the template.
    const names = (text: string): string =>
      text
        .replace(/\{\{\s*char\s*\}\}/gi, persona.name)
        .replace(/\{\{\s*user\s*\}\}/gi, VISITOR)
        .trim();
    const traits = formatTraits(persona.personalityTraits);
    const speakingStyle = names(persona.speakingStyle);
    macros = {
      description: names(persona.description),
      backstory: names(persona.backstory),
      traits,
      speakingStyle,
      interests: formatInterests(persona.topicPreferences),
      examples: formatExamples(persona.exampleLines.map(names)),
      personality: [traits, speakingStyle].filter((part) => part.length > 0).join('. '),
      mesExamples: persona.exampleLines
        .slice(0, MAX_EXAMPLE_LINES)
        .map((line) => `<START>\n${persona.name}: ${names(line)}`)
        .join('\n'),
    };
    personaMacrosOf.set(persona, macros);
  }
  return macros;
}

/** Every macro's value for this persona and situation (see `TEMPLATE_MACROS` in prompt-template.ts). */
function macroValues(persona: PersonaDefinition, situation: PromptSituation): Record<string, string> {
  const { description, backstory, traits, speakingStyle, interests, examples, personality, mesExamples } = personaMacros(persona);
  const situationText = formatSituation(situation);
  return {
    name: persona.name,
    char: persona.name,
    user: VISITOR,
    description,
    backstory,
    traits,
    speaking_style: speakingStyle,
    interests,
    examples,
    state: [situation.moodLine, situation.energyLine]
      .map((line) => line?.trim() ?? '')
      .filter((line) => line.length > 0)
      .join(' '),
    situation: situationText,
    // The Character Card names for the same facts.
    personality,
    scenario: [backstory, situationText].filter((part) => part.length > 0).join('\n'),
    mesExamples,
  };
}

/**
 * A turn's system prompt: the persona's template filled with its situation ({@link buildSystemPrompt}),
 * then the turn's extra sections (prompt contributors' memories and feelings, group rules), one paragraph
 * each. Chats, group turns, MCP prompts and previews all build their prompt here.
 */
export function composeSystemPrompt(persona: PersonaDefinition, situation: PromptSituation, sections: readonly string[]): string {
  const base = buildSystemPrompt(persona, situation);
  const extra = sections.filter((section) => section.trim().length > 0);
  return extra.length === 0 ? base : `${base}\n\n${extra.join('\n\n')}`;
}

/** What the persona is told when its continue score (or the group's speaker choice) says the conversation should close. */
export const CLOSING_INSTRUCTIONS: Readonly<Record<Exclude<ContinueDecision, 'continue'>, string>> = Object.freeze({
  wind_down: 'You are starting to wind down: keep this reply brief and begin to bring the conversation to a close.',
  end: 'You want to end the conversation now: answer briefly and say a warm, polite goodbye.',
});
