import { describe, expect, it } from 'vitest';
import { extractMemories, splitSentences } from './extraction.js';
import {
  heuristicImportance,
  importanceCues,
  IMPORTANCE_BASE,
  IMPORTANCE_EXPLICIT,
  IMPORTANCE_NOVELTY,
  IMPORTANCE_PERSONAL,
  parsePoignancy,
} from './importance.js';
import { formatMemoryId, parseMemoryId } from './memory.js';
import { pruneRecommendation, selectForPruning } from './pruning.js';
import { extractiveSummary } from './summary.js';
import { isVisibleTo } from './visibility.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1);

describe('importance heuristic', () => {
  it('adds the named terms for each cue', () => {
    const cues = importanceCues('Please remember this: my sister Ana lives in Lisbon.', 0);
    expect(cues).toEqual({ explicit: true, personal: true, emotion: false, novelty: 0 });
    // 0.2 + 0.5 + 0.25 = 0.95
    expect(heuristicImportance(cues)).toBeCloseTo(IMPORTANCE_BASE + IMPORTANCE_EXPLICIT + IMPORTANCE_PERSONAL, 12);
    expect(heuristicImportance(importanceCues('I am a baker.', 0.5))).toBeCloseTo(
      IMPORTANCE_BASE + IMPORTANCE_PERSONAL + IMPORTANCE_NOVELTY * 0.5,
      12,
    );
  });

  it('scores small talk low and clamps to 1', () => {
    expect(heuristicImportance(importanceCues('The weather is fine today', 0))).toBeCloseTo(0.2, 12);
    expect(heuristicImportance({ explicit: true, personal: true, emotion: true, novelty: 1 })).toBe(1);
  });

  it('reads a 1–10 poignancy rating from the model as 0.1–1, only when the reply is a rating', () => {
    expect(parsePoignancy('7')).toBe(0.7);
    expect(parsePoignancy(' 8.')).toBe(0.8);
    expect(parsePoignancy('9/10')).toBe(0.9);
    expect(parsePoignancy('Rating: 10/10')).toBe(1);
    expect(parsePoignancy('rating = 3')).toBe(0.3);
    expect(parsePoignancy('quite mundane')).toBeNull();
    // The reply that used to store 0.1: it repeats the scale before (or instead of) rating.
    expect(parsePoignancy('On the scale of 1 to 10, I would say this is fairly poignant.')).toBeNull();
    expect(parsePoignancy('1 to 10: 7')).toBeNull();
    expect(parsePoignancy('11')).toBeNull();
    expect(parsePoignancy('Rating: 12')).toBeNull();
  });
});

describe('extraction', () => {
  it('keeps personal facts and substantial statements, drops questions and small talk', () => {
    const memories = extractMemories(
      'Hi! My name is Sam and I love sailing. What song is that? ok. The harbour was full of boats this morning.',
    );
    expect(memories).toEqual([
      { kind: 'user_fact', content: 'The user said: My name is Sam and I love sailing.' },
      { kind: 'observation', content: 'The user said: The harbour was full of boats this morning.' },
    ]);
  });

  it('keeps at most three, chosen by cue weight, in their original order', () => {
    const text = 'I like tea. I like coffee. Remember that I hate mornings. I am a baker. The oven broke down yesterday evening again.';
    expect(extractMemories(text).map((memory) => memory.content)).toEqual([
      'The user said: I like tea.',
      'The user said: I like coffee.',
      'The user said: Remember that I hate mornings.',
    ]);
  });

  it('keeps short first-person facts without cues, never questions, and not small talk', () => {
    for (const fact of ['I drive an old green Volvo.', 'I collect antique maps.', 'I speak fluent Japanese.', 'My sister is a surgeon.'])
      expect(extractMemories(fact)).toEqual([{ kind: 'user_fact', content: `The user said: ${fact}` }]);
    for (const chatter of ['What is my name?', 'what is my name', 'Do you know where I live', 'I see.', 'I think so.', 'I am fine.'])
      expect(extractMemories(chatter)).toEqual([]);
  });

  it('keeps the statement inside a question asking to remember it', () => {
    expect(extractMemories('Can you remember that I am vegan?')).toEqual([{ kind: 'user_fact', content: 'The user said: I am vegan.' }]);
  });

  it('splits sentences on punctuation and line breaks', () => {
    expect(splitSentences('One. Two!\nThree?')).toEqual(['One.', 'Two!', 'Three?']);
  });
});

