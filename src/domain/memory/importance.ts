/**
 * The importance heuristic, scored at formation time without any model. It stands in for the
 * Generative Agents "poignancy" rating (1–10, asked of the LLM) until — and when — the LLM refines it.
 *
 *   importance = BASE + explicit + personal + emotion + novelty   (clamped to 0..1)
 *
 * Each term is a named constant below, with the cue words that trigger it.
 */
import { clampUnit } from './memory.js';

/** Where every memory starts: small talk is worth remembering a little. */
export const IMPORTANCE_BASE = 0.2;
/** "Remember this", "don't forget": the user asked for it, so it is nearly always kept. */
export const IMPORTANCE_EXPLICIT = 0.5;
/** A fact about the speaker: "I am", "my sister", "I live in". */
export const IMPORTANCE_PERSONAL = 0.25;
/** Strong feeling: love, hate, afraid, died, wedding... */
export const IMPORTANCE_EMOTION = 0.15;
/** Full novelty bonus (scaled by how much of the text is new to the persona's memories, 0..1). */
export const IMPORTANCE_NOVELTY = 0.1;

const EXPLICIT = /\b(remember( this| that)?|don'?t forget|never forget|keep in mind|note that|important:)\b/i;
const PERSONAL =
  /\b(i am|i'm|i was|i have|i've|i live|i work|i study|i like|i love|i hate|i prefer|i want|i need|my name|my (?:\w+ )?(?:wife|husband|partner|son|daughter|mother|father|mom|dad|sister|brother|friend|dog|cat|job|birthday|home|family|favourite|favorite))\b/i;
const EMOTION =
  /\b(love|loved|hate|hated|afraid|scared|fear|angry|furious|sad|cried|happy|thrilled|excited|worried|anxious|grief|died|death|dead|funeral|wedding|married|divorce|born|pregnant|fired|promoted|sick|ill|hospital|heartbroken|proud|ashamed)\b/i;

export interface ImportanceCues {
  explicit: boolean;
  personal: boolean;
  emotion: boolean;
  /** 0..1: share of the text not already known (1 − best similarity to existing memories). */
  novelty: number;
}

/** The cues found in `text`; `novelty` is given by the caller (it needs the persona's memories). */
export function importanceCues(text: string, novelty = 1): ImportanceCues {
  return { explicit: EXPLICIT.test(text), personal: PERSONAL.test(text), emotion: EMOTION.test(text), novelty: clampUnit(novelty) };
}

/** The heuristic importance of a memory with these cues. */
export function heuristicImportance(cues: ImportanceCues): number {
  return clampUnit(
    IMPORTANCE_BASE +
      (cues.explicit ? IMPORTANCE_EXPLICIT : 0) +
      (cues.personal ? IMPORTANCE_PERSONAL : 0) +
      (cues.emotion ? IMPORTANCE_EMOTION : 0) +
      IMPORTANCE_NOVELTY * cues.novelty,
  );
}

/**
 * The prompt asking the LLM for a poignancy rating, worded as in Generative Agents (Appendix A).
 * The answer is parsed with `parsePoignancy`.
 */
export function poignancyPrompt(personaName: string, memory: string): string {
  return (
    `On the scale of 1 to 10, where 1 is purely mundane (e.g., brushing teeth, making bed) and 10 is extremely ` +
    `poignant (e.g., a break up, college acceptance), rate the likely poignancy of the following piece of memory ` +
    `for ${personaName}.\nMemory: ${memory}\nAnswer with a single number.\nRating:`
  );
}

/** A reply that is only the rating: "7", " 7.", "7/10". */
const LONE_RATING = /^\s*(10|[1-9])\s*(?:\/\s*10)?\s*\.?\s*$/;
/** A reply that names the rating: "Rating: 7", "rating = 7/10" (the prompt ends with "Rating:"). */
const NAMED_RATING = /\brating\s*[:=]\s*(10|[1-9])(?!\d)(?:\s*\/\s*10)?/i;

/**
 * The rating in the model's answer, as importance 0.1..1, only when the answer is a rating: a lone
 * number 1–10 or "Rating: N". Anything else — a reply that repeats "on the scale of 1 to 10", explains,
 * or refuses — is null (the caller keeps the heuristic value): taking the first number of any reply
 * stored 0.1 for replies quoting the scale, and the cap then pruned those facts first.
 */
export function parsePoignancy(answer: string): number | null {
  const match = LONE_RATING.exec(answer) ?? NAMED_RATING.exec(answer);
  return match ? Number(match[1]) / 10 : null;
}
