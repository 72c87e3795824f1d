/**
 * Memory extraction without a model: which sentences of a chat exchange are worth remembering.
 * The user's message is split into sentences; a sentence becomes a memory when it carries one of the
 * importance cues (an explicit request, a personal fact, strong emotion) or is a substantial statement
 * (at least `MIN_STATEMENT_WORDS` words and not a question). Facts about the speaker become
 * `user_fact` memories, the rest `observation`s, written from the persona's point of view.
 */
import { importanceCues } from './importance.js';
import type { MemoryKind } from './memory.js';

/** A statement shorter than this (and without cues) is small talk: "ok", "thanks!", "haha yes". */
export const MIN_STATEMENT_WORDS = 6;
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

function cut(text: string): string {
  if (text.length <= MAX_MEMORY_CHARS) return text;
  const head = text.slice(0, MAX_MEMORY_CHARS);
  const space = head.lastIndexOf(' ');
  return `${space > 0 ? head.slice(0, space) : head}…`;
}

/** The memories worth forming from one user message to a persona. */
export function extractMemories(userMessage: string): ExtractedMemory[] {
  const found: Array<ExtractedMemory & { weight: number }> = [];
  for (const sentence of splitSentences(userMessage)) {
    const cues = importanceCues(sentence);
    const words = sentence.split(/\s+/).length;
    const isQuestion = sentence.endsWith('?');
    const hasCue = cues.explicit || cues.personal || cues.emotion;
    if (!hasCue && (isQuestion || words < MIN_STATEMENT_WORDS)) continue;
    const kind: MemoryKind = cues.personal ? 'user_fact' : 'observation';
    const weight = (cues.explicit ? 4 : 0) + (cues.personal ? 2 : 0) + (cues.emotion ? 1 : 0);
    found.push({ kind, content: cut(`The user said: ${sentence}`), weight });
  }
  return found
    .map((memory, index) => ({ memory, index }))
    .sort((a, b) => b.memory.weight - a.memory.weight || a.index - b.index)
    .slice(0, MAX_MEMORIES_PER_MESSAGE)
    .sort((a, b) => a.index - b.index)
    .map(({ memory }) => ({ kind: memory.kind, content: memory.content }));
}
