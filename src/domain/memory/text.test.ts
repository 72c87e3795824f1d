import { describe, expect, it } from 'vitest';
import { wordsWithoutStopwords } from './text.js';

/** The words as every text was split before ASCII text took its own path: NFKC, then Unicode letters and digits. */
const byUnicodeClasses = (text: string): string[] =>
  (text.toLowerCase().normalize('NFKC').match(/[\p{L}\p{N}]+/gu) ?? []).filter((word) => wordsWithoutStopwords(word).length > 0);

describe('wordsWithoutStopwords', () => {
  it('splits lower-cased letter and digit runs and drops stopwords', () => {
    expect(wordsWithoutStopwords('The user said: I was walking the DOGS at 7am, twice!')).toEqual(['walking', 'dogs', '7am', 'twice']);
  });

  it('gives ASCII text the words the Unicode-class split gives it', () => {
    const texts = ['Hello_World-42 it\'s A test', 'tabs\tand\nnew lines; x/y.z', 'CAPS and MiXeD 1st 2nd', '~!@#$%^&*()[]{}<>?', ''];
    for (let code = 0; code < 0x80; code++) texts.push(`a${String.fromCharCode(code)}b ${String.fromCharCode(code)}Z9`);
    for (const text of texts) expect(wordsWithoutStopwords(text), JSON.stringify(text)).toEqual(byUnicodeClasses(text));
  });

  it('normalises text beyond ASCII (NFKC) and keeps its letters', () => {
    expect(wordsWithoutStopwords('ﬁne Ｆｕｌｌ naïve 日本語 ½')).toEqual(['fine', 'full', 'naïve', '日本語', '1', '2']);
  });
});
