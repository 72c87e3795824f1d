import { describe, expect, it } from 'vitest';
import { APPRAISED_CHARS, appraisalMaxTokens, appraisalPrompt, parseAppraisal } from './turn-appraisal.js';

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
    expect(parseAppraisal('{"tone": 0.5, "poignancy": [7, 3]}', 2)).toEqual({ tone: 0.5, importance: [0.7, 0.3] });
    expect(parseAppraisal('Sure! ```json\n{"tone": -0.25, "poignancy": [10]}\n```', 1)).toEqual({ tone: -0.25, importance: [1] });
  });

  it('keeps what is valid and nulls the rest, never guessing', () => {
    expect(parseAppraisal('{"tone": 2, "poignancy": [0, 4.5, "7", 9]}', 4)).toEqual({ tone: null, importance: [null, null, null, 0.9] });
    expect(parseAppraisal('{"tone": "warm", "poignancy": [5]}', 1)).toEqual({ tone: null, importance: [0.5] });
  });

  it('drops the ratings whole when their count is not the number of memories', () => {
    expect(parseAppraisal('{"tone": 0, "poignancy": [7]}', 2)).toEqual({ tone: 0, importance: [null, null] });
  });

  it('gives nothing for an answer that is no JSON object', () => {
    for (const answer of ['0.5', 'I cannot rate that.', '[1, 2]', '{"tone": 0.5', 'null'])
      expect(parseAppraisal(answer, 1)).toEqual({ tone: null, importance: [null] });
  });
});
