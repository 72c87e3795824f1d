import { describe, expect, it } from 'vitest';

import {
  continueScore,
  decide,
  decideFor,
  isDrained,
  exchangesSoFar,
  isOpeningExchange,
  lastUserMessages,
  effectiveEnergy,
  engagement,
  lengthPenalty,
  softTurnLimit,
  stem,
  topicRelevance,
  withoutApostrophes,
  type ContinueScoreInput,
} from './continue-score.js';

const aria = {
  personalityTraits: { extroverted: 90, creative: 85, empathetic: 80, curious: 75, optimistic: 85 },
  topicPreferences: { music: 95, stories: 90, travel: 85, adventure: 85, gossip: 80, art: 80, 'local news': 75, magic: 70 },
};
const kira = {
  personalityTraits: { introverted: 70, analytical: 95, focused: 90, methodical: 85, reserved: 75 },
  topicPreferences: { research: 95, magic: 90, discovery: 90, history: 85, books: 85, philosophy: 80, 'small talk': 25, gossip: 20 },
};

const rested = { energyShare: 1, fatigue: 0, recentUserMessages: [], turnCount: 1 } satisfies Partial<ContinueScoreInput>;

describe('continueScore', () => {
  it('Aria asked for a song at the second message wants to go on (80)', () => {
    // 46 chars with a question: engagement 46/200 + 0.25 = 0.48. "sing"/"ballad" → music 0.95 ("road" → travel 0.85).
    const result = continueScore({ ...rested, persona: aria, message: 'Would you sing me a ballad about the old road?', turnCount: 2 });
    expect(result.factors.topicRelevance).toBe(0.95);
    expect(result.factors.energy).toBe(1);
    expect(result.factors.relationship).toBe(0.5);
    expect(result.factors.engagement).toBeCloseTo(0.48, 10);
    expect(result.factors.lengthPenalty).toBe(0);
    // 0.35·0.95 + 0.30·1 + 0.15·0.5 + 0.20·0.48 = 0.3325 + 0.3 + 0.075 + 0.096 = 0.8035
    expect(result.score).toBe(80);
    expect(result.decision).toBe('continue');
  });

  it('a tired Kira asked about gossip after curt messages ends the conversation (22)', () => {
    const result = continueScore({
      persona: kira,
      message: "Did you hear the latest gossip about the baker's daughter?",
      energyShare: 0.2,
      fatigue: 0.6,
      recentUserMessages: ['ok', 'lol'],
      turnCount: 5,
    });
    expect(result.factors.topicRelevance).toBe(0.2);
    expect(result.factors.energy).toBeCloseTo(0.14, 10); // 0.2 × (1 − 0.5·0.6)
    // ("ok" 0.01 + "lol" 0.015 + 58 chars with "?" 0.29 + 0.25) / 3
    expect(result.factors.engagement).toBeCloseTo(0.565 / 3, 10);
    // 0.07 + 0.042 + 0.075 + 0.0377 = 0.2247
    expect(result.score).toBe(22);
    expect(result.decision).toBe('end');
  });

  it('a long conversation costs Kira up to 0.3 after her soft limit of 13 turns', () => {
    const ask = { ...rested, persona: kira, message: 'What do you make of the old manuscript evidence?' };
    // relevance 0.95 (evidence → research), energy 1, relationship 0.5, engagement 48/200 + 0.25 = 0.49 → 0.8055
    expect(continueScore({ ...ask, turnCount: 10 }).score).toBe(81);
    // 3 turns past the limit: − 0.06
    expect(continueScore({ ...ask, turnCount: 16 }).score).toBe(75);
    // 27 turns past: 0.54, capped at 0.3
    const late = continueScore({ ...ask, turnCount: 40 });
    expect(late.factors.lengthPenalty).toBe(0.3);
    expect(late.score).toBe(51);
    expect(late.decision).toBe('wind_down');
  });

  it('Aria, the extrovert, tolerates the same long conversation better (soft limit 29)', () => {
    const late = continueScore({ ...rested, persona: aria, message: 'Tell me a tale of the road.', turnCount: 40 });
    expect(late.factors.lengthPenalty).toBeCloseTo(0.22, 10); // 11 turns × 0.02
  });

  it('a friend raises the score and a foe lowers it', () => {
    const ask = { ...rested, persona: kira, message: 'Hmm.' };
    expect(continueScore({ ...ask, relationship: 1 }).factors.relationship).toBe(1);
    expect(continueScore({ ...ask, relationship: -1 }).factors.relationship).toBe(0);
    expect(continueScore({ ...ask, relationship: 1 }).score - continueScore({ ...ask, relationship: -1 }).score).toBe(15);
  });

  it('does not count the current message twice when the caller passes it in the history too', () => {
    const message = 'Have you read the Codex of Ilmar?';
    const once = continueScore({ ...rested, persona: kira, message, recentUserMessages: ['Hello'], turnCount: 2 });
    const twice = continueScore({ ...rested, persona: kira, message, recentUserMessages: ['Hello', message], turnCount: 2 });
    expect(twice).toEqual(once);
  });

  it('always returns an integer between 0 and 100', () => {
    const worst = continueScore({
      persona: kira,
      message: '',
      energyShare: 0,
      fatigue: 1,
      relationship: -1,
      recentUserMessages: [],
      turnCount: 500,
    });
    expect(worst.score).toBe(0);
    const best = continueScore({
      persona: aria,
      message: 'x'.repeat(300),
      energyShare: 1,
      fatigue: 0,
      relationship: 1,
      recentUserMessages: [],
      turnCount: 1,
    });
    // neutral topic 0.5: 0.175 + 0.3 + 0.15 + 0.2 = 0.825
    expect(best.score).toBe(83);
  });
});

