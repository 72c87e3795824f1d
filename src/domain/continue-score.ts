/**
 * The continue score: how much a persona wants to keep talking, 0..100, returned with every chat reply
 * (`continue_score`). In the spirit of the Generative Agents memory stream (Park et al., 2023) it is a few
 * named, normalised terms (each 0..1) added with named weights — so a number can always be explained:
 *
 *   score = 100 × clamp( 0.35·topicRelevance + 0.30·energy + 0.15·relationship + 0.20·engagement
 *                        − lengthPenalty )
 *
 * - topicRelevance: the persona's preference (0..1) for the best-liked topic the message touches;
 *   0.5 when it touches none of its topics.
 * - energy: `energyShare × (1 − 0.5·fatigue)` — a full but weary persona is only half as keen.
 * - relationship: affinity with the speaker mapped from −1..1 to 0..1.
 * - engagement: how substantive the visitor's recent messages are (length, questions).
 * - lengthPenalty: grows after a soft turn limit that depends on how sociable the persona is.
 *
 * The opening (the conversation's first message, `turnCount` 1) is judged kindly: engagement is
 * {@link OPENING_ENGAGEMENT} — whoever comes to talk is engaged; how substantive they are shows later, and
 * a greeting is short by nature — and a persona with at least {@link OPENING_MIN_ENERGY_SHARE} of its
 * energy never decides `end` (at worst `wind_down`): a persona at full energy does not turn a visitor
 * away at the first word. A persona below {@link DRAINED_ENERGY_SHARE} ends whatever the score.
 */
import type { PersonaDefinition } from './persona.js';

/** Weights of the four terms; they add up to 1, so a perfect conversation scores 100. */
export const CONTINUE_WEIGHTS = Object.freeze({
  /** What is talked about matters most: a scholar will talk about research even when tired. */
  topicRelevance: 0.35,
  energy: 0.3,
  /** A friend is easier to keep talking to, but strangers are not shut out. */
  relationship: 0.15,
  engagement: 0.2,
});

/** At or above this score the persona wants to go on. */
export const CONTINUE_THRESHOLD = 60;
/** At or above this (and below {@link CONTINUE_THRESHOLD}) the persona starts to wrap up; below, it ends. */
export const WIND_DOWN_THRESHOLD = 35;

/** Relevance of a message that touches none of the persona's topics: neither drawn in nor put off. */
export const NEUTRAL_TOPIC_RELEVANCE = 0.5;
/** How much fatigue can take off the energy term: fully fatigued halves it. */
export const FATIGUE_WEIGHT = 0.5;
/** A message this long (characters) counts as fully substantive; shorter ones proportionally less. */
export const ENGAGEMENT_SATURATION_CHARS = 200;
/** Added to a message's engagement when it asks something (a question invites an answer). */
export const QUESTION_BONUS = 0.25;
/** How many of the visitor's latest messages (including the current one) engagement looks at. */
export const ENGAGEMENT_WINDOW = 5;
/** Engagement at a conversation's first message, whatever it says (see the module comment). */
export const OPENING_ENGAGEMENT = 1;
/** At its first message a persona with at least this share of its energy never decides to end. */
export const OPENING_MIN_ENERGY_SHARE = 0.5;
/**
 * Below this share of its energy a persona has nothing left to give and ends, whatever the score (at
 * Kira's costs, about one exchange before she runs out).
 */
export const DRAINED_ENERGY_SHARE = 0.1;
/** Turns after which any conversation starts to feel long, for a persona neither extro- nor introverted. */
export const BASE_SOFT_TURN_LIMIT = 20;
/** How far sociability moves the soft limit: an extrovert (90, no introversion) gets 20 + 9 turns. */
export const SOCIABILITY_TURN_RANGE = 10;
/** Penalty per turn beyond the soft limit, and its cap (so the topic can still carry a long talk). */
export const PENALTY_PER_EXTRA_TURN = 0.02;
export const MAX_LENGTH_PENALTY = 0.3;

export type ContinueDecision = 'continue' | 'wind_down' | 'end';

export interface ContinueScoreInput {
  persona: Pick<PersonaDefinition, 'topicPreferences' | 'personalityTraits'>;
  /** The visitor's current message. */
  message: string;
  /** Current energy / maximum energy, 0..1. */
  energyShare: number;
  /** Interaction fatigue, 0..1. */
  fatigue: number;
  /** Affinity with the speaker, −1..1; defaults to 0 (a stranger). */
  relationship?: number;
  /**
   * The visitor's previous messages in this conversation, oldest first. If the last one is `message`
   * itself (callers passing the stored history, which already holds it), it is not counted twice.
   */
  recentUserMessages: string[];
  /** Exchanges so far in this conversation, including the current one (1: its first message, the opening). */
  turnCount: number;
}

