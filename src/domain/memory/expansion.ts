/**
 * Offline paraphrase recall (docs/memory.md, "Paraphrase recall"): a memory and a query that share no
 * word often share a meaning WordNet knows — "Canada" is a country, a dog and a pet are both animals.
 * Each content word is looked up (by its lemma: "dogs" → "dog", "moved" → "move") in a compact thesaurus
 * compiled from WordNet at build time (the kind of thing it is, synonyms, close links, two levels of
 * broader terms, definition nouns; at most 16 per word, most frequent senses first; scripts/build-wordnet.mjs),
 * and the terms found are added:
 *
 * - to the stored memory, as a separate full-text column weighted below the memory's own words
 *   (`RECALL_TERMS_WEIGHT`), so a query word matching only an expansion counts less than a real match;
 * - to the query, as extra alternatives, so the query's broader words meet the memory's.
 *
 * Measured on the paraphrase set (bench/memory/eval.ts), this is what carries paraphrase recall without
 * a sentence-embedding model. Expanding the hashed vectors instead hurt word-form recall (issue 13), so
 * the expansion lives in full-text search only.
 */
import { contentWords } from './text.js';
import { factSlotTerms } from './question.js';

/** Synonyms and broader terms of a lemma, best first; undefined for a word WordNet does not know. */
export interface Thesaurus {
  /** Identifies the table (changes when it is rebuilt differently), recorded with each expanded memory. */
  readonly version: string;
  terms(lemma: string): readonly string[] | undefined;
  /** Lemmas of an irregular form ("broke" → "break", "children" → "child"), from WordNet's exception lists. */
  bases?(form: string): readonly string[] | undefined;
}

/** A thesaurus that knows no word: search without paraphrase recall (no table built). */
export const EMPTY_THESAURUS: Thesaurus = { version: 'none', terms: () => undefined };

/**
 * Version of the rules `recallTermsOf` applies besides the table (`factSlotTerms`): part of the
 * thesaurus version memories are expanded with, so a change re-expands stored memories (the
 * `memory.expand` job).
 */
export const RECALL_TERMS_RULES = 2;

/** BM25 weight of the expansion column relative to the memory's own words (1). */
export const RECALL_TERMS_WEIGHT = 0.35;
/** Expansion terms taken per query word (the stored side keeps all of the table's, up to ~10). */
export const QUERY_TERMS_PER_WORD = 16;
/** Expansion terms a query may add in all (bounds the full-text work of a long message). */
export const MAX_QUERY_EXPANSION = 48;

/**
 * WordNet's "morphy" detachment rules: inflectional endings and what replaces them. The candidates are
 * tried in order and the first one the thesaurus knows wins (irregular forms are left to the stemmer).
 */
const DETACHMENTS: ReadonlyArray<readonly [string, string]> = [
  ['ies', 'y'],
  ['ches', 'ch'],
  ['shes', 'sh'],
  ['sses', 'ss'],
  ['xes', 'x'],
  ['zes', 'z'],
  ['ses', 's'],
  ['men', 'man'],
  ['es', 'e'],
  ['es', ''],
  ['s', ''],
  ['ied', 'y'],
  ['ed', 'e'],
  ['ed', ''],
  ['ing', 'e'],
  ['ing', ''],
  ['est', 'e'],
  ['est', ''],
  ['er', 'e'],
  ['er', ''],
];

/** The first lemma of `word` the thesaurus knows ("dogs" → "dog", "stopped" → "stop", "grew" → "grow"), or null. */
export function lemmaOf(word: string, thesaurus: Thesaurus): string | null {
  return lemmasOf(word, thesaurus)[0] ?? null;
}

/**
 * Lemmas a word's terms are taken from (besides an irregular form's bases). One: taking the terms of a
 * second lemma too ("married": the adjective and "marry") raised labelled paraphrase recall@5 (0.48 →
 * 0.54) but lowered the held-out set's (0.72 → 0.70) and the at-scale case's (0.70 → 0.65): more terms
 * per word, more chance matches (bench/memory/eval.ts, docs/memory.md).
 */
export const MAX_LEMMAS_PER_WORD = 1;

/**
 * The lemmas of `word` the thesaurus knows, as WordNet's morphy finds them: the word itself or else what
 * the detachment rules give ("dogs" → "dog"), at most MAX_LEMMAS_PER_WORD, then the bases of an
 * irregular form from WordNet's exception lists ("grew" → "grow", "broke" → "break", "children" →
 * "child"), which the suffix rules and the Porter stemmer cannot find.
 */
export function lemmasOf(word: string, thesaurus: Thesaurus): string[] {
  return [...keptFor(keptLemmas, thesaurus, word, () => findLemmas(word, thesaurus))];
}

/**
 * Each thesaurus's answers of {@link lemmasOf}, by word: the same words come back in every message and
 * every memory formed, and the detachment rules with their lookups were a quarter of the expansion's CPU
 * (a loop over the chat bench's messages: 16–19 → 12.6 µs per message). A thesaurus never changes once
 * parsed.
 */
