/**
 * Topic threads: a conversation's messages grouped by what they are about. A message joins the
 * current thread, goes back to an earlier thread it resembles, or opens a new one:
 *
 * - Each message becomes a vector: counts of its stemmed content words (stop-words dropped) — a
 *   lexical embedding that needs no model, so threading works offline and is exactly testable.
 * - A thread's centroid is the sum of its messages' vectors (recent and old weigh the same).
 * - similarity = cosine(message, centroid). A message with fewer than {@link MIN_CONTENT_WORDS}
 *   content words ("yes!", "go on") says too little to change topic and stays in the current thread.
 * - If similarity to the current thread ≥ {@link THREAD_SIMILARITY_THRESHOLD}, stay. Else the most
 *   similar earlier thread at or above the threshold is resumed (returning to a topic brings its
 *   context back). Else a new thread starts.
 *
 * The threshold 0.12 was chosen on the shipped personas' test dialogues: follow-ups on one topic share
 * at least one content word among ~8 (cosine ≈ 0.15–0.4), while a clear change of subject shares none
 * (cosine 0).
 *
 * An explicit branch (`conversation.branch`) is **held**: while it is current it takes every message —
 * detection never splits it, not even on its first message when it is still empty — until the user
 * returns. Only a message of the user can leave a held branch, and only by a *clear return* to an
 * earlier thread: similarity ≥ {@link CLEAR_RETURN_SIMILARITY} with it, or ≥ the ordinary threshold when
 * the message says it goes back ("back to the elves", "anyway, as I was saying"; {@link hasReturnCue}),
 * and in both cases more similar to that thread than to the branch. The user can also go back
 * explicitly (`conversation.branch {"back": true}` or `{"thread_id": …}`).
 */
import { stem, withoutApostrophes } from '../continue-score.js';

export const THREAD_SIMILARITY_THRESHOLD = 0.12;
export const MIN_CONTENT_WORDS = 3;
/** Words in a thread label (its most frequent content words). */
export const LABEL_WORDS = 3;
/**
 * Similarity with an earlier thread that takes a user's message out of a held branch without a return
 * cue: two or three shared words among a handful, well above the 0.12 at which detection stays.
 */
export const CLEAR_RETURN_SIMILARITY = 0.3;

/** Phrases with which people take a conversation back to something said before (lower-case, whole words). */
export const RETURN_CUES: readonly string[] = Object.freeze([
  'back to',
  'go back',
  'going back',
  'get back',
  'come back to',
  'coming back to',
  'return to',
  'returning to',
  'as i was saying',
  'as we were saying',
  'where were we',
  'anyway',
  'anyways',
  'earlier you',
  'you mentioned',
  'you were saying',
]);

/**
 * A message's lower-case words (letters, digits, apostrophes), what {@link termVector} and
 * {@link hasReturnCue} read: split once when a message is filed, for both.
 */
export function messageWords(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}'’]+/gu) ?? [];
}

/** {@link RETURN_CUES} with a space either side, as they are looked for (built once, not per cue per message). */
const SPACED_RETURN_CUES = RETURN_CUES.map((cue) => ` ${cue} `);

/** Whether the text says it takes the talk back to an earlier topic (one of {@link RETURN_CUES}). */
export function hasReturnCue(text: string, words: readonly string[] = messageWords(text)): boolean {
  const spaced = ` ${words.join(' ')} `;
  return SPACED_RETURN_CUES.some((cue) => spaced.includes(cue));
}

const STOP_WORDS = new Set(
  (
    'a an the and or but if then so of to in on at by for with from about as into over after before is are was were be been being am ' +
    'do does did have has had i you he she it we they me him her us them my your his its our their this that these those there here ' +
    'what which who whom whose when where why how all any some no not yes can could would should will shall may might must just very ' +
    'really too also than more most much many such own same other only now up down out off again once tell say said let lets me oh ' +
    'well like know think want go get got make made thing things something anything one ever yet still dont im ive youre thats'
  ).split(/\s+/),
);

