/**
 * One model call for all the judgements of a chat turn: how the exchange went (the relationship's
 * `tone`, as `social/judgement.ts` asks it) and how poignant each memory formed from the person's
 * message is (the Generative Agents rating of `memory/importance.ts`). Asked separately they were
 * two to four background calls per turn; together they are one, answered as a small JSON object.
 *
 * With `restate`, the same call also asks for each memory's doc2query text (`memory/doc2query.ts`: the
 * memory as one fact about the user and the questions it answers), which was one more call per message.
 *
 * The parser is strict, as the single-purpose ones are: a value that is not what was asked for is null
 * (the caller keeps its heuristic), never a guess; a list of ratings of the wrong length is dropped
 * whole, since a rating for the wrong memory is worse than none.
 */

import { DOC2QUERY_QUESTIONS, restatedText } from './memory/doc2query.js';

/** Characters of each side quoted to the model; longer messages are cut (the tone shows early). */
export const APPRAISED_CHARS = 600;

export interface TurnAppraisalInput {
  personaName: string;
  /** What the person said. */
  spoken: string;
  /** The persona's reply. */
  answer: string;
  /** The memories formed from `spoken`, in order (may be empty: then only the tone is asked). */
  memories: readonly string[];
  /** Also ask for each memory restated as a fact with the questions it answers (doc2query). */
  restate?: boolean;
}

export interface TurnAppraisal {
  /** How the visitor treated the persona and how the exchange went, −1..1 (3 decimals); null when not given. */
  tone: number | null;
  /** Per memory, in the input's order: importance 0.1..1 from a 1–10 rating, or null when not given. */
  importance: Array<number | null>;
  /** Per memory: its doc2query text (fact, then questions), or null when not asked or not given. */
  restated: Array<string | null>;
}

/** Reply cap: the object with its tone and one rating per memory, with room for spacing; a restated fact and its questions take ~100 more each. */
export function appraisalMaxTokens(memories: number, restate = false): number {
  return 24 + (restate ? 124 : 4) * memories;
}

export function appraisalPrompt(input: TurnAppraisalInput): { system: string; user: string } {
  const { personaName, memories } = input;
  const ratings =
    memories.length === 0
      ? '"poignancy" is an empty list: there are no memories to rate.'
      : `"poignancy" lists one rating per numbered memory, in order, on the scale of 1 to 10, where 1 is purely mundane ` +
        `(e.g., brushing teeth, making bed) and 10 is extremely poignant (e.g., a break up, college acceptance) for ${personaName}.`;
  const restate = input.restate === true && memories.length > 0;
  const shape = restate ? '{"tone": number, "poignancy": [numbers], "facts": [{"fact": text, "questions": [texts]}]}' : '{"tone": number, "poignancy": [numbers]}';
  const facts = restate
    ? ` "facts" lists one object per numbered memory, in order: "fact" restates the memory as one short fact about the user, in the third person; ` +
      `"questions" are ${DOC2QUERY_QUESTIONS} different questions someone might ask later that this fact answers, in other words than the original where you can.`
    : '';
  const system =
    `You appraise exchanges in a role-play chat. Reply with one JSON object and nothing else: ${shape}. ` +
    `"tone" rates how the visitor treated ${personaName} and how the exchange went, between -1 and 1: ` +
    `-1 hostile or insulting, -0.5 unfriendly, 0 neutral, 0.5 friendly, 1 warm and kind. ${ratings}${facts}`;
  const listed = memories.map((memory, index) => `${index + 1}. ${flat(memory)}`).join('\n');
  const user =
    `Visitor: ${cut(input.spoken)}\n${personaName}: ${cut(input.answer)}\n\n` +
    (memories.length === 0 ? '' : `Memories ${personaName} keeps from it:\n${listed}\n\n`) +
    'JSON:';
  return { system, user };
}

/** The tone, ratings and restated facts in the model's answer (see the module comment); all empty when it is no such object. */
export function parseAppraisal(answer: string, memories: number): TurnAppraisal {
  const start = answer.indexOf('{');
  const end = answer.lastIndexOf('}');
  if (start < 0 || end < start) return noAppraisal(memories);
  let value: unknown;
  try {
    value = JSON.parse(answer.slice(start, end + 1));
  } catch {
    return noAppraisal(memories);
  }
  return appraisalOf(value, memories);
}

/** Exchanges one call appraises at most: each adds up to ~1,200 characters quoted and its share of the reply. */
export const MAX_APPRAISED_EXCHANGES = 4;

/**
 * One call for several exchanges of one conversation (a busy server's backlog: turns came faster than
 * their background jobs ran): the same questions per exchange, answered as a JSON array with one object
 * per numbered exchange. Each object is read exactly as {@link parseAppraisal} reads the single answer.
 */
