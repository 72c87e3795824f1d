import { describe, expect, it } from 'vitest';
import { judgementPrompt, parseJudgement } from './judgement.js';

describe('parseJudgement', () => {
  it('takes the first number in −1..1', () => {
    expect(parseJudgement('0.8')).toBe(0.8);
    expect(parseJudgement('Rating: -0.5 (unfriendly)')).toBe(-0.5);
    expect(parseJudgement('−1')).toBe(-1);
    expect(parseJudgement('0.33333')).toBe(0.333);
  });

  it('refuses anything else, so the caller falls back on the heuristic', () => {
    expect(parseJudgement('friendly')).toBeNull();
    expect(parseJudgement('7')).toBeNull();
    expect(parseJudgement('')).toBeNull();
  });
});

describe('judgementPrompt', () => {
  it('quotes both sides under their names', () => {
    expect(judgementPrompt('Aria', 'You sing well', 'Thank you!').user).toContain('Visitor: You sing well\nAria: Thank you!');
  });
});