const keptLemmas = new WeakMap<Thesaurus, Map<string, readonly string[]>>();
/** Bound on the words kept per thesaurus (words are user text): past it, it starts over. */
const MAX_KEPT_LEMMAS = 50_000;

/** `make()`'s answer for `word`, kept per thesaurus (at most MAX_KEPT_LEMMAS words each). */
function keptFor<T>(kept: WeakMap<Thesaurus, Map<string, T>>, thesaurus: Thesaurus, word: string, make: () => T): T {
  let byWord = kept.get(thesaurus);
  if (byWord === undefined) {
    byWord = new Map();
    kept.set(thesaurus, byWord);
  }
  let value = byWord.get(word);
  if (value === undefined) {
    value = make();
    if (byWord.size >= MAX_KEPT_LEMMAS) byWord.clear();
    byWord.set(word, value);
  }
  return value;
}

function findLemmas(word: string, thesaurus: Thesaurus): string[] {
  const found: string[] = [];
  const add = (candidate: string): void => {
    if (!found.includes(candidate) && thesaurus.terms(candidate) !== undefined) found.push(candidate);
  };
  const irregular = thesaurus.bases?.(word) ?? [];
  add(word);
  for (const [ending, replacement] of DETACHMENTS) {
    if (found.length >= MAX_LEMMAS_PER_WORD) break;
    if (!word.endsWith(ending) || word.length - ending.length < 2) continue;
    const base = word.slice(0, word.length - ending.length) + replacement;
    add(base);
    const last = base.at(-1);
    if (replacement === '' && base.length > 2 && last === base.at(-2)) add(base.slice(0, -1));
  }
  return [...found.slice(0, MAX_LEMMAS_PER_WORD), ...irregular.filter((base) => !found.includes(base) && thesaurus.terms(base) !== undefined)];
}

/**
 * The expansion terms of a text: for each content word, the thesaurus terms of its lemmas (taken in
 * turn, up to `perWord`), without the text's own words and without repeats, at most `max` in all.
 */
export function expansionTerms(text: string, thesaurus: Thesaurus, perWord = Infinity, max = Infinity): string[] {
  // Run once a turn for the recall's query and twice for each memory formed: the text's distinct words
  // are the first `distinct` entries of `own` (which the lemmas then join), not a second set.
  const own = new Set(contentWords(text));
  const distinct = own.size;
  const found: string[] = [];
  const seen = new Set<string>();
  let visited = 0;
  for (const word of own) {
    if (visited++ === distinct) break;
    const candidates = candidatesOf(word, thesaurus);
    if (candidates === null) continue;
    const { lemmas, bases } = candidates;
    // An irregular form's lemma is a term itself ("grew" → "grow"): the stemmer cannot join the two, so
    // a query saying "grow" finds "I grew up" through it. Regular forms need not: they share a stem.
    const irregular = bases.length === 0 ? bases : bases.filter((base) => !own.has(base));
    for (const lemma of lemmas) if (!irregular.includes(lemma)) own.add(lemma);
    // The word's terms in the order they are taken (kept per word); a base the text already holds leaves
    // the irregular list shorter, which changes that order: made afresh then.
    const order = irregular.length === bases.length ? candidates.order : takingOrder([irregular, ...candidates.lists]);
    let taken = 0;
    for (const term of order) {
      if (taken >= perWord || found.length >= max) break;
      if (own.has(term) || seen.has(term)) continue;
      seen.add(term);
      found.push(term);
      taken++;
    }
  }
  // A term a later word's lemma turned out to be is left out (copied only then).
  return found.some((term) => own.has(term)) ? found.filter((term) => !own.has(term)) : found;
}

/** What `expansionTerms` takes from one word, made once per word and thesaurus. */
interface WordCandidates {
  lemmas: readonly string[];
  /** Its irregular bases among its lemmas ("grew" → "grow"). */
  bases: readonly string[];
  /** Each lemma's terms. */
  lists: ReadonlyArray<readonly string[]>;
  /** The bases and the lemmas' terms in the order they are taken: the first of each list, then the second of each, … */
  order: readonly string[];
}

/**
 * Each thesaurus's {@link WordCandidates}, by word: a chat turn's recall expands its message's ~20 words,
 * and looking each up in the 82,500 lemmas' table and interleaving its lists again was most of the
 * expansion's CPU; the same words come back in every message and every memory formed.
 */
const keptCandidates = new WeakMap<Thesaurus, Map<string, WordCandidates | null>>();

function candidatesOf(word: string, thesaurus: Thesaurus): WordCandidates | null {
  return keptFor(keptCandidates, thesaurus, word, () => {
    const lemmas = lemmasOf(word, thesaurus);
    if (lemmas.length === 0) return null;
    const bases = (thesaurus.bases?.(word) ?? []).filter((base) => lemmas.includes(base));
    const lists = lemmas.map((lemma) => thesaurus.terms(lemma) ?? []);
    return { lemmas, bases, lists, order: takingOrder([bases, ...lists]) };
  });
}

