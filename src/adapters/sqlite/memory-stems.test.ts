import { describe, expect, it } from 'vitest';
import { stemsOf } from './memory-store.js';

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
});
