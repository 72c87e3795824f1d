/**
 * Prompt templates: the macros a persona's templates may use, checked when a template is saved so that an
 * unknown macro is an error naming the known ones instead of text the model would see verbatim.
 *
 * The Character Card macros are those of Character Card V2/V3 and the tools that read them
 * (SillyTavern, RisuAI): `{{char}}` the character's name, `{{user}}` the person talking, `{{description}}`,
 * `{{personality}}`, `{{scenario}}`, `{{mesExamples}}` (the example dialogue, `<START>` blocks) and, in a
 * card's `system_prompt` or `post_history_instructions`, `{{original}}` (the default prompt it replaces).
 * `{{char}}` and `{{user}}` are matched in any case, as those tools do.
 */

/** What a template is for: the chat system prompt, or a background task's instructions. */
export type TemplateTask = 'chat' | 'post_history';

export const TEMPLATE_TASKS: readonly TemplateTask[] = ['chat', 'post_history'];

/** Every macro a template may use, with what it becomes. */
export const TEMPLATE_MACROS: Readonly<Record<string, string>> = Object.freeze({
  char: "the persona's name (Character Card)",
  user: 'the person talking, "the visitor" (Character Card)',
  description: "the persona's description (Character Card)",
  personality: "the persona's traits and way of speaking (Character Card)",
  scenario: "the persona's story and this conversation's situation (Character Card)",
  mesExamples: 'the example dialogue as <START> blocks of "{{char}}: ..." (Character Card)',
  original: "the server's default prompt at this place (Character Card system_prompt / post_history_instructions)",
  name: "the persona's name",
  backstory: "the persona's story",
  traits: 'the personality traits with their strengths',
  speaking_style: 'how the persona speaks',
  interests: 'what the persona likes and avoids talking about',
  examples: 'example lines, one per line',
  state: 'mood and energy right now',
  situation: 'scene, conversation context, topic and the others present',
});

/** `{{ name }}`, `{{name::args}}`, `{{// comment}}` — anything between double braces. */
const MACRO = /\{\{\s*([^{}]*?)\s*\}\}/g;
/** Names matched without regard to case (the card tools do so). */
const CASE_FREE = new Set(['char', 'user']);

/** The macros a template uses that are not known, in order of first use, as written. */
export function unknownMacros(template: string): string[] {
  const unknown: string[] = [];
  for (const match of template.matchAll(MACRO)) {
    const name = match[1] ?? '';
    const isKnown = Object.hasOwn(TEMPLATE_MACROS, name) || CASE_FREE.has(name.toLowerCase());
    if (!isKnown && !unknown.includes(name)) unknown.push(name);
  }
  return unknown;
}

/** One sentence for a template with unknown macros, listing the known ones; null when it is fine. */
export function templateProblem(template: string): string | null {
  const unknown = unknownMacros(template);
  if (unknown.length === 0) return null;
  const known = Object.keys(TEMPLATE_MACROS).map((name) => `{{${name}}}`).join(', ');
  const listed = unknown.map((name) => `{{${name}}}`).join(', ');
  return `The template uses ${unknown.length === 1 ? 'an unknown macro' : 'unknown macros'} ${listed}; known macros: ${known}.`;
}
