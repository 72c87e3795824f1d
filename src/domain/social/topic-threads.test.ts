import { describe, expect, it } from 'vitest';
import {
  addToVector,
  addVectors,
  assignThread,
  CLEAR_RETURN_SIMILARITY,
  cosineSimilarity,
  hasReturnCue,
  LABEL_WORDS,
  termVector,
  THREAD_SIMILARITY_THRESHOLD,
  threadLabel,
  type TermVector,
} from './topic-threads.js';

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

describe('assignThread inside a held branch', () => {
  const libraries = { id: 1, centroid: termVector('ancient libraries of the elves and their books') };
  const emptyBranch = { id: 2, centroid: {}, isBranch: true };
  const garden = { id: 2, centroid: termVector('I grow tomatoes in my garden'), isBranch: true };
  const user = { fromUser: true, hasReturnCue: false };

  it('takes the first message of a branch the user just made, though the branch is empty (similarity 0)', () => {
    expect(assignThread(termVector('I grow tomatoes in my garden.'), [libraries, emptyBranch], 2, user)).toEqual({
      kind: 'hold',
      threadId: 2,
      similarity: 0,
    });
  });

  it('holds on a change of subject that would open a new thread elsewhere', () => {
    const soup = termVector('Do you know any good recipes for mushroom soup?');
    expect(assignThread(soup, [libraries, garden], 2, user)).toMatchObject({ kind: 'hold', threadId: 2 });
    expect(assignThread(soup, [libraries, { ...garden, isBranch: false }], 2, user)).toMatchObject({ kind: 'new' });
  });

  it('lets the user return only clearly: 0.3 without a cue, 0.12 with one', () => {
    // elve, keep, garden, near, library: shares elve and library with the libraries thread, 2 / (√5 × √4) = 0.4472,
    // and garden with the branch, 1 / (√5 × √3) = 0.2582
    const clear = termVector('Did the elves keep gardens near their libraries?');
    expect(cosineSimilarity(clear, libraries.centroid)).toBe(0.4472);
    expect(assignThread(clear, [libraries, garden], 2, user)).toEqual({ kind: 'resume', threadId: 1, similarity: 0.4472 });
    // back, elve, old, tale, heroe, dragon: shares only "elve", 1 / (√6 × √4) = 0.2041, between the two thresholds
    const faint = termVector('Back to the elves and their old tales of heroes and dragons');
    const similarity = cosineSimilarity(faint, libraries.centroid);
    expect(similarity).toBe(0.2041);
    expect(similarity).toBeGreaterThanOrEqual(THREAD_SIMILARITY_THRESHOLD);
    expect(similarity).toBeLessThan(CLEAR_RETURN_SIMILARITY);
    expect(assignThread(faint, [libraries, garden], 2, user)).toMatchObject({ kind: 'hold', threadId: 2 });
    expect(assignThread(faint, [libraries, garden], 2, { fromUser: true, hasReturnCue: true })).toEqual({
      kind: 'resume',
      threadId: 1,
      similarity: 0.2041,
    });
  });

  it('never lets a persona reply take the talk out of the branch', () => {
    const reply = termVector('The ancient libraries of the elves held many books');
    expect(assignThread(reply, [libraries, garden], 2, { fromUser: false, hasReturnCue: false })).toMatchObject({
      kind: 'hold',
      threadId: 2,
    });
  });

  it('files a reply that was being generated when the branch opened with the message it answers; the branch stays empty and current', () => {
    const reply = termVector('The oldest songs were kept in the library of Ilmar');
    const persona = { fromUser: false, hasReturnCue: false, answersThreadId: 1 };
    const fresh = { ...emptyBranch, messageCount: 0 };
    expect(assignThread(reply, [libraries, fresh], 2, persona)).toMatchObject({ kind: 'answer', threadId: 1 });
    // once the user has spoken in the branch, replies belong to it
    expect(assignThread(reply, [libraries, { ...garden, messageCount: 1 }], 2, persona)).toMatchObject({ kind: 'hold', threadId: 2 });
    // a user's message into the empty branch is held, as ever
    expect(assignThread(reply, [libraries, fresh], 2, { ...persona, fromUser: true })).toMatchObject({ kind: 'hold', threadId: 2 });
  });
});

