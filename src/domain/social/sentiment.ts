/**
 * A small, documented sentiment heuristic: how warm or hostile a message is, −1..1. It is what
 * relationship and mood updates use when no LLM judgement is available (and the fallback when the
 * model cannot be reached), so it must be cheap, deterministic and explainable:
 *
 *   sentiment = (positive − negative) / (positive + negative + SENTIMENT_SMOOTHING)
 *
 * - positive / negative: how many words of the message are in the lexicons below (stemmed like the
 *   continue score's topics, so "loved"/"loves" count as "love"); a negator ("not", "never", "no",
 *   "n't") up to {@link NEGATION_WINDOW} words before a word flips it ("not bad" is mildly positive);
 * - each "!" in a message that already leans one way strengthens that lean by one word's worth, at most
 *   {@link MAX_EXCLAMATION_BOOST};
 * - SMOOTHING keeps one word from saying everything: "thanks" alone is 1 / (1 + 2) = 0.33, while a
 *   message with three warm words and no cold one is 3 / 5 = 0.6.
 */
import { hasApostrophe, stem, withoutApostrophes } from '../continue-score.js';

/** Added to the denominator so that a single word gives a modest score (1 word → ±0.33). */
export const SENTIMENT_SMOOTHING = 2;
/** A negator flips lexicon words up to this many words after it ("not very good"). */
export const NEGATION_WINDOW = 2;
/** At most this many "!" count towards the lean. */
export const MAX_EXCLAMATION_BOOST = 2;

/** Words of warmth, thanks, praise and enjoyment (stemmed when compared). */
export const POSITIVE_WORDS: readonly string[] = Object.freeze([
  'love',
  'like',
  'enjoy',
  'thank',
  'thanks',
  'great',
  'good',
  'wonderful',
  'amazing',
  'beautiful',
  'lovely',
  'happy',
  'glad',
  'delight',
  'delightful',
  'fascinating',
  'interesting',
  'brilliant',
  'excellent',
  'kind',
  'friend',
  'fun',
  'agree',
  'appreciate',
  'awesome',
  'fantastic',
  'nice',
  'sweet',
  'charming',
  'clever',
  'wise',
  'marvelous',
  'marvellous',
  'perfect',
  'admire',
  'hope',
  'welcome',
  'laugh',
  'smile',
  'care',
  'trust',
  'please',
  'pleasure',
  'cheer',
  'warm',
  'right',
  'yes',
  'wow',
  'excite',
  'exciting',
  'excited',
  'curious',
  'inspire',
  'inspiring',
  'respect',
  'impressive',
]);

/** Words of hostility, complaint, contempt and distress (stemmed when compared). */
export const NEGATIVE_WORDS: readonly string[] = Object.freeze([
  'hate',
  'dislike',
  'bad',
  'terrible',
  'awful',
  'horrible',
  'stupid',
  'idiot',
  'dumb',
  'boring',
  'bored',
  'annoy',
  'annoying',
  'angry',
  'mad',
  'sad',
  'wrong',
  'liar',
  'lie',
  'ugly',
  'worst',
  'useless',
  'pathetic',
  'shut',
  'rude',
  'disgusting',
  'fool',
  'foolish',
  'ridiculous',
  'nonsense',
  'disagree',
  'tired',
  'upset',
  'afraid',
  'fear',
  'hurt',
  'cruel',
  'mean',
  'sorry',
  'fail',
  'failure',
  'waste',
  'worse',
  'blame',
  'insult',
  'dull',
  'tedious',
  'irritating',
]);

const NEGATORS = new Set([
  'not',
  'no',
  'never',
  'nothing',
  'hardly',
  'without',
  'dont',
  'doesnt',
  'didnt',
  'isnt',
  'wasnt',
  'cant',
  'wont',
  'arent',
]);

const POSITIVE = new Set(POSITIVE_WORDS.map(stem));
const NEGATIVE = new Set(NEGATIVE_WORDS.map(stem));

export interface SentimentResult {
  /** −1..1, rounded to 3 decimals. */
  score: number;
  /** Lexicon hits after negation and the exclamation boost. */
  positive: number;
  negative: number;
}

/** Scores a message's warmth (see the module comment for the formula). */
export function sentiment(text: string): SentimentResult {
  // Most words have no apostrophe: both replacements below are skipped for them (a regex call each, per word).
  const words = (text.toLowerCase().match(/[\p{L}\p{N}'’]+/gu) ?? []).map((word) => (hasApostrophe(word) ? word.replace(/n['’]t$/, 'nt') : word));
  let positive = 0;
  let negative = 0;
  let negateFor = 0;
  for (const raw of words) {
    const plain = withoutApostrophes(raw);
    if (NEGATORS.has(plain)) {
      negateFor = NEGATION_WINDOW;
      continue;
    }
    const word = stem(raw);
    const negated = negateFor > 0;
    if (negateFor > 0) negateFor -= 1;
    if (POSITIVE.has(word)) {
      if (negated) negative += 1;
      else positive += 1;
    } else if (NEGATIVE.has(word)) {
      if (negated) positive += 1;
      else negative += 1;
    }
  }
  const exclamations = Math.min(MAX_EXCLAMATION_BOOST, (text.match(/!/g) ?? []).length);
  if (positive > negative) positive += exclamations;
  else if (negative > positive) negative += exclamations;
  const score = (positive - negative) / (positive + negative + SENTIMENT_SMOOTHING);
  return { score: round3(score), positive, negative };
}

/**
 * The quality of one exchange for the relationship between the two sides, −1..1: mostly how the
 * speaker treated the listener ({@link SPEAKER_SHARE}), partly the tone of the answer.
 */
export const SPEAKER_SHARE = 0.7;

export function exchangeQuality(spoken: string, answer: string): number {
  return round3(SPEAKER_SHARE * sentiment(spoken).score + (1 - SPEAKER_SHARE) * sentiment(answer).score);
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000 || 0;
}
