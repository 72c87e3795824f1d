/**
 * Token estimates without a tokenizer. Every model family splits text differently and we do not want to
 * ship (or download) a tokenizer per model, so we estimate — and we estimate high on purpose: the prompt we
 * build from these numbers must never overflow the model's context window. An overflow is silent and ugly
 * (Ollama drops the *oldest* tokens, which is where the system prompt lives, and the persona falls out of
 * character); an overestimate only costs a turn or two of history. When the backend reports real counts
 * (`prompt_eval_count`, `eval_count`), those are stored instead.
 *
 * The estimate, per text:
 * - CJK characters (Han, kana, Hangul, full-width forms) count one token each: BPE vocabularies of Llama 3
 *   and GPT-4 class models spend roughly one token per such character, sometimes less, rarely more.
 * - Everything else counts `max(ceil(weightedChars / 3.5), ceil(words × 1.3))`. English prose averages about
 *   four characters per token; 3.5 leaves ~15% headroom. Text made of many short words (or numbers) is
 *   caught by the word term instead: words are rarely fewer than 1.3 tokens each on average once
 *   punctuation is attached. Non-ASCII characters weigh 2 (accents, Cyrillic, Greek split into more tokens
 *   than ASCII) and characters outside the Basic Multilingual Plane (emoji) weigh 4.
 */

/** Characters per token assumed for ASCII text; lower than the ~4 typically observed, to overestimate. */
export const CHARS_PER_TOKEN = 3.5;
/** Tokens assumed per whitespace-separated word, the floor for text made of many short words. */
export const TOKENS_PER_WORD = 1.3;
/**
 * Tokens a chat message costs beyond its content: the role header and end-of-turn markers
 * (`<|start_header_id|>user<|end_header_id|>\n\n … <|eot_id|>` in Llama 3's chat template).
 */
export const MESSAGE_OVERHEAD_TOKENS = 4;

/** Weight of a non-ASCII character in the BMP (é, ж, λ, ...) in the character count. */
const NON_ASCII_WEIGHT = 2;
/** Weight of a character outside the BMP (emoji, rare symbols) in the character count. */
const ASTRAL_WEIGHT = 4;

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u3000-\u303f\uff00-\uffef]/u;
const WHITESPACE = /\s/u;

/**
 * Texts at least this long have their estimate remembered: a chat turn estimates the same history
 * messages on every turn (the context window, then the model router sizing the prompt), and a Map
 * lookup of a string V8 has hashed once is far cheaper than counting it again. Shorter texts are
 * counted each time (about as cheap as the lookup).
 */
const REMEMBERED_MIN_CHARS = 24;
/** Estimates remembered at most; the memo starts over when full (a conversation's window is ~50 texts). */
const REMEMBERED_MAX = 4_096;
const remembered = new Map<string, number>();

/**
 * A conservative estimate of how many tokens `text` takes (see the module comment for the formula).
 * Examples: `""` → 0, `"Hello world"` → 4, `"你好世界"` → 4.
 */
export function estimateTokens(text: string): number {
  if (text.length < REMEMBERED_MIN_CHARS) return countTokens(text);
  const known = remembered.get(text);
  if (known !== undefined) return known;
  const tokens = countTokens(text);
  if (remembered.size >= REMEMBERED_MAX) remembered.clear();
  remembered.set(text, tokens);
  return tokens;
}

