import { describe, expect, it } from 'vitest';
import { EMPTY_THESAURUS, expansionTerms, lemmaOf, lemmasOf, parseThesaurus, recallTermsOf } from './expansion.js';
import { kindOfLabel } from './memory.js';

const thesaurus = parseThesaurus(
  [
    '# test table',
    'canada\tcountry nation',
    'dog\tcanine animal pet',
    'move\ttravel go relocate',
    'stop\thalt',
    'country\tnation state land',
    'grow\tdevelop increase',
    'broke\tskint',
    'break\tfracture injure',
    '=grew\tgrow',
    '=broke\tbreak',
  ].join('\n'),
  'test',
);

describe('parseThesaurus', () => {
  it('answers each head word its line, out of order, a repeated head its last line, and nothing for comments or unknown words', () => {
    const table = parseThesaurus(['zebra\tanimal', '# comment\tnot a line', 'apple\tfruit food', '', 'apple\tfruit tree', '=mice\tmouse', 'mouse\trodent', '\tno head'].join('\n'), 'test');
    expect(table.terms('apple')).toEqual(['fruit', 'tree']);
    expect(table.terms('zebra')).toEqual(['animal']);
    expect(table.terms('mouse')).toEqual(['rodent']);
    expect(table.bases?.('mice')).toEqual(['mouse']);
    expect(table.terms('mice')).toBeUndefined();
    expect(table.terms('# comment')).toBeUndefined();
    expect(table.terms('')).toBeUndefined();
    expect(table.terms('appl')).toBeUndefined();
    expect(table.terms('apples')).toBeUndefined();
  });
});

describe('lemmaOf', () => {
  it('finds the thesaurus lemma of an inflected word by the morphy rules', () => {
    expect(lemmaOf('dogs', thesaurus)).toBe('dog');
    expect(lemmaOf('moved', thesaurus)).toBe('move');
    expect(lemmaOf('stopped', thesaurus)).toBe('stop');
    expect(lemmaOf('countries', thesaurus)).toBe('country');
    expect(lemmaOf('volvo', thesaurus)).toBeNull();
  });

  it("finds an irregular form's lemma in the exception lines, after the word's own entry", () => {
    expect(lemmaOf('grew', thesaurus)).toBe('grow');
    expect(lemmasOf('broke', thesaurus)).toEqual(['broke', 'break']);
  });

  it('remembers lemmas per thesaurus: a second table gets its own, asked the same word after the first', () => {
    expect(lemmasOf('dogs', thesaurus)).toEqual(['dog']);
    const other = parseThesaurus('dogs\tpack', 'other');
    expect(lemmasOf('dogs', other)).toEqual(['dogs']);
    expect(lemmasOf('dogs', EMPTY_THESAURUS)).toEqual([]);
    expect(lemmasOf('dogs', thesaurus)).toEqual(['dog']);
  });
});

describe('expansionTerms', () => {
  it('adds synonyms and broader terms of the content words, not the words already there', () => {
    expect(expansionTerms('The user said: I moved here from Canada.', thesaurus)).toEqual(['travel', 'go', 'relocate', 'country', 'nation']);
    expect(expansionTerms('my dog and the canine', thesaurus)).toEqual(['animal', 'pet']);
  });

  it("adds an irregular form's lemma as a term (the stemmer cannot join them), then both lemmas' terms in turn", () => {
    expect(expansionTerms('I grew up', thesaurus)).toEqual(['grow', 'develop', 'increase']);
    expect(expansionTerms('I broke my wrist', thesaurus)).toEqual(['break', 'skint', 'fracture', 'injure']);
  });

  it('bounds the terms per word and in all', () => {
    expect(expansionTerms('moved to Canada', thesaurus, 1)).toEqual(['travel', 'country']);
    expect(expansionTerms('moved to Canada', thesaurus, 5, 2)).toEqual(['travel', 'go']);
  });

  it('puts the canonical fact and its questions after the content terms in the recall column', () => {
    expect(recallTermsOf('I moved from Canada', thesaurus, 'User comes from Canada. Which country?')).toBe(
      'travel go relocate country nation User comes from Canada. Which country? nation state land',
    );
    expect(recallTermsOf('nothing known here', thesaurus)).toBe('');
  });
});

describe('kindOfLabel', () => {
  it("maps old clients' free memory types onto our kinds", () => {
    expect(kindOfLabel('local_knowledge')).toBe('observation');
    expect(kindOfLabel('location')).toBe('observation');
    expect(kindOfLabel('Fact')).toBe('user_fact');
    expect(kindOfLabel('user_preference')).toBe('user_fact');
    expect(kindOfLabel('insight')).toBe('reflection');
    expect(kindOfLabel('anything else')).toBe('observation');
  });
});