export interface ContinueScoreResult {
  /** 0..100, integer. */
  score: number;
  decision: ContinueDecision;
  /** The terms before weighting (each 0..1; `lengthPenalty` 0..{@link MAX_LENGTH_PENALTY}). */
  factors: { topicRelevance: number; energy: number; relationship: number; engagement: number; lengthPenalty: number };
}

/** Computes the continue score and the decision it implies (see the module comment for the formula). */
export function continueScore(input: ContinueScoreInput): ContinueScoreResult {
  const previous = input.recentUserMessages.at(-1) === input.message ? input.recentUserMessages.slice(0, -1) : input.recentUserMessages;
  const isOpening = input.turnCount <= 1;
  const factors = {
    topicRelevance: topicRelevance(input.message, input.persona.topicPreferences),
    energy: effectiveEnergy(input.energyShare, input.fatigue),
    relationship: clamp01(((input.relationship ?? 0) + 1) / 2),
    engagement: isOpening ? OPENING_ENGAGEMENT : engagement([...previous, input.message].slice(-ENGAGEMENT_WINDOW)),
    lengthPenalty: lengthPenalty(input.turnCount, softTurnLimit(input.persona.personalityTraits)),
  };
  const raw =
    CONTINUE_WEIGHTS.topicRelevance * factors.topicRelevance +
    CONTINUE_WEIGHTS.energy * factors.energy +
    CONTINUE_WEIGHTS.relationship * factors.relationship +
    CONTINUE_WEIGHTS.engagement * factors.engagement -
    factors.lengthPenalty;
  const score = Math.round(clamp01(raw) * 100);
  return { score, decision: decideFor(score, input.energyShare, isOpening), factors };
}

/**
 * The decision for a score, after the two rules that override it: a drained persona (energy share below
 * {@link DRAINED_ENERGY_SHARE}) ends, whatever is said; at the opening, one with at least
 * {@link OPENING_MIN_ENERGY_SHARE} does not (`end` becomes `wind_down`).
 */
export function decideFor(score: number, energyShare: number, isOpening: boolean): ContinueDecision {
  if (isDrained(energyShare)) return 'end';
  const decision = decide(score);
  return isOpening && decision === 'end' && energyShare >= OPENING_MIN_ENERGY_SHARE ? 'wind_down' : decision;
}

/** Whether a persona with this share of its energy has nothing left to give: it ends, whatever is said. */
export function isDrained(energyShare: number): boolean {
  return energyShare < DRAINED_ENERGY_SHARE;
}

/** The decision the score alone implies: {@link CONTINUE_THRESHOLD}, {@link WIND_DOWN_THRESHOLD}. */
export function decide(score: number): ContinueDecision {
  if (score >= CONTINUE_THRESHOLD) return 'continue';
  if (score >= WIND_DOWN_THRESHOLD) return 'wind_down';
  return 'end';
}

/**
 * Exchanges so far in a conversation with a visitor, counting its messages (including the current one):
 * the `turnCount` of a chat turn. A persona's opening greeting (a Character Card's first message) starts
 * no exchange, so the visitor's first message is still the opening.
 */
export function exchangesSoFar(history: readonly { role: string }[]): number {
  // counted, not filtered: a turn asks this of its ~200 messages three times
  let count = 0;
  for (const message of history) if (message.role === 'user') count++;
  return Math.max(1, count);
}

/**
 * Whether a conversation with a visitor is at its opening exchange (`exchangesSoFar(history) === 1`): the
 * visitor has spoken at most once. Found from the end, where the visitor's newest messages are, so a turn
 * stops after a few messages instead of counting its ~200 (twice a turn: the persona's rest before and after it).
 */
export function isOpeningExchange(history: readonly { role: string }[]): boolean {
  let seen = 0;
  for (let index = history.length - 1; index >= 0; index--) if (history[index]!.role === 'user' && ++seen > 1) return false;
  return true;
}

/**
 * The contents of the last `count` messages of the visitor (role `user`), oldest first: the
 * `recentUserMessages` of a chat turn, found from the end instead of filtering the whole history.
 */
export function lastUserMessages(history: readonly { role: string; content: string }[], count: number): string[] {
  const found: string[] = [];
  for (let index = history.length - 1; index >= 0 && found.length < count; index--) {
    const message = history[index]!;
    if (message.role === 'user') found.push(message.content);
  }
  return found.reverse();
}

/**
 * How much energy a persona has for talking, 0..1: its energy share, reduced by up to half by fatigue.
 * Shared with the prompt's energy line so that what the persona says and what the score says agree.
 */
