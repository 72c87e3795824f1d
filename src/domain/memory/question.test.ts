import { describe, expect, it } from 'vitest';
import { parseThesaurus, recallTermsOf } from './expansion.js';
import { factSlotTerms, searchTextOf } from './question.js';
import { contentWords } from './text.js';

describe('searchTextOf', () => {
  it('searches "how old" as an age, not as something old', () => {
    expect(contentWords(searchTextOf('How old am I?'))).toEqual(['age']);
    expect(contentWords(searchTextOf('how old is my daughter?'))).toEqual(['age', 'daughter']);
  });

  it('searches "like best" / "love most" as a favourite, in both spellings', () => {
    expect(contentWords(searchTextOf('Which dish do I like best?'))).toEqual(['dish', 'favourite', 'favorite']);
    expect(contentWords(searchTextOf('What do I love most?'))).toEqual(['favourite', 'favorite']);
  });

  it('drops "kind of" / "sort of" / "type of": the noun after it is what is asked about', () => {
    expect(contentWords(searchTextOf('What kind of books do I author?'))).toEqual(['books', 'author']);
    expect(contentWords(searchTextOf('Which sorts of music relax me?'))).toEqual(['music', 'relax']);
  });

  it('leaves other messages as they are', () => {
    for (const message of ['I love my old car.', 'Tell me a joke about penguins.', 'What is the best kind?'])
      expect(searchTextOf(message)).toBe(message);
  });
});

describe('factSlotTerms', () => {
  it('says "age" for a statement of age or birth', () => {
    for (const fact of ['I was born in 1985.', 'My daughter turns six in May.', 'I am 42 years old.', 'Her birthday is in June.', 'He turned 30 last week.'])
      expect(factSlotTerms(fact), fact).toEqual(['age']);
  });

  it('says nothing for other facts, years and numbers included', () => {
    for (const fact of ['I drive an old green Volvo.', 'I moved here in 2019.', 'I have two cats.', 'Turn left at the bakery.'])
      expect(factSlotTerms(fact), fact).toEqual([]);
  });

  it("puts the slot word first in a memory's recall terms", () => {
    const thesaurus = parseThesaurus('born\tbear\ndaughter\tchild', 'test');
    expect(recallTermsOf('My daughter was born in May.', thesaurus).split(' ')).toEqual(['age', 'child', 'bear']);
  });
});