describe("the opening (a conversation's first message)", () => {
  it('"Hello Kira" to a rested Kira gets continue (66): engagement counts 1 at the opening', () => {
    const hello = continueScore({ ...rested, persona: kira, message: 'Hello Kira' });
    // "hello" → small talk 0.25; 0.35·0.25 + 0.30·1 + 0.15·0.5 + 0.20·1 = 0.0875 + 0.3 + 0.075 + 0.2 = 0.6625
    expect(hello.factors.engagement).toBe(1);
    expect(hello.score).toBe(66);
    expect(hello.decision).toBe('continue');
    // the same greeting later in a conversation is judged on its substance: 10 chars → 0.05 → 0.4725
    expect(continueScore({ ...rested, persona: kira, message: 'Hello Kira', turnCount: 2 })).toMatchObject({
      score: 47,
      decision: 'wind_down',
    });
  });

  it('never ends at the first message with half the energy or more; a drained persona still may', () => {
    const bored = { personalityTraits: {}, topicPreferences: { gossip: 0 } };
    const opening = { persona: bored, message: 'Heard any gossip?', fatigue: 1, relationship: -1, recentUserMessages: [], turnCount: 1 };
    // 0.35·0 + 0.30·(0.5 × 0.5) + 0.15·0 + 0.20·1 = 0.275: below 35, spared at energy 0.5
    expect(continueScore({ ...opening, energyShare: 0.5 })).toMatchObject({ score: 28, decision: 'wind_down' });
    expect(continueScore({ ...opening, energyShare: 0.4 })).toMatchObject({ score: 26, decision: 'end' });
    expect(continueScore({ ...opening, energyShare: 0.5, turnCount: 2 }).decision).toBe('end');
  });

  it('a drained persona (below a tenth of its energy) ends whatever the score, even at the opening', () => {
    const hello = continueScore({ ...rested, persona: kira, message: 'Hello Kira', energyShare: 0.05 });
    // 0.0875 + 0.3·0.05 + 0.075 + 0.2 = 0.3775: the score alone would wind down
    expect(hello).toMatchObject({ score: 38, decision: 'end' });
    expect(continueScore({ ...rested, persona: kira, message: 'Hello Kira', energyShare: 0.1 }).decision).toBe('wind_down');
  });
});

describe('exchangesSoFar', () => {
  it("counts the visitor's messages, so a persona's greeting leaves the first message the opening", () => {
    expect(exchangesSoFar([{ role: 'assistant' }, { role: 'user' }])).toBe(1);
    expect(exchangesSoFar([{ role: 'user' }, { role: 'assistant' }, { role: 'user' }])).toBe(2);
    expect(exchangesSoFar([])).toBe(1);
  });
});

describe('isOpeningExchange', () => {
  it('answers as exchangesSoFar(history) === 1 does', () => {
    const histories = [
      [],
      [{ role: 'user' }],
      [{ role: 'assistant' }, { role: 'user' }],
      [{ role: 'user' }, { role: 'assistant' }],
      [{ role: 'user' }, { role: 'assistant' }, { role: 'user' }],
      [{ role: 'user' }, { role: 'user' }],
      [{ role: 'user' }, { role: 'assistant' }, { role: 'assistant' }, { role: 'system' }],
    ];
    for (const history of histories) expect(isOpeningExchange(history)).toBe(exchangesSoFar(history) === 1);
  });
});

describe('lastUserMessages', () => {
  it("gives the visitor's last messages, oldest first, skipping the persona's", () => {
    const history = [
      { role: 'user', content: 'one' },
      { role: 'assistant', content: 'reply' },
      { role: 'user', content: 'two' },
      { role: 'system', content: 'note' },
      { role: 'user', content: 'three' },
    ];
    expect(lastUserMessages(history, 2)).toEqual(['two', 'three']);
    expect(lastUserMessages(history, 5)).toEqual(['one', 'two', 'three']);
    expect(lastUserMessages(history, 0)).toEqual([]);
    expect(lastUserMessages([], 5)).toEqual([]);
  });
});