export function effectiveEnergy(energyShare: number, fatigue: number): number {
  return clamp01(energyShare) * (1 - FATIGUE_WEIGHT * clamp01(fatigue));
}

/**
 * Turns before a conversation starts to feel long to this persona: {@link BASE_SOFT_TURN_LIMIT} moved by
 * its sociability, (extroverted − introverted) / 100 (a missing trait counts 0), times
 * {@link SOCIABILITY_TURN_RANGE}. Aria (extroverted 90) → 29 turns; Kira (introverted 70) → 13.
 */
export function softTurnLimit(traits: Record<string, number>): number {
  const sociability = ((traits['extroverted'] ?? 0) - (traits['introverted'] ?? 0)) / 100;
  return BASE_SOFT_TURN_LIMIT + Math.round(SOCIABILITY_TURN_RANGE * Math.max(-1, Math.min(1, sociability)));
}

/** `PENALTY_PER_EXTRA_TURN` per turn beyond the soft limit, at most `MAX_LENGTH_PENALTY`. */
export function lengthPenalty(turnCount: number, softLimit: number): number {
  const extraTurns = Math.max(0, turnCount - softLimit);
  return Math.min(MAX_LENGTH_PENALTY, Math.round(extraTurns * PENALTY_PER_EXTRA_TURN * 1e9) / 1e9);
}

/**
 * Average engagement of the messages: each is `min(1, length / 200)`, plus {@link QUESTION_BONUS} when it
 * contains a question mark, capped at 1. No messages → 0.
 */
export function engagement(messages: string[]): number {
  if (messages.length === 0) return 0;
  let total = 0;
  for (const message of messages) {
    const text = message.trim();
    const substance = Math.min(1, text.length / ENGAGEMENT_SATURATION_CHARS);
    total += Math.min(1, substance + (text.includes('?') ? QUESTION_BONUS : 0));
  }
  return total / messages.length;
}

/**
 * Words that, in a topic of several words, say nothing alone ("talk" in "small talk" would otherwise
 * match "let's talk about magic"). Such a topic still matches as a whole phrase or by its synonyms.
 */
const GENERIC_TOPIC_WORDS = new Set(['small', 'talk', 'local', 'general', 'the', 'a', 'of', 'and', 'in', 'on']);

/**
 * Words and phrases that signal a common topic without naming it, written as plain words; they are
 * stemmed like the message. Keys are topic names as personas use them (lower-case).
 */
export const TOPIC_SYNONYMS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  music: ['song', 'sing', 'melody', 'lute', 'ballad', 'tune', 'instrument'],
  magic: ['spell', 'arcane', 'enchant', 'enchantment', 'wizard', 'sorcery'],
  research: ['study', 'experiment', 'evidence', 'hypothesis', 'theory'],
  history: ['ancient', 'past', 'era', 'century', 'historical'],
  books: ['book', 'read', 'library', 'tome', 'manuscript'],
  philosophy: ['meaning', 'ethics', 'truth', 'moral', 'wisdom'],
  travel: ['journey', 'road', 'voyage', 'trip'],
  adventure: ['quest', 'dungeon', 'dragon', 'treasure'],
  gossip: ['rumor', 'rumour', 'heard', 'secret', 'scandal'],
  art: ['painting', 'paint', 'sculpture', 'artist'],
  stories: ['story', 'tale', 'legend', 'myth'],
  discovery: ['discover', 'found', 'new', 'invention'],
  'small talk': ['weather', 'hello', 'hi', 'how are you'],
  'local news': ['town', 'village', 'market'],
});

/** Words whose trailing "s" is not a plural ("news" must not become "new"). */
const STEM_EXCEPTIONS = new Set(['news', 'this', 'was', 'has', 'is', 'its', 'yes', 'us', 'always', 'series', 'physics']);

/**
 * Light stemming, enough to match "songs"/"song", "singing"/"sing", "stories"/"story": lower-case, drop a
 * possessive "'s", then "ies" → "y", a trailing "ing" or "ed" (words longer than 5), or a trailing "s"
 * (not "ss").
 */
export function stem(word: string): string {
  let w = word.toLowerCase();
  // Most words have no apostrophe: the two replacements are skipped for them (every word of every message).
  if (hasApostrophe(w)) w = w.replace(/['’]s$/, '').replace(/['’]/g, '');
  if (STEM_EXCEPTIONS.has(w)) return w;
  if (w.length > 4 && w.endsWith('ies')) return `${w.slice(0, -3)}y`;
  if (w.length > 5 && w.endsWith('ing')) return w.slice(0, -3);
  if (w.length > 5 && w.endsWith('ed')) return w.slice(0, -2);
  if (w.length > 3 && w.endsWith('s') && !w.endsWith('ss')) w = w.slice(0, -1);
  return w;
}