describe('hasReturnCue', () => {
  it('finds phrases that take the talk back, as whole words', () => {
    expect(hasReturnCue('Back to the elves: were their libraries ancient?')).toBe(true);
    expect(hasReturnCue('Anyway, as I was saying…')).toBe(true);
    expect(hasReturnCue('I went back home')).toBe(false);
    expect(hasReturnCue('The feedback to the team')).toBe(false);
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

describe('threadLabel and vectors of long threads', () => {
  it('names a thread as sorting all its words would: count, then alphabetical', () => {
    const bySorting = (centroid: Record<string, number>): string => {
      const words = Object.entries(centroid)
        .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
        .slice(0, LABEL_WORDS)
        .map(([word]) => word);
      return words.length === 0 ? 'small talk' : words.join(', ');
    };
    let seed = 7;
    const random = (): number => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
    for (let round = 0; round < 200; round++) {
      const centroid: Record<string, number> = {};
      const size = Math.floor(random() * 40);
      for (let index = 0; index < size; index++) centroid[`w${Math.floor(random() * 60).toString(36)}${index % 3 === 0 ? 'é' : ''}`] = 1 + Math.floor(random() * 4);
      expect(threadLabel(centroid)).toBe(bySorting(centroid));
    }
    expect(threadLabel({})).toBe('small talk');
  });

  it('keeps a growing centroid\'s label as working it out from all its words would, message after message', () => {
    let seed = 11;
    const random = (): number => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
    const fromScratch = (centroid: TermVector): string => threadLabel({ ...centroid });
    for (let thread = 0; thread < 20; thread++) {
      const centroid: TermVector = {};
      expect(threadLabel(centroid)).toBe('small talk');
      for (let message = 0; message < 60; message++) {
        const vector: TermVector = {};
        for (let word = 0; word < 1 + Math.floor(random() * 6); word++) vector[`w${Math.floor(random() * 30).toString(36)}`] = 1 + Math.floor(random() * 2);
        addToVector(centroid, vector);
        // the kept label of the growing centroid against the label of a copy nobody labelled before
        expect(threadLabel(centroid)).toBe(fromScratch(centroid));
      }
    }
  });

  it('works the label out again when an addition lowers a count', () => {
    const centroid: TermVector = { apple: 5, berry: 4, cherry: 3, damson: 2 };
    expect(threadLabel(centroid)).toBe('apple, berry, cherry');
    addToVector(centroid, { apple: -4 });
    expect(threadLabel(centroid)).toBe('berry, cherry, damson');
  });

  it('gives the same content words for a token seen before (kept) as the first time', () => {
    const text = "Aria's stories of singing sailors, the sailors' songs, and THE stories";
    expect(termVector(text)).toEqual(termVector(text));
    expect(termVector(text)).toEqual({ aria: 1, story: 2, sing: 1, sailor: 2, song: 1 });
  });

  it('adds into a centroid in place, and counts words that are names of object properties like any other', () => {
    const centroid = termVector('the constructor of the library builds shelves');
    expect(centroid['constructor']).toBe(1);
    const same = addToVector(centroid, termVector('a constructor and more shelves'));
    expect(same).toBe(centroid);
    expect(centroid).toMatchObject({ constructor: 2, shelve: 2 });
    expect(cosineSimilarity(termVector('toString valueOf constructor'), termVector('constructor'))).toBeGreaterThan(0);
  });
});

describe('a centroid grown message by message', () => {
  it('measures the same similarity as the same counts read afresh (its length is kept as it grows)', () => {
    const centroid = termVector('Tomatoes and beans grow in the garden behind the house.');
    const probe = termVector('Should I water the tomatoes in the garden every morning?');
    expect(cosineSimilarity(probe, centroid)).toBeGreaterThan(0);
    for (const text of ['The tomatoes ripen late, the beans early.', 'Water tomatoes early, before the sun is high.', 'Trains leave the harbour hourly.']) {
      addToVector(centroid, termVector(text));
      expect(cosineSimilarity(probe, centroid)).toBe(cosineSimilarity(probe, JSON.parse(JSON.stringify(centroid)) as TermVector));
    }
  });
});