/** The lists' terms interleaved: the first of each list in turn, then the second of each, and so on. */
function takingOrder(lists: ReadonlyArray<readonly string[]>): string[] {
  const order: string[] = [];
  const longest = Math.max(0, ...lists.map((list) => list.length));
  for (let at = 0; at < longest; at++)
    for (const list of lists) {
      const term = list[at];
      if (term !== undefined) order.push(term);
    }
  return order;
}

/**
 * What a memory's expansion column holds: the question words its form answers ("age" for "I was born in
 * 1985", `factSlotTerms`), the thesaurus terms of its content, then (when the LLM
 * wrote them) its canonical fact and the questions it answers (doc2query) with their terms.
 */
export function recallTermsOf(content: string, thesaurus: Thesaurus, doc2query: string | null = null): string {
  const parts = [[...factSlotTerms(content), ...expansionTerms(content, thesaurus)].join(' ')];
  if (doc2query !== null && doc2query.trim().length > 0)
    parts.push(doc2query.trim(), expansionTerms(doc2query, thesaurus).join(' '));
  return parts.filter((part) => part.length > 0).join(' ');
}

/**
 * Parses the compiled table (`lemma<TAB>term term ...` lines, `#` comments) into a thesaurus. The table
 * stays one string, its lines found by binary search over their offsets (typed arrays, sorted by head
 * word) and split when asked for: the shipped table parsed into a Map of arrays was ~36 MiB of small heap
 * objects, which every full GC of the serving process marked again (151 ms a full GC against 10 without
 * them) and which took 0.9 s of start-up to build (bench/README.md, round 11). A head word given twice
 * answers its last line, as a Map would.
 */
export function parseThesaurus(table: string, version: string): Thesaurus {
  const entries = new TableLines(table);
  const irregular = new TableLines(table);
  for (let start = 0; start < table.length; ) {
    const newline = table.indexOf('\n', start);
    const end = newline === -1 ? table.length : newline;
    const tab = table.indexOf('\t', start);
    // `=form<TAB>base ...`: an irregular form and its lemmas (scripts/build-wordnet.mjs).
    if (tab > start && tab < end && table.charCodeAt(start) !== HASH) {
      if (table.charCodeAt(start) === EQUALS) irregular.add(start + 1, tab, end);
      else entries.add(start, tab, end);
    }
    start = end + 1;
  }
  entries.seal();
  irregular.seal();
  return { version, terms: (lemma) => entries.find(lemma), bases: (form) => irregular.find(form) };
}

const HASH = 0x23;
const EQUALS = 0x3d;

/** One kind of line of a thesaurus table (lemmas, or irregular forms), by head word. */
class TableLines {
  /** While parsing: each line's head word start, its tab and its end, three numbers a line. */
  private added: number[] = [];
  private heads = new Int32Array(0);
  private tabs = new Int32Array(0);
  private ends = new Int32Array(0);

  constructor(private readonly table: string) {}

  add(head: number, tab: number, end: number): void {
    this.added.push(head, tab, end);
  }

  /** Sorts the lines by head word (the table is written sorted: nearly free), keeping a repeated head's last line. */
  seal(): void {
    const { added, table } = this;
    const order = Array.from({ length: added.length / 3 }, (_, line) => line);
    order.sort((a, b) => compareSpans(table, added[a * 3]!, added[a * 3 + 1]!, table, added[b * 3]!, added[b * 3 + 1]!) || a - b);
    const kept = order.filter((line, at) => {
      const next = order[at + 1];
      return next === undefined || compareSpans(table, added[line * 3]!, added[line * 3 + 1]!, table, added[next * 3]!, added[next * 3 + 1]!) !== 0;
    });
    this.heads = Int32Array.from(kept, (line) => added[line * 3]!);
    this.tabs = Int32Array.from(kept, (line) => added[line * 3 + 1]!);
    this.ends = Int32Array.from(kept, (line) => added[line * 3 + 2]!);
    this.added = [];
  }

  /** The words after the head word's tab, or undefined when no line has that head. */
  find(word: string): readonly string[] | undefined {
    let low = 0;
    let high = this.heads.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const order = compareSpans(this.table, this.heads[middle]!, this.tabs[middle]!, word, 0, word.length);
      if (order === 0) return this.table.slice(this.tabs[middle]! + 1, this.ends[middle]!).split(' ');
      if (order < 0) low = middle + 1;
      else high = middle - 1;
    }
    return undefined;
  }
}

/** Orders `a[aStart, aEnd)` and `b[bStart, bEnd)` by UTF-16 code units, as `<` orders strings, without slicing either. */
function compareSpans(a: string, aStart: number, aEnd: number, b: string, bStart: number, bEnd: number): number {
  const length = Math.min(aEnd - aStart, bEnd - bStart);
  for (let at = 0; at < length; at++) {
    const difference = a.charCodeAt(aStart + at) - b.charCodeAt(bStart + at);
    if (difference !== 0) return difference;
  }
  return aEnd - aStart - (bEnd - bStart);
}
