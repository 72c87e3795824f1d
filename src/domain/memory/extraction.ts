/**
 * Memory extraction without a model: which sentences of a chat exchange are worth remembering.
 * The user's message is split into sentences; a sentence becomes a memory when it carries one of the
 * importance cues (an explicit request, a personal fact, strong emotion), is a first-person statement
 * however short ("I drive an old green Volvo.", "I collect antique maps."), or is a substantial
 * statement (at least `MIN_STATEMENT_WORDS` words). Questions are never facts ("What is my name?"):
 * only a request to remember wrapped in a question ("Can you remember that I am vegan?") keeps its
 * statement. Facts about the speaker become `user_fact` memories, the rest `observation`s, written
 * from the persona's point of view.
 */
import { importanceCues } from './importance.js';
import type { MemoryKind } from './memory.js';

/** A statement shorter than this (and without cues) is small talk: "ok", "thanks!", "haha yes". */
export const MIN_STATEMENT_WORDS = 6;
/** A first-person statement needs this many words to be a fact ("I drive a Volvo" yes, "I see" no). */
export const MIN_PERSONAL_WORDS = 3;
/** Longest sentence kept whole; longer ones are cut at a word boundary. */
export const MAX_MEMORY_CHARS = 500;
/** At most this many memories from one message, the most important first. */
export const MAX_MEMORIES_PER_MESSAGE = 3;

export interface ExtractedMemory {
  kind: MemoryKind;
  content: string;
}

/** Splits on sentence ends and line breaks, keeping the punctuation. */
export function splitSentences(text: string): string[] {
  return text
    .split(/(?<=[.!?])\s+|\n+/)
    .map((sentence) => sentence.trim())
    .filter((sentence) => sentence.length > 0);
}

/** "Can you remember that …?", "Please remember: …" — the request around a statement. */
const REMEMBER_REQUEST = /^(?:(?:can|could|would|will) you (?:please )?|please )?(?:remember|note|keep in mind|don'?t forget)(?: that|:|,)?\s+/i;
/** A question: it ends with "?" or opens like one ("what is my name", "do you know …"). */
const QUESTION_START =
  /^(?:what|who|whom|whose|which|where|when|why|how|do|does|did|is|are|was|were|am|can|could|would|will|shall|should|have|has|had|may|might)\b/i;
/** The speaker says something about themselves. */
const FIRST_PERSON = /^(?:i|i'm|i've|i'd|i'll|im|my|we|we're|we've|our)\b/i;
/** First-person small talk, not facts: "I see", "I think so", "I mean, …". */
const SMALL_TALK =
  /^(?:i|i'm|im) (?:see|think|guess|mean|know|agree|suppose|hope|wonder|understand|bet|doubt|fine|ok|okay|good|great|sorry|sure|not sure|glad|back|here|just|was just|am just|am fine|am ok|am good|am sorry|am sure|am here|am back)\b/i;

export function isQuestion(sentence: string): boolean {
  return sentence.trimEnd().endsWith('?') || QUESTION_START.test(sentence.trim());
}

function cut(text: string): string {
  if (text.length <= MAX_MEMORY_CHARS) return text;
  const head = text.slice(0, MAX_MEMORY_CHARS);
  const space = head.lastIndexOf(' ');
  return `${space > 0 ? head.slice(0, space) : head}…`;
}

/** The memories worth forming from one user message to a persona. */
export function extractMemories(userMessage: string): ExtractedMemory[] {
  const found: Array<ExtractedMemory & { weight: number }> = [];
  for (const original of splitSentences(userMessage)) {
    // "Can you remember that I am vegan?" is a statement asked to be kept, not a question.
    const request = isQuestion(original) ? REMEMBER_REQUEST.exec(original) : null;
    const sentence = request ? original.slice(request[0].length).replace(/\?+$/, '.').replace(/^\w/, (c) => c.toUpperCase()) : original;
    if (sentence.replace(/[\s.!?]/g, '').length === 0) continue;
    if (isQuestion(sentence)) continue;
    const cues = importanceCues(original);
    if (SMALL_TALK.test(sentence) && !cues.explicit && !cues.emotion && request === null) continue;
    const words = sentence.split(/\s+/).length;
    const personal = FIRST_PERSON.test(sentence) && words >= MIN_PERSONAL_WORDS && !SMALL_TALK.test(sentence);
    const hasCue = cues.explicit || cues.personal || cues.emotion || request !== null;
    if (!hasCue && !personal && words < MIN_STATEMENT_WORDS) continue;
    const kind: MemoryKind = cues.personal || personal ? 'user_fact' : 'observation';
    const weight = (cues.explicit || request ? 4 : 0) + (cues.personal || personal ? 2 : 0) + (cues.emotion ? 1 : 0);
    found.push({ kind, content: cut(`The user said: ${sentence}`), weight });
  }
  return found
    .map((memory, index) => ({ memory, index }))
    .sort((a, b) => b.memory.weight - a.memory.weight || a.index - b.index)
    .slice(0, MAX_MEMORIES_PER_MESSAGE)
    .sort((a, b) => a.index - b.index)
    .map(({ memory }) => ({ kind: memory.kind, content: memory.content }));
}