function countTokens(text: string): number {
  let cjkChars = 0;
  let weightedChars = 0;
  let words = 0;
  let inWord = false;
  // By UTF-16 unit, with ASCII decided by comparisons: testing the Unicode-property regexes on every
  // character made this a few per cent of a chat turn's CPU (it runs on every message of every prompt).
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x80) {
      weightedChars += 1;
      if (code === 0x20 || (code >= 0x09 && code <= 0x0d)) inWord = false;
      else {
        if (!inWord) words += 1;
        inWord = true;
      }
      continue;
    }
    const codePoint = text.codePointAt(index) ?? code;
    if (codePoint > 0xffff) index += 1; // the low surrogate of this pair
    const char = String.fromCodePoint(codePoint);
    if (CJK.test(char)) {
      cjkChars += 1;
      inWord = false;
      continue;
    }
    if (WHITESPACE.test(char)) {
      weightedChars += 1;
      inWord = false;
      continue;
    }
    weightedChars += codePoint <= 0xffff ? NON_ASCII_WEIGHT : ASTRAL_WEIGHT;
    if (!inWord) words += 1;
    inWord = true;
  }
  // Division by 3.5 is exact whenever the true quotient is an integer; 1.3 is not representable in binary,
  // so the word term is computed in tenths (10 words → exactly 13, not 13.000000000000002 → 14).
  const byChars = Math.ceil(weightedChars / CHARS_PER_TOKEN);
  const byWords = Math.ceil((words * Math.round(TOKENS_PER_WORD * 10)) / 10);
  return cjkChars + Math.max(byChars, byWords);
}

/** Tokens one chat message costs in the prompt: its content plus {@link MESSAGE_OVERHEAD_TOKENS}. */
export function estimateMessageTokens(content: string): number {
  return estimateTokens(content) + MESSAGE_OVERHEAD_TOKENS;
}

/** Marks where text was cut. */
export const TRUNCATION_MARKER = '…';

export interface TruncateOptions {
  /** Which end of the text to keep: `start` cuts the end off, `end` cuts the beginning. Defaults to `start`. */
  keep?: 'start' | 'end';
  /** Written in front of the result and counted in the budget (a speaker label). Defaults to none. */
  prefix?: string;
  /** Put where the text was cut. Defaults to {@link TRUNCATION_MARKER}. */
  marker?: string;
}

/**
 * `prefix + text`, cut so that its estimate is at most `maxTokens`, with `marker` where the cut is. Cuts
 * between words where the kept part has a word boundary, otherwise between characters (never inside a
 * surrogate pair). Returned unchanged when it already fits; `""` when not even
 * the prefix and marker fit.
 */
export function truncateToTokens(text: string, maxTokens: number, options: TruncateOptions = {}): string {
  const { keep = 'start', prefix = '', marker = TRUNCATION_MARKER } = options;
  const whole = prefix + text;
  if (estimateTokens(whole) <= maxTokens) return whole;
  const chars = Array.from(text);
  const keptText = (kept: number): string => (keep === 'start' ? chars.slice(0, kept).join('') : chars.slice(chars.length - kept).join(''));
  const withMarker = (kept: string): string => (keep === 'start' ? prefix + kept + marker : prefix + marker + kept);
  // Counted, not remembered: each candidate cut is a new string that will not come back.
  const fits = (kept: number): boolean => countTokens(withMarker(keptText(kept))) <= maxTokens;
  if (!fits(0)) return '';
  // The estimate never decreases as more is kept, so the longest cut that fits can be bisected.
  let low = 0;
  let high = chars.length - 1;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (fits(mid)) low = mid;
    else high = mid - 1;
  }
  // Prefer to cut between words when the kept part has a word boundary; keeping less still fits.
  let kept = keptText(low);
  if (keep === 'start') {
    const cutInsideWord = /\S/u.test(chars[low] ?? ' ');
    const lastSpace = kept.search(/\s\S*$/u);
    if (cutInsideWord && lastSpace > 0) kept = kept.slice(0, lastSpace);
    kept = kept.trimEnd();
  } else {
    const cutInsideWord = /\S/u.test(chars[chars.length - low - 1] ?? ' ');
    const firstSpace = kept.search(/\s/u);
    if (cutInsideWord && firstSpace >= 0 && firstSpace < kept.length - 1) kept = kept.slice(firstSpace);
    kept = kept.trimStart();
  }
  return withMarker(kept);
}
