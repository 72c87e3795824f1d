import { describe, expect, it } from 'vitest';
import { compatibility, interactionSuggestions } from './compatibility.js';

const aria = {
  name: 'Aria',
  personalityTraits: { extroverted: 90, creative: 85, empathetic: 80, curious: 75, optimistic: 85 },
  topicPreferences: { music: 95, stories: 90, travel: 85, adventure: 85, gossip: 80, art: 80, 'local news': 75, magic: 70 },
};
const kira = {
  name: 'Kira',
  personalityTraits: { introverted: 70, analytical: 95, focused: 90, methodical: 85, reserved: 75 },
  topicPreferences: { research: 95, magic: 90, discovery: 90, history: 85, books: 85, philosophy: 80, 'small talk': 25, gossip: 20 },
};

describe('compatibility', () => {
  it('scores Aria and Kira 36 and explains every term', () => {
    const result = compatibility(aria, kira);
    expect(result.score).toBe(36);
    expect(result.interestSimilarity).toBe(0.1554);
    expect(result.traitSimilarity).toBe(0.5); // no trait in common: neutral
    expect(result.sharedInterests).toEqual(['magic']);
    expect(result.reasons.map((reason) => [reason.factor, reason.points])).toEqual([
      ['interests', -20.7], // 100 × 0.6 × (0.1554 − 0.5)
      ['trait_pair', 5.7], // curious 75 × analytical 95 × 0.08
      ['trait_pair', -5], // extroverted 90 × introverted 70 × −0.08
      ['trait_pair', 3.6],
      ['trait_pair', 2.9],
      ['trait_pair', -2.7],
      ['trait_pair', 2.4],
    ]);
    expect(result.reasons[0]!.explanation).toBe('Few interests in common, only magic (interest similarity 0.16)');
  });

  it('is symmetric in score', () => {
    expect(compatibility(kira, aria).score).toBe(36);
  });

  it('scores identical personas high: same interests and traits', () => {
    const result = compatibility(aria, { ...aria, name: 'Aria2' });
    // 0.5 + 0.6 × 0.5 + 0.2 × 0.5 = 0.9, no pair rule applies between these traits
    expect(result.score).toBe(90);
  });

  it('suggests shared interests first, else each favourite topic', () => {
    expect(interactionSuggestions(aria, kira)).toEqual(['Talk about magic: both of them care about it.']);
    const bard = { name: 'Bard', personalityTraits: {}, topicPreferences: { music: 90 } };
    const monk = { name: 'Monk', personalityTraits: {}, topicPreferences: { silence: 90 } };
    expect(interactionSuggestions(bard, monk)).toEqual(['Let Bard talk about music.', 'Let Monk talk about silence.']);
  });
});
