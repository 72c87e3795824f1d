import { describe, expect, it } from 'vitest';
import { addVectors, assignThread, cosineSimilarity, termVector, THREAD_SIMILARITY_THRESHOLD, threadLabel } from './topic-threads.js';

describe('termVector', () => {
  it('keeps stemmed content words and drops stop-words', () => {
    expect(termVector('Tell me about the ancient libraries of the elves')).toEqual({ ancient: 1, library: 1, elve: 1 });
  });
});

describe('cosineSimilarity', () => {
  it('is the cosine of the word counts', () => {
    // shared: library, elve → 2 / (√3 × √4)
    expect(
      cosineSimilarity(
        termVector('Tell me about the ancient libraries of the elves'),
        termVector('What songs do the elves sing in their libraries?'),
      ),
    ).toBe(0.5774);
    expect(cosineSimilarity({}, { a: 1 })).toBe(0);
  });
});

describe('assignThread', () => {
  const libraries = { id: 1, centroid: termVector('ancient libraries of the elves and their books') };
  const weather = { id: 2, centroid: termVector('the storm rolling over the harbour tonight') };

  it('opens the first thread', () => {
    expect(assignThread(termVector('ancient libraries of the elves'), [], null)).toEqual({ kind: 'new', bestSimilarity: 0 });
  });

  it('stays while the message shares enough words with the current thread', () => {
    const decision = assignThread(termVector('which books did the elves keep?'), [libraries, weather], 1);
    expect(decision.kind).toBe('stay');
    expect(decision.kind === 'stay' && decision.similarity).toBeGreaterThanOrEqual(THREAD_SIMILARITY_THRESHOLD);
  });

  it('opens a new thread on a clear change of subject', () => {
    expect(assignThread(termVector('Do you know any good recipes for mushroom soup?'), [libraries, weather], 1)).toEqual({
      kind: 'new',
      bestSimilarity: 0,
    });
  });

  it('returns to an earlier thread when the talk comes back to it', () => {
    // shares storm, harbour, tonight: 3 / (√5 × √4)
    expect(assignThread(termVector('Is the storm over the harbour getting worse tonight?'), [libraries, weather], 1)).toEqual({
      kind: 'resume',
      threadId: 2,
      similarity: 0.6708,
    });
  });

  it('keeps a short message ("yes, go on!") in the current thread', () => {
    expect(assignThread(termVector('yes, go on!'), [libraries, weather], 2)).toMatchObject({ kind: 'stay', threadId: 2 });
  });
});

describe('threadLabel', () => {
  it('names a thread after its most frequent words', () => {
    expect(threadLabel(addVectors(termVector('elves and books'), termVector('old books of the elves, old libraries')))).toBe(
      'book, elve, old',
    );
    expect(threadLabel({})).toBe('small talk');
  });
});