describe('pruning rules', () => {
  const policy = { threshold: 0.2, minIdleMs: 7 * DAY, maxPerPersona: 3 };

  it('prunes faded memories only once they have been idle long enough', () => {
    const memories = [
      { id: 1, importance: 0.1, lastAccessedAt: NOW - 8 * DAY },
      { id: 2, importance: 0.1, lastAccessedAt: NOW - 1 * DAY },
      { id: 3, importance: 0.9, lastAccessedAt: NOW - 90 * DAY },
    ];
    expect(selectForPruning(memories, NOW, policy)).toEqual([1]);
  });

  it('enforces the hard cap by lowest importance × recency', () => {
    const memories = [
      { id: 1, importance: 0.5, lastAccessedAt: NOW },
      { id: 2, importance: 0.5, lastAccessedAt: NOW - 30 * DAY },
      { id: 3, importance: 0.9, lastAccessedAt: NOW },
      { id: 4, importance: 0.3, lastAccessedAt: NOW },
      { id: 5, importance: 0.6, lastAccessedAt: NOW },
    ];
    // retention: 1 → 0.5, 2 → 0.5 × 0.027 = 0.0135, 3 → 0.9, 4 → 0.3, 5 → 0.6; keep 3
    expect(selectForPruning(memories, NOW, policy)).toEqual([2, 4]);
  });

  it('says when nothing needs pruning', () => {
    expect(pruneRecommendation(10, 0, policy)).toMatch(/^No pruning needed/);
    expect(pruneRecommendation(10, 4, policy)).toMatch(/^Prune 4 of 10 memories \(40%\)/);
  });
});

describe('visibility', () => {
  const base = { personaId: 'aria', sharedWith: ['kira'], sharedGroups: ['household'] };

  it('never shows a private memory to another persona', () => {
    expect(isVisibleTo({ ...base, visibility: 'private' }, 'kira', ['household'])).toBe(false);
    expect(isVisibleTo({ ...base, visibility: 'private' }, 'aria')).toBe(true);
  });

  it('shows a shared memory to the personas and group members named', () => {
    expect(isVisibleTo({ ...base, visibility: 'shared' }, 'kira')).toBe(true);
    expect(isVisibleTo({ ...base, visibility: 'shared' }, 'bram', ['household'])).toBe(true);
    expect(isVisibleTo({ ...base, visibility: 'shared' }, 'bram', ['guild'])).toBe(false);
  });

  it('shows a public memory to everyone', () => {
    expect(isVisibleTo({ ...base, visibility: 'public' }, 'bram')).toBe(true);
  });
});

describe('extractive summary', () => {
  it('keeps the cue-richest sentences in their order within the budget', () => {
    const summary = extractiveSummary(
      [
        { role: 'user', speaker: 'User', content: 'Nice day. My dog Rex died last week.' },
        { role: 'assistant', speaker: 'Aria', content: 'I am so sorry. Tell me about him.' },
        { role: 'user', speaker: 'User', content: 'Remember that he loved the beach.' },
      ],
      80,
    );
    expect(summary).toBe('User: My dog Rex died last week. User: Remember that he loved the beach.');
  });
});

describe('memory ids', () => {
  it('round-trips mem_N and accepts the bare number', () => {
    expect(formatMemoryId(42)).toBe('mem_42');
    expect(parseMemoryId('mem_42')).toBe(42);
    expect(parseMemoryId('42')).toBe(42);
    expect(parseMemoryId('mem_x')).toBeNull();
  });
});