export function appraisalsPrompt(input: { personaName: string; exchanges: ReadonlyArray<Omit<TurnAppraisalInput, 'personaName' | 'restate'>>; restate?: boolean }): {
  system: string;
  user: string;
} {
  const { personaName, exchanges } = input;
  const restate = input.restate === true && exchanges.some((exchange) => exchange.memories.length > 0);
  const shape = restate
    ? '[{"tone": number, "poignancy": [numbers], "facts": [{"fact": text, "questions": [texts]}]}, ...]'
    : '[{"tone": number, "poignancy": [numbers]}, ...]';
  const facts = restate
    ? ` "facts" lists one object per numbered memory of that exchange, in order: "fact" restates the memory as one short fact about the user, in the third person; ` +
      `"questions" are ${DOC2QUERY_QUESTIONS} different questions someone might ask later that this fact answers, in other words than the original where you can.`
    : '';
  const system =
    `You appraise exchanges in a role-play chat. There are ${exchanges.length} numbered exchanges of one conversation. ` +
    `Reply with one JSON array and nothing else, one object per exchange, in order: ${shape}. ` +
    `In each object, "tone" rates how the visitor treated ${personaName} and how that exchange went, between -1 and 1: ` +
    `-1 hostile or insulting, -0.5 unfriendly, 0 neutral, 0.5 friendly, 1 warm and kind. ` +
    `"poignancy" lists one rating per numbered memory of that exchange, in order, on the scale of 1 to 10, where 1 is purely mundane ` +
    `(e.g., brushing teeth, making bed) and 10 is extremely poignant (e.g., a break up, college acceptance) for ${personaName}; ` +
    `an empty list when the exchange has no memories.${facts}`;
  const user =
    exchanges
      .map((exchange, index) => {
        const listed = exchange.memories.map((memory, at) => `${at + 1}. ${flat(memory)}`).join('\n');
        return (
          `Exchange ${index + 1}\nVisitor: ${cut(exchange.spoken)}\n${personaName}: ${cut(exchange.answer)}` +
          (exchange.memories.length === 0 ? '' : `\nMemories ${personaName} keeps from it:\n${listed}`)
        );
      })
      .join('\n\n') + '\n\nJSON:';
  return { system, user };
}

/** Reply cap of {@link appraisalsPrompt}: each exchange's object, and the array around them. */
export function appraisalsMaxTokens(memories: readonly number[], restate = false): number {
  return 8 + memories.reduce((total, count) => total + appraisalMaxTokens(count, restate), 0);
}

/**
 * The appraisal of each exchange in the answer to {@link appraisalsPrompt}, in order (`memories`: how many
 * memories each exchange listed). An answer that is not an array of one object per exchange gives no
 * values for any of them (an appraisal filed under the wrong exchange is worse than none: the heuristics
 * answer instead); inside, each object is read as the single answer is.
 */
export function parseAppraisals(answer: string, memories: readonly number[]): TurnAppraisal[] {
  const none = (): TurnAppraisal[] => memories.map(noAppraisal);
  const start = answer.indexOf('[');
  const end = answer.lastIndexOf(']');
  if (start < 0 || end < start) return none();
  let value: unknown;
  try {
    value = JSON.parse(answer.slice(start, end + 1));
  } catch {
    return none();
  }
  if (!Array.isArray(value) || value.length !== memories.length) return none();
  return value.map((entry, index) => appraisalOf(entry, memories[index]!));
}

function noAppraisal(memories: number): TurnAppraisal {
  const nulls = (): null[] => Array.from({ length: memories }, () => null);
  return { tone: null, importance: nulls(), restated: nulls() };
}

/** One exchange's appraisal from its parsed JSON object (see the module comment). */
function appraisalOf(value: unknown, memories: number): TurnAppraisal {
  const none = noAppraisal(memories);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return none;
  const { tone, poignancy, facts } = value as { tone?: unknown; poignancy?: unknown; facts?: unknown };
  const isTone = typeof tone === 'number' && Number.isFinite(tone) && tone >= -1 && tone <= 1;
  const importance =
    Array.isArray(poignancy) && poignancy.length === memories
      ? poignancy.map((rating) => (Number.isInteger(rating) && (rating as number) >= 1 && (rating as number) <= 10 ? (rating as number) / 10 : null))
      : none.importance;
  // Like the ratings: a list of the wrong length is dropped whole (a fact filed under the wrong memory is worse than none).
  const restated = Array.isArray(facts) && facts.length === memories ? facts.map(restatedOf) : none.restated;
  return { tone: isTone ? Math.round(tone * 1000) / 1000 : null, importance, restated };
}

/** One `{"fact", "questions"}` entry as doc2query text; null without a fact. Questions that are not text are left out. */
function restatedOf(entry: unknown): string | null {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) return null;
  const { fact, questions } = entry as { fact?: unknown; questions?: unknown };
  if (typeof fact !== 'string') return null;
  const asked = Array.isArray(questions) ? questions.filter((question): question is string => typeof question === 'string') : [];
  return restatedText(fact, asked);
}

function flat(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function cut(text: string): string {
  const flattened = flat(text);
  return flattened.length <= APPRAISED_CHARS ? flattened : `${flattened.slice(0, APPRAISED_CHARS)}…`;
}