export type TermVector = Record<string, number>;

/** The message's content words, stemmed, with counts. */
export function termVector(text: string, words: readonly string[] = messageWords(text)): TermVector {
  const vector: TermVector = {};
  for (const raw of words) {
    const word = contentWord(raw);
    if (word.length > 0) vector[word] = countOf(vector, word) + 1;
  }
  return vector;
}

/** Content words by the token they come from ("" for a stop-word or a short one); a conversation repeats its words. */
const CONTENT_WORDS = new Map<string, string>();
/** Bound on {@link CONTENT_WORDS} (tokens are user text): past it, it starts over. */
const MAX_CONTENT_WORDS = 20_000;

/** A lower-case token's stemmed content word, or "" when it is none (too short, a stop-word). */
function contentWord(raw: string): string {
  let word = CONTENT_WORDS.get(raw);
  if (word === undefined) {
    const plain = withoutApostrophes(raw);
    const stemmed = plain.length < 3 || STOP_WORDS.has(plain) ? '' : stem(raw);
    word = stemmed.length < 3 || STOP_WORDS.has(stemmed) ? '' : stemmed;
    if (CONTENT_WORDS.size >= MAX_CONTENT_WORDS) CONTENT_WORDS.clear();
    CONTENT_WORDS.set(raw, word);
  }
  return word;
}

export function contentWordCount(vector: TermVector): number {
  return Object.values(vector).reduce((sum, count) => sum + count, 0);
}

/**
 * Squared lengths of the vectors a similarity was measured against (thread centroids), kept up to date
 * by {@link addToVector}: a long thread's centroid has thousands of words, and summing them all again
 * for every message filed grew the filing with the conversation. Counts are whole numbers, so the
 * running sum is exact.
 */
const squaredNorms = new WeakMap<TermVector, number>();

function squaredNorm(vector: TermVector): number {
  let norm = squaredNorms.get(vector);
  if (norm === undefined) {
    norm = 0;
    for (const word in vector) norm += vector[word]! * vector[word]!;
    squaredNorms.set(vector, norm);
  }
  return norm;
}

export function cosineSimilarity(a: TermVector, b: TermVector): number {
  let dot = 0;
  let normA = 0;
  for (const word in a) {
    const count = a[word]!;
    normA += count * count;
    dot += count * countOf(b, word);
  }
  const normB = squaredNorm(b);
  return normA === 0 || normB === 0 ? 0 : Math.round((dot / Math.sqrt(normA * normB)) * 10_000) / 10_000;
}

export function addVectors(a: TermVector, b: TermVector): TermVector {
  return addToVector({ ...a }, b);
}

/**
 * Adds `b` into `target` and returns it: a thread's centroid grows by each message, and copying a
 * centroid of a long thread (thousands of words) for every message filed cost more than the filing.
 */
export function addToVector(target: TermVector, b: TermVector): TermVector {
  let norm = squaredNorms.get(target);
  let top = labelWords.get(target);
  for (const word in b) {
    const added = b[word]!;
    const before = countOf(target, word);
    const after = before + added;
    target[word] = after;
    if (norm !== undefined) norm += after * after - before * before;
    // Only the words added to can climb into the label; a count that falls could let any word in.
    if (top !== undefined) top = added > 0 ? (rankInto(top, word, after) ?? undefined) : undefined;
  }
  if (norm !== undefined) squaredNorms.set(target, norm);
  if (top === undefined) labelWords.delete(target);
  else labelWords.set(target, top);
  return target;
}

/** A word's count; own properties only, so "constructor" or "toString" in a message count like any word. */
function countOf(vector: TermVector, word: string): number {
  return Object.hasOwn(vector, word) ? vector[word]! : 0;
}

export interface ThreadSummary {
  id: number;
  centroid: TermVector;
  /** Opened by `conversation.branch`: held while current (see the module comment). */
  isBranch?: boolean;
  /** Messages filed in it so far (an empty branch waits for the user's next message). */
  messageCount?: number;
}