describe('decide', () => {
  it('continues at 60 and above, winds down from 35, ends below', () => {
    expect([100, 60, 59, 35, 34, 0].map(decide)).toEqual(['continue', 'continue', 'wind_down', 'wind_down', 'end', 'end']);
  });

  it('overrides the score for a drained persona and at the opening (decideFor)', () => {
    expect(decideFor(90, 0.09, false)).toBe('end');
    expect(isDrained(0.09)).toBe(true);
    expect(isDrained(0.1)).toBe(false);
    expect(decideFor(20, 0.5, true)).toBe('wind_down');
    expect(decideFor(20, 0.49, true)).toBe('end');
    expect(decideFor(20, 1, false)).toBe('end');
  });
});

describe('topicRelevance', () => {
  it('is the preference of the best-liked topic touched', () => {
    expect(topicRelevance('I study old spells', kira.topicPreferences)).toBe(0.95); // study → research beats spell → magic
    expect(topicRelevance('Any rumors about the library?', kira.topicPreferences)).toBe(0.85); // library → books beats gossip
  });

  it('is neutral (0.5) when no topic is touched', () => {
    expect(topicRelevance('Pass the salt, please.', kira.topicPreferences)).toBe(0.5);
  });

  it('matches multiword topics by phrase, significant word or synonym, never by a generic word alone', () => {
    expect(topicRelevance('Any local news?', aria.topicPreferences)).toBe(0.75);
    expect(topicRelevance('I bring news!', aria.topicPreferences)).toBe(0.75);
    expect(topicRelevance("What's happening at the market?", aria.topicPreferences)).toBe(0.75);
    expect(topicRelevance('How are you today?', kira.topicPreferences)).toBe(0.25);
    expect(topicRelevance('Lovely weather.', kira.topicPreferences)).toBe(0.25);
    // "talk" alone does not make it small talk:
    expect(topicRelevance("Let's talk about magic", kira.topicPreferences)).toBe(0.9);
    expect(topicRelevance("Let's talk", kira.topicPreferences)).toBe(0.5);
  });

  it('matches a phrase of several words only where its words stand together, in order', () => {
    expect(topicRelevance('Small talk bores me', { 'small talk': 30 })).toBe(0.3);
    expect(topicRelevance('Talk about something small', { 'small talk': 30 })).toBe(0.5);
    expect(topicRelevance('The dragon lore of old', { 'dragon lore': 80 })).toBe(0.8); // a significant word alone
    expect(topicRelevance("How are you, friend?", { 'small talk': 30 })).toBe(0.3); // a synonym of three words
    expect(topicRelevance('You are how old?', { 'small talk': 30 })).toBe(0.5);
  });

  it('matches inflected words through light stemming', () => {
    expect(topicRelevance('I love singing songs', { music: 60 })).toBe(0.6);
    expect(topicRelevance('Tell me stories', { stories: 40 })).toBe(0.4);
    expect(topicRelevance('We discovered a cave', { discovery: 90 })).toBe(0.9);
  });
});

describe('stem', () => {
  it.each([
    ['songs', 'song'],
    ['singing', 'sing'],
    ['sing', 'sing'],
    ['stories', 'story'],
    ['news', 'news'],
    ["baker's", 'baker'],
    ['Baker’s', 'baker'],
    ["don't", 'dont'],
    ['discovered', 'discover'],
    ['glass', 'glass'],
    ['Books', 'book'],
  ])('%s → %s', (word, stemmed) => {
    expect(stem(word)).toBe(stemmed);
  });
});

describe('withoutApostrophes', () => {
  it.each([
    ["don't", 'dont'],
    ['it’s', 'its'],
    ["rock'n'roll", 'rocknroll'],
    ['lantern', 'lantern'],
  ])('%s → %s', (word, plain) => {
    expect(withoutApostrophes(word)).toBe(plain);
  });
});

describe('the terms', () => {
  it('energy is the share reduced by up to half by fatigue', () => {
    expect(effectiveEnergy(1, 1)).toBe(0.5);
    expect(effectiveEnergy(0.8, 0.5)).toBeCloseTo(0.6, 10);
    expect(effectiveEnergy(2, -1)).toBe(1); // clamped
  });

  it('engagement saturates at 200 characters and rewards questions', () => {
    expect(engagement([])).toBe(0);
    expect(engagement(['x'.repeat(100)])).toBe(0.5);
    expect(engagement(['x'.repeat(400)])).toBe(1);
    expect(engagement(['Why?'])).toBeCloseTo(0.27, 10); // 4/200 + 0.25
  });

  it('the soft turn limit follows sociability', () => {
    expect(softTurnLimit(aria.personalityTraits)).toBe(29);
    expect(softTurnLimit(kira.personalityTraits)).toBe(13);
    expect(softTurnLimit({})).toBe(20);
  });

  it('the length penalty is 0.02 a turn past the limit, at most 0.3', () => {
    expect(lengthPenalty(20, 20)).toBe(0);
    expect(lengthPenalty(25, 20)).toBe(0.1);
    expect(lengthPenalty(100, 20)).toBe(0.3);
  });
});
