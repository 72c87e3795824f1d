import { describe, expect, it } from 'vitest';
import { COVERAGE_STEMMER, stemsOf } from './memory-store.js';

describe('stemsOf (a text\'s coverage stems)', () => {
  it('gives the distinct stems in order of first appearance, folded to lower case', () => {
    expect([...stemsOf('Running DOGS run with 42 dogs')]).toEqual(['run', 'dog', 'with', '42']);
  });

  it('gives a text written with compatibility characters the stems of its ASCII spelling (NFKC)', () => {
    expect([...stemsOf('Ｒｕｎｎｉｎｇ ＤＯＧＳ, ４２ cats')]).toEqual([...stemsOf('Running DOGS, 42 cats')]);
    // The Kelvin sign folds to an ASCII "k".
    expect([...stemsOf('\u212Aittens')]).toEqual([...stemsOf('kittens')]);
  });

  it('splits a text beyond ASCII at anything but letters and digits', () => {
    expect([...stemsOf('Café-crème, über Straße')]).toEqual(['café', 'crème', 'über', 'straße']);
  });

  it('gives an ASCII text the stems of its lower-cased runs of letters and digits, word by word (what the full-text mirror takes)', () => {
    for (const text of ['Running DOGS, 42 cats!', 'The user said: I walked down to the harbour; fog-bound boats (note 12).', '']) {
      const words = text.toLowerCase().match(/[a-z0-9]+/g) ?? [];
      expect([...COVERAGE_STEMMER.stemsOf(text)]).toEqual([...new Set(words.map((word) => COVERAGE_STEMMER.stemOf(word)))]);
    }
  });
});