/** Who said the message, and whether it says it goes back ({@link hasReturnCue}). */
export interface MessageOrigin {
  fromUser: boolean;
  hasReturnCue: boolean;
  /** For a persona's reply: the thread of the message before it (the one it answers), if that was filed. */
  answersThreadId?: number | null;
}

export type ThreadDecision =
  | { kind: 'stay'; threadId: number; similarity: number }
  /** The current thread is a held branch and the message is not a clear return. */
  | { kind: 'hold'; threadId: number; similarity: number }
  | { kind: 'resume'; threadId: number; similarity: number }
  /**
   * A persona's reply that was still being generated when the user opened a branch: it answers a message
   * of another thread, so it is filed there, and the (still empty) branch stays current.
   */
  | { kind: 'answer'; threadId: number; similarity: number }
  | { kind: 'new'; bestSimilarity: number };

/**
 * Where a message belongs (see the module comment). `currentId` is null before the first thread;
 * `origin` defaults to a user's message without a return cue.
 */
export function assignThread(
  message: TermVector,
  threads: readonly ThreadSummary[],
  currentId: number | null,
  origin: MessageOrigin = { fromUser: true, hasReturnCue: false },
): ThreadDecision {
  const current = threads.find((thread) => thread.id === currentId);
  if (current?.isBranch === true) return holdOrReturn(message, threads, current, origin);
  if (current !== undefined && contentWordCount(message) < MIN_CONTENT_WORDS)
    return { kind: 'stay', threadId: current.id, similarity: cosineSimilarity(message, current.centroid) };
  if (current === undefined && threads.length === 0) return { kind: 'new', bestSimilarity: 0 };
  if (current !== undefined) {
    const similarity = cosineSimilarity(message, current.centroid);
    if (similarity >= THREAD_SIMILARITY_THRESHOLD) return { kind: 'stay', threadId: current.id, similarity };
  }
  let best: { id: number; similarity: number } | null = null;
  for (const thread of threads) {
    if (thread.id === currentId) continue;
    const similarity = cosineSimilarity(message, thread.centroid);
    if (best === null || similarity > best.similarity) best = { id: thread.id, similarity };
  }
  if (best !== null && best.similarity >= THREAD_SIMILARITY_THRESHOLD)
    return { kind: 'resume', threadId: best.id, similarity: best.similarity };
  if (current === undefined && contentWordCount(message) < MIN_CONTENT_WORDS && threads.length > 0) {
    // No current thread but some exist (should not happen): join the newest rather than splitting on a short message.
    const newest = threads[threads.length - 1]!;
    return { kind: 'stay', threadId: newest.id, similarity: 0 };
  }
  return {
    kind: 'new',
    bestSimilarity: Math.max(best?.similarity ?? 0, current === undefined ? 0 : cosineSimilarity(message, current.centroid)),
  };
}

/** Inside a held branch: stay, unless the user clearly returns to an earlier thread. */
function holdOrReturn(
  message: TermVector,
  threads: readonly ThreadSummary[],
  branch: ThreadSummary,
  origin: MessageOrigin,
): ThreadDecision {
  const similarity = cosineSimilarity(message, branch.centroid);
  const hold: ThreadDecision = { kind: 'hold', threadId: branch.id, similarity };
  const answered = threads.find((thread) => thread.id === origin.answersThreadId && thread.id !== branch.id);
  if (!origin.fromUser && branch.messageCount === 0 && answered !== undefined)
    return { kind: 'answer', threadId: answered.id, similarity: cosineSimilarity(message, answered.centroid) };
  if (!origin.fromUser || contentWordCount(message) < MIN_CONTENT_WORDS) return hold;
  const needed = origin.hasReturnCue ? THREAD_SIMILARITY_THRESHOLD : CLEAR_RETURN_SIMILARITY;
  let best: { id: number; similarity: number } | null = null;
  for (const thread of threads) {
    if (thread.id === branch.id) continue;
    const candidate = cosineSimilarity(message, thread.centroid);
    if (best === null || candidate > best.similarity) best = { id: thread.id, similarity: candidate };
  }
  if (best !== null && best.similarity >= needed && best.similarity > similarity)
    return { kind: 'resume', threadId: best.id, similarity: best.similarity };
  return hold;
}

