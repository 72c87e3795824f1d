/**
 * Words that carry meaning, for the full-text query and the offline embedder alike. English function
 * words, and the words every formed memory starts with ("The user said: ..."): a query containing
 * them would otherwise match — and make full-text search rank — every memory.
 */
export const STOPWORDS: ReadonlySet<string> = new Set(
  (
    'a an the and or but if then so of to in on at by for with from as is are was were be been being am do does did ' +
    'have has had i you he she it we they me him her us them my your his its our their this that these those ' +
    'there here what which who whom whose when where why how not no yes all any some just very too also can could ' +
    'would should will shall may might must about into over than up down out off again once only own same such ' +
    'user said tell told say says'
  ).split(' '),
);

/**
 * Lower-cased letter/digit runs of `text` that are not stopwords, in order (repeats kept). A lone letter
 * is left out too: it is the rest of an apostrophe ("user's" → "s", "don't" → "t"), and as a query word
 * it weighed as much as the noun before it.
 */
export function contentWords(text: string): string[] {
  // A recall asks this of its query three times (its thesaurus terms, term statistics, the FTS query):
  // the last text's words are kept, and each caller gets its own copy.
  if (text !== lastText) {
    lastWords = wordsWithoutStopwords(text).filter((word) => !(word.length === 1 && /\p{L}/u.test(word)));
    lastText = text;
  }
  return lastWords.slice();
}

let lastText = '';
let lastWords: string[] = [];

/** A character beyond ASCII. */
const NOT_ASCII = /[^\p{ASCII}]/u;

/**
 * Lower-cased letter/digit runs of `text` that are not stopwords, lone letters kept: what the offline
 * embedder hashes (changing its words would change every vector stored under its id).
 */
export function wordsWithoutStopwords(text: string): string[] {
  const lower = text.toLowerCase();
  // Lower-case ASCII text is its own NFKC form, and its letters and digits are [a-z0-9]: a chat message
  // usually is, and skips the normalising and the Unicode-class regex.
  const words = NOT_ASCII.test(lower) ? lower.normalize('NFKC').match(/[\p{L}\p{N}]+/gu) : lower.match(/[a-z0-9]+/g);
  return (words ?? []).filter((word) => !STOPWORDS.has(word));
}

