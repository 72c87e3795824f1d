import { describe, expect, it } from 'vitest';
import { APPRAISED_CHARS, appraisalMaxTokens, appraisalPrompt, appraisalsMaxTokens, appraisalsPrompt, parseAppraisal, parseAppraisals } from './turn-appraisal.js';

describe('appraisalPrompt', () => {
  it('quotes the exchange and numbers the memories to rate', () => {
    const prompt = appraisalPrompt({ personaName: 'Aria', spoken: 'My  sister\nsails.', answer: 'How lovely!', memories: ['The user has a sister.', 'The user sails.'] });
    expect(prompt.system).toContain('You appraise exchanges');
    expect(prompt.system).toContain('one rating per numbered memory');
    expect(prompt.user).toBe('Visitor: My sister sails.\nAria: How lovely!\n\nMemories Aria keeps from it:\n1. The user has a sister.\n2. The user sails.\n\nJSON:');
  });

  it('asks for the tone only when no memory was formed, and cuts long messages', () => {
    const prompt = appraisalPrompt({ personaName: 'Kira', spoken: 'x'.repeat(2_000), answer: 'Hm.', memories: [] });
    expect(prompt.system).toContain('"poignancy" is an empty list');
    expect(prompt.user).toBe(`Visitor: ${'x'.repeat(APPRAISED_CHARS)}…\nKira: Hm.\n\nJSON:`);
    expect(appraisalMaxTokens(0)).toBeLessThan(appraisalMaxTokens(3));
  });
});

describe('parseAppraisal', () => {
  it('reads the tone and each rating as importance', () => {
    expect(parseAppraisal('{"tone": 0.5, "poignancy": [7, 3]}', 2)).toEqual({ tone: 0.5, importance: [0.7, 0.3], restated: [null, null] });
    expect(parseAppraisal('Sure! ```json\n{"tone": -0.25, "poignancy": [10]}\n```', 1)).toEqual({ tone: -0.25, importance: [1], restated: [null] });
  });

  it('keeps what is valid and nulls the rest, never guessing', () => {
    expect(parseAppraisal('{"tone": 2, "poignancy": [0, 4.5, "7", 9]}', 4)).toEqual({ tone: null, importance: [null, null, null, 0.9], restated: [null, null, null, null] });
    expect(parseAppraisal('{"tone": "warm", "poignancy": [5]}', 1)).toEqual({ tone: null, importance: [0.5], restated: [null] });
  });

  it('drops the ratings whole when their count is not the number of memories', () => {
    expect(parseAppraisal('{"tone": 0, "poignancy": [7]}', 2)).toEqual({ tone: 0, importance: [null, null], restated: [null, null] });
  });

  it('gives nothing for an answer that is no JSON object', () => {
    for (const answer of ['0.5', 'I cannot rate that.', '[1, 2]', '{"tone": 0.5', 'null'])
      expect(parseAppraisal(answer, 1)).toEqual({ tone: null, importance: [null], restated: [null] });
  });
});

describe('restating the memories in the same call (doc2query)', () => {
  const input = { personaName: 'Aria', spoken: 'I keep bees. I play the cello.', answer: 'Lovely!', memories: ['The user said: I keep bees.', 'The user said: I play the cello.'] };

  it('asks for one fact with its questions per numbered memory only when told to, with room for them in the reply', () => {
    expect(appraisalPrompt(input).system).not.toContain('"facts"');
    const prompt = appraisalPrompt({ ...input, restate: true });
    expect(prompt.system).toContain('"facts": [{"fact": text, "questions": [texts]}]');
    expect(prompt.system).toContain('3 different questions');
    expect(prompt.user).toBe(appraisalPrompt(input).user);
    expect(appraisalPrompt({ ...input, memories: [], restate: true }).system).not.toContain('"facts"');
    expect(appraisalMaxTokens(2, true)).toBeGreaterThan(appraisalMaxTokens(2) + 150);
  });

  it('reads each fact and its questions as the doc2query text', () => {
    const answer = JSON.stringify({
      tone: 0.5,
      poignancy: [4, 6],
      facts: [
        { fact: 'The user keeps bees.', questions: ['Does the user have hives?', 7, 'What does the user farm?', 'Q4?', 'Q5?'] },
        { fact: 'The user plays the cello.', questions: [] },
      ],
    });
    expect(parseAppraisal(answer, 2).restated).toEqual(['The user keeps bees. Does the user have hives? What does the user farm? Q4?', 'The user plays the cello.']);
  });

  it('nulls an entry without a fact, and drops the list whole when its length is wrong', () => {
    expect(parseAppraisal('{"tone": 0, "facts": [{"questions": ["Why?"]}, {"fact": "  "}, "text", {"fact": "F."}]}', 4).restated).toEqual([null, null, null, 'F.']);
    expect(parseAppraisal('{"tone": 0, "facts": [{"fact": "F."}]}', 2).restated).toEqual([null, null]);
  });
});


describe('appraisalsPrompt / parseAppraisals (several exchanges of one conversation in one call)', () => {
  const exchanges = [
    { spoken: 'My sister lives in Oslo.', answer: 'How lovely.', memories: ['The user said: My sister lives in Oslo.'] },
    { spoken: 'Thanks, bye!', answer: 'Goodbye.', memories: [] },
  ];

  it('numbers the exchanges and lists each one’s memories under it', () => {
    const prompt = appraisalsPrompt({ personaName: 'Aria', exchanges });
    expect(prompt.system).toContain('There are 2 numbered exchanges');
    expect(prompt.system).toContain('one JSON array');
    expect(prompt.user).toBe(
      'Exchange 1\nVisitor: My sister lives in Oslo.\nAria: How lovely.\nMemories Aria keeps from it:\n1. The user said: My sister lives in Oslo.\n\n' +
        'Exchange 2\nVisitor: Thanks, bye!\nAria: Goodbye.\n\nJSON:',
    );
    expect(appraisalsMaxTokens([1, 0])).toBe(8 + appraisalMaxTokens(1) + appraisalMaxTokens(0));
  });

  it('reads one object per exchange, each as the single answer is read', () => {
    expect(parseAppraisals('Sure: [{"tone": 0.5, "poignancy": [8]}, {"tone": 2, "poignancy": []}]', [1, 0])).toEqual([
      { tone: 0.5, importance: [0.8], restated: [null] },
      { tone: null, importance: [], restated: [] },
    ]);
  });

  it('gives no values to any exchange when the array has the wrong length or is no array', () => {
    const none = [
      { tone: null, importance: [null], restated: [null] },
      { tone: null, importance: [], restated: [] },
    ];
    expect(parseAppraisals('[{"tone": 0.5, "poignancy": [8]}]', [1, 0])).toEqual(none);
    expect(parseAppraisals('{"tone": 0.5, "poignancy": [8]}', [1, 0])).toEqual(none);
    expect(parseAppraisals('[not json]', [1, 0])).toEqual(none);
  });
});
