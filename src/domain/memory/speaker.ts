/**
 * Is a message about the person who wrote it? Memories a persona holds about a user are mostly facts
 * that user told it ("The user said: I moved here from Canada"), and a question asked in other words
 * ("Which country did I come from?") matches them only weakly — through WordNet terms, a shared broader
 * word — as weakly as an unrelated question does ("What is the capital of Australia?" meets "I live in
 * Lisbon" through "capital"). What tells the two apart is that the first is about the speaker. So the
 * prompt recalls weak matches only for messages about the speaker, and asks more of the others
 * (`recallFloorFor`).
 */
import { withoutApostrophes } from '../continue-score.js';

/** First-person words: the message speaks about its writer ("I", "my", "me", "I'm", "we", "our"). */
const FIRST_PERSON = new Set(['i', 'im', 'ive', 'id', 'ill', 'me', 'my', 'mine', 'myself', 'we', 'us', 'our', 'ours', 'ourselves']);
/**
 * Requests at the start of a message whose "me" is only the receiver ("Tell me a joke", "Show me the
 * way"): they ask the persona to do something and say nothing about the speaker.
 */
const REQUEST_VERBS = new Set(['tell', 'give', 'show', 'sing', 'teach', 'bring', 'let', 'help', 'remind', 'recommend', 'find', 'get', 'play', 'read', 'write', 'send', 'explain']);

/** Whether `message` speaks about its writer (see the module comment). */
export function isAboutTheSpeaker(message: string): boolean {
  const words = (message.toLowerCase().normalize('NFKC').match(/[\p{L}\p{N}'’]+/gu) ?? []).map(withoutApostrophes);
  return words.some((word, index) => {
    if (!FIRST_PERSON.has(word)) return false;
    // "Tell me …", "Please show me …": the request's receiver, not a statement about the speaker.
    if (word === 'me' || word === 'us') {
      const before = words.slice(0, index).filter((other) => other !== 'please' && other !== 'can' && other !== 'could' && other !== 'would' && other !== 'you');
      return !(before.length === 1 && REQUEST_VERBS.has(before[0]!));
    }
    return true;
  });
}

/**
 * Least relevance a memory needs to be recalled into the prompt for a message about something other
 * than its writer: about half the message's words held by the memory itself (lexical relevance ~0.5 means
 * "holds the rarer half of the question", memory-store.ts `lexicalCoverage`), so a broader term or a
 * common word shared by chance brings no memory of the user into a question about the world. It applies
 * to the direct evidence (the memory's own words, its vector), not to thesaurus terms: "What time is
 * sunset in winter?" holds one word of "I broke my wrist last winter" (literal 0.33), and thesaurus terms
 * of both ("time", "season", "period") lifted its relevance to 0.58, past the floor.
 */
export const IMPERSONAL_RELEVANCE_FLOOR = 0.5;

/** The relevance floor for recalling memories into the prompt of a reply to `message`. */
export function recallFloorFor(message: string, floor: number): number {
  return recallFloorsFor(message, floor).minRelevance;
}

/**
 * Both floors of a reply to `message` ({@link recallFloorFor}, {@link directFloorFor}) from one look at the
 * message: a turn's recall asks for both, and each looked at its words again.
 */
export function recallFloorsFor(message: string, floor: number): { minRelevance: number; minDirectRelevance: number } {
  const isAboutItsWriter = isAboutTheSpeaker(message);
  return {
    minRelevance: isAboutItsWriter ? floor : Math.max(floor, IMPERSONAL_RELEVANCE_FLOOR),
    minDirectRelevance: isAboutItsWriter ? 0 : IMPERSONAL_RELEVANCE_FLOOR,
  };
}

/**
 * The floor on direct evidence (`RecalledMemory.direct`: the memory's own words and vectors, no thesaurus
 * terms) for recalling memories into the prompt of a reply to `message`: none for a message about its
 * writer, IMPERSONAL_RELEVANCE_FLOOR for the others.
 */
export function directFloorFor(message: string): number {
  return recallFloorsFor(message, 0).minDirectRelevance;
}