/** Whether a word holds an apostrophe (' or ’): the test that spares most words a regex replacement. */
export function hasApostrophe(word: string): boolean {
  return word.includes("'") || word.includes('’');
}

/** The word without its apostrophes ("don't" → "dont"), the word itself when it has none (no replacement run). */
export function withoutApostrophes(word: string): string {
  return hasApostrophe(word) ? word.replace(/['’]/g, '') : word;
}

function stemWords(text: string): string[] {
  return (text.toLowerCase().match(/[\p{L}\p{N}'’]+/gu) ?? []).map(stem).filter((w) => w.length > 0);
}

/** A message's stemmed words, in order and as a set (most phrases are one word: a set lookup answers them). */
interface MessageWords {
  list: readonly string[];
  set: ReadonlySet<string>;
}

function containsPhrase(words: MessageWords, phrase: readonly string[]): boolean {
  if (phrase.length === 0) return false;
  if (phrase.length === 1) return words.set.has(phrase[0]!);
  for (const word of phrase) if (!words.set.has(word)) return false;
  const { list } = words;
  for (let i = 0; i + phrase.length <= list.length; i++) {
    let isMatch = true;
    for (let j = 0; j < phrase.length && isMatch; j++) isMatch = list[i + j] === phrase[j];
    if (isMatch) return true;
  }
  return false;
}

/** Phrases (topics, synonyms) remembered stemmed; a persona's topics are a handful, the same on every turn. */
const STEMMED_PHRASES = new Map<string, readonly string[]>();
/** Bound on {@link STEMMED_PHRASES}: personas' topics are user data; past it the oldest is forgotten. */
const MAX_STEMMED_PHRASES = 2_048;

/** `stemWords(phrase)`, remembered: a topic and its synonyms were stemmed again for every message. */
function stemmedPhrase(phrase: string): readonly string[] {
  let words = STEMMED_PHRASES.get(phrase);
  if (words === undefined) {
    words = stemWords(phrase);
    if (STEMMED_PHRASES.size >= MAX_STEMMED_PHRASES) STEMMED_PHRASES.delete(STEMMED_PHRASES.keys().next().value as string);
    STEMMED_PHRASES.set(phrase, words);
  }
  return words;
}

/** A topic as it is matched: its stemmed words, the significant ones of a several-word topic, its stemmed synonyms. */
interface TopicMatcher {
  words: readonly string[];
  significant: readonly string[];
  synonyms: ReadonlyArray<readonly string[]>;
}

/** Topics' matchers, remembered by topic name (bounded as {@link STEMMED_PHRASES}): the same few on every turn. */
const TOPIC_MATCHERS = new Map<string, TopicMatcher>();

function topicMatcher(topic: string): TopicMatcher {
  let matcher = TOPIC_MATCHERS.get(topic);
  if (matcher === undefined) {
    const words = stemmedPhrase(topic);
    matcher = {
      words,
      significant: words.length > 1 ? words.filter((word) => !GENERIC_TOPIC_WORDS.has(word)) : [],
      synonyms: (TOPIC_SYNONYMS[topic.trim().toLowerCase()] ?? []).map(stemmedPhrase),
    };
    if (TOPIC_MATCHERS.size >= MAX_STEMMED_PHRASES) TOPIC_MATCHERS.delete(TOPIC_MATCHERS.keys().next().value as string);
    TOPIC_MATCHERS.set(topic, matcher);
  }
  return matcher;
}

/** Whether the (stemmed) message words touch the topic: its name, a significant word of it, or a synonym. */
function touchesTopic(words: MessageWords, topic: string): boolean {
  const matcher = topicMatcher(topic);
  if (containsPhrase(words, matcher.words)) return true;
  for (const word of matcher.significant) if (words.set.has(word)) return true;
  return matcher.synonyms.some((synonym) => containsPhrase(words, synonym));
}

/**
 * Relevance of a message to the persona, 0..1: preference / 100 of the best-liked topic it touches (a
 * message about gossip *and* research interests Kira for the research), or
 * {@link NEUTRAL_TOPIC_RELEVANCE} when it touches none.
 */
export function topicRelevance(message: string, topicPreferences: Record<string, number>): number {
  const list = stemWords(message);
  const words: MessageWords = { list, set: new Set(list) };
  let best: number | null = null;
  for (const [topic, preference] of Object.entries(topicPreferences)) {
    if (touchesTopic(words, topic) && (best === null || preference > best)) best = preference;
  }
  return best === null ? NEUTRAL_TOPIC_RELEVANCE : clamp01(best / 100);
}

function clamp01(value: number): number {
  if (Number.isNaN(value)) return 0;
  return Math.max(0, Math.min(1, value));
}