/**
 * The label words of centroids (with their counts), kept by {@link addToVector}: a long thread's label
 * was worked out from its whole centroid (thousands of words) for every message filed. Counts only grow
 * as messages are added, so the new top words are among the old ones and the words just added to.
 */
const labelWords = new WeakMap<TermVector, readonly [string, number][]>();

/** A short name for a thread: its {@link LABEL_WORDS} most frequent content words (ties alphabetical). */
export function threadLabel(centroid: TermVector): string {
  let top = labelWords.get(centroid);
  if (top === undefined) {
    top = topWords(centroid);
    labelWords.set(centroid, top);
  }
  return top.length === 0 ? 'small talk' : top.map(([word]) => word).join(', ');
}

/**
 * The {@link LABEL_WORDS} most frequent words by one pass (a sort of a long thread's every word cost more
 * than the filing); the same order as sorting all: count, then alphabetical, then first seen.
 */
function topWords(centroid: TermVector): [string, number][] {
  const top: [string, number][] = [];
  for (const word in centroid) {
    const count = centroid[word]!;
    if (top.length === LABEL_WORDS && !ranksBefore(word, count, top[LABEL_WORDS - 1]!)) continue;
    let at = top.length;
    while (at > 0 && ranksBefore(word, count, top[at - 1]!)) at--;
    top.splice(at, 0, [word, count]);
    if (top.length > LABEL_WORDS) top.pop();
  }
  return top;
}

/**
 * `top` with `word` now at `count` (its earlier entry replaced), ranked and cut to {@link LABEL_WORDS};
 * null when the order would depend on which word came first (two different words the collation deems
 * equal): the label is then worked out from the whole centroid again.
 */
function rankInto(top: readonly [string, number][], word: string, count: number): readonly [string, number][] | null {
  const index = top.findIndex(([other]) => other === word);
  if (index < 0 && top.length === LABEL_WORDS && !ranksBefore(word, count, top[LABEL_WORDS - 1]!)) {
    return top.some(([other, otherCount]) => otherCount === count && other.localeCompare(word) === 0) ? null : top;
  }
  const ranked = top.filter((_, position) => position !== index);
  if (ranked.some(([other, otherCount]) => otherCount === count && other.localeCompare(word) === 0)) return null;
  let at = ranked.length;
  while (at > 0 && ranksBefore(word, count, ranked[at - 1]!)) at--;
  ranked.splice(at, 0, [word, count]);
  if (ranked.length > LABEL_WORDS) ranked.pop();
  return ranked;
}

function ranksBefore(word: string, count: number, [other, otherCount]: [string, number]): boolean {
  return count !== otherCount ? count > otherCount : word.localeCompare(other) < 0;
}

/** The last of the filings of each thread, in the order of those last filings (each thread written once). */
export function lastFilingOfEachThread<T extends { threadId: number }>(filings: readonly T[]): T[] {
  const last = new Map<number, T>();
  for (const filing of filings) {
    last.delete(filing.threadId);
    last.set(filing.threadId, filing);
  }
  return [...last.values()];
}

/**
 * Each filing's thread message count after it, when several messages are filed at once: a thread's
 * count after its last filing is `finalCounts`'s, and each earlier filing of it had the messages filed
 * after it fewer (`isFiled` false: the message was gone and nothing was filed).
 */
export function countsAfterFilings(threadIds: readonly number[], isFiled: readonly boolean[], finalCounts: ReadonlyMap<number, number>): number[] {
  const counts = threadIds.map(() => 0);
  const running = new Map(finalCounts);
  for (let index = threadIds.length - 1; index >= 0; index--) {
    const threadId = threadIds[index]!;
    const count = running.get(threadId) ?? 0;
    counts[index] = count;
    if (isFiled[index] === true) running.set(threadId, count - 1);
  }
  return counts;
}
