import { describe, expect, it } from 'vitest';
import { exchangeQuality, sentiment } from './sentiment.js';

describe('sentiment', () => {
  it('gives one warm word a third: 1 / (1 + 2)', () => {
    expect(sentiment('thanks')).toEqual({ score: 0.333, positive: 1, negative: 0 });
  });

  it('counts stemmed lexicon words and lets "!" strengthen the lean', () => {
    // love, wonderful + one "!" → 3 positive: 3 / (3 + 2)
    expect(sentiment('I love your songs, they are wonderful!')).toEqual({ score: 0.6, positive: 3, negative: 0 });
    // stupid, liar + two "!" → 4 negative: −4 / 6
    expect(sentiment('You are a stupid liar!!')).toEqual({ score: -0.667, positive: 0, negative: 4 });
  });

  it('flips a word after a negator ("not good", "don\'t like")', () => {
    expect(sentiment('This is not good').score).toBe(-0.333);
    expect(sentiment("I don't like this").score).toBe(-0.333);
    expect(sentiment('not bad at all').score).toBe(0.333);
  });

  it('is 0 for a message without feeling words', () => {
    expect(sentiment('Tell me about magic')).toEqual({ score: 0, positive: 0, negative: 0 });
  });
});

describe('exchangeQuality', () => {
  it('weighs the words spoken 0.7 and the answer 0.3', () => {
    // 0.7 × sentiment("Thank you, that was lovely") (2 words: 0.5) + 0.3 × sentiment("I am glad") (0.333)
    expect(exchangeQuality('Thank you, that was lovely', 'I am glad')).toBe(0.45);
  });
});
