import { describe, expect, it } from 'vitest';
import { doc2queryBatchPrompt, parseDoc2Query, parseDoc2QueryBatch } from './doc2query.js';

describe('doc2query for several memories at once', () => {
  it('numbers the memories in one prompt', () => {
    const prompt = doc2queryBatchPrompt('Aria', ['The user said: I live in Oslo.', 'The user said: I keep bees.']);
    expect(prompt).toContain('1. "The user said: I live in Oslo."\n2. "The user said: I keep bees."');
    expect(prompt).toContain('"Memory N:"');
    expect(prompt).toContain('"Fact:"');
  });

  it('reads each memory’s fact and questions under its heading, in the memories’ order', () => {
    const answer = [
      'Memory 2:',
      'Fact: The user keeps bees.',
      'Q: Does the user have a hobby?',
      '**Memory 1:** Fact: The user lives in Oslo.',
      'Q: Where does the user live?',
      'Q: Which city is home to the user?',
    ].join('\n');
    expect(parseDoc2QueryBatch(answer, 2)).toEqual([
      'The user lives in Oslo. Where does the user live? Which city is home to the user?',
      'The user keeps bees. Does the user have a hobby?',
    ]);
  });

  it('gives null for a memory without a fact, and ignores numbers past the memories', () => {
    const answer = 'Memory 1:\nI cannot help with that.\nMemory 2:\nFact: The user keeps bees.\nMemory 3:\nFact: Invented.';
    expect(parseDoc2QueryBatch(answer, 2)).toEqual([null, 'The user keeps bees.']);
  });

  it('without headings, splits at the Fact lines only when there is one per memory', () => {
    const answer = 'Fact: The user lives in Oslo.\nQ: Where does the user live?\n\nFact: The user keeps bees.\nQ: What animals does the user keep?';
    expect(parseDoc2QueryBatch(answer, 2)).toEqual(['The user lives in Oslo. Where does the user live?', 'The user keeps bees. What animals does the user keep?']);
    expect(parseDoc2QueryBatch(answer, 3)).toEqual([null, null, null]);
    expect(parseDoc2QueryBatch('Sure! Happy to help.', 2)).toEqual([null, null]);
  });

  it('reads a section as the one-memory parser does', () => {
    const section = 'Fact: The user rides a bike.\nQ: How does the user get around?';
    expect(parseDoc2QueryBatch(`Memory 1:\n${section}`, 1)).toEqual([parseDoc2Query(section)]);
  });
});
