import { describe, expect, it } from 'vitest';
import { addressees, chooseSpeaker, mentionIndex, mentions, speakerDesire, type SpeakerCandidate } from './speaker-selection.js';

function candidate(personaId: string, overrides: Partial<SpeakerCandidate> = {}): SpeakerCandidate {
  return {
    personaId,
    isAvailable: true,
    continueScore: 60,
    decision: 'continue',
    isAddressed: false,
    affinityToLastSpeaker: 0,
    turnsSinceSpoke: 1,
    ...overrides,
  };
}

describe('speakerDesire', () => {
  it('adds the addressed bonus, affinity and quiet turns to the continue score', () => {
    // 55 + 25 + 10 × 0.5 + 5 × min(4, 3)
    expect(speakerDesire(candidate('kira', { continueScore: 55, isAddressed: true, affinityToLastSpeaker: 0.5, turnsSinceSpoke: 4 }))).toBe(
      100,
    );
    // a persona that has not spoken yet counts as quiet for 3 turns: 40 + 15
    expect(speakerDesire(candidate('aria', { continueScore: 40, turnsSinceSpoke: null }))).toBe(55);
  });
});

describe('chooseSpeaker', () => {
  it('picks the highest desire, never the last speaker', () => {
    const choice = chooseSpeaker(
      [candidate('aria', { continueScore: 90 }), candidate('kira', { continueScore: 50 }), candidate('tobias', { continueScore: 55 })],
      'aria',
    );
    expect(choice).toEqual({
      kind: 'speak',
      personaId: 'tobias',
      mode: 'continue',
      reason: 'desire',
      desire: 60,
      desires: { kira: 55, tobias: 60 },
    });
  });

  it('lets the one addressed answer', () => {
    const choice = chooseSpeaker(
      [candidate('aria', { continueScore: 70 }), candidate('kira', { continueScore: 50, isAddressed: true })],
      null,
    );
    expect(choice.kind === 'speak' && choice.personaId).toBe('kira');
  });

  it('breaks ties in participant order', () => {
    const choice = chooseSpeaker([candidate('aria'), candidate('kira')], null);
    expect(choice.kind === 'speak' && choice.personaId).toBe('aria');
  });

  it('asks a winding-down speaker to wrap up, and skips those who want to end', () => {
    const choice = chooseSpeaker(
      [
        candidate('aria', { decision: 'end', continueScore: 20, isAddressed: true }),
        candidate('kira', { decision: 'wind_down', continueScore: 40 }),
      ],
      null,
    );
    expect(choice).toMatchObject({ kind: 'speak', personaId: 'kira', mode: 'wind_down' });
  });

  it('ends when nobody wants to continue, or nobody is available', () => {
    expect(chooseSpeaker([candidate('aria', { decision: 'end' }), candidate('kira', { decision: 'end' })], null)).toMatchObject({
      kind: 'end',
      reason: 'nobody_wants_to_continue',
    });
    expect(chooseSpeaker([candidate('aria'), candidate('kira', { isAvailable: false })], 'aria')).toMatchObject({
      kind: 'end',
      reason: 'nobody_available',
    });
  });
});

describe('chooseSpeaker with direct address (rule 2, before scores)', () => {
  it('gives the turn to the one addressed even when another wants it far more', () => {
    // Kira: 90 + 25 + 15 = 130 desire; Bram, addressed: 20 + 25 + 5 = 50 — Bram answers
    const choice = chooseSpeaker(
      [
        candidate('kira', { continueScore: 90, isAddressed: true, turnsSinceSpoke: 3 }),
        candidate('bram', { continueScore: 20, isAddressed: true, addressRank: 0 }),
      ],
      null,
    );
    expect(choice).toMatchObject({ kind: 'speak', personaId: 'bram', reason: 'addressed', desire: 50, mode: 'continue' });
  });

  it('answers briefly when it would rather stop, and lets the next addressee speak when the first cannot', () => {
    const tired = chooseSpeaker([candidate('aria'), candidate('bram', { decision: 'end', continueScore: 10, addressRank: 0 })], null);
    expect(tired).toMatchObject({ personaId: 'bram', mode: 'wind_down', reason: 'addressed' });
    const resting = chooseSpeaker(
      [
        candidate('aria', { addressRank: 1 }),
        candidate('bram', { isAvailable: false, addressRank: 0 }),
        candidate('kira', { continueScore: 95 }),
      ],
      null,
    );
    expect(resting).toMatchObject({ personaId: 'aria', reason: 'addressed' });
  });

  it('never lets the last speaker answer itself, and falls back to desire when nobody addressed can speak', () => {
    const choice = chooseSpeaker([candidate('aria', { addressRank: 0 }), candidate('kira', { continueScore: 40 })], 'aria');
    expect(choice).toMatchObject({ personaId: 'kira', reason: 'desire' });
  });
});

describe('addressees', () => {
  const group = [
    { personaId: 'aria', name: 'Aria' },
    { personaId: 'kira', name: 'Kira' },
    { personaId: 'bram', name: 'Bram' },
  ];

  it('names in the latest line come first, in the order named, never the speaker itself', () => {
    expect(addressees([{ speakerId: null, content: 'Bram, what do you think?' }], group)).toEqual(['bram']);
    expect(addressees([{ speakerId: null, content: 'And you, Kira? Bram said so.' }], group)).toEqual(['kira', 'bram']);
    expect(addressees([{ speakerId: 'kira', content: 'I, Kira, agree with Aria.' }], group)).toEqual(['aria']);
  });

  it('an answer to a question gives the floor back to the one who asked', () => {
    const lines = [
      { speakerId: 'kira', content: 'Where did you find that map?' },
      { speakerId: null, content: 'In the harbour archive.' },
    ];
    expect(addressees(lines, group)).toEqual(['kira']);
    // no question, no address
    expect(addressees([{ speakerId: 'kira', content: 'The map is old.' }, lines[1]!], group)).toEqual([]);
    // a persona answering a persona's question, too
    expect(addressees([lines[0]!, { speakerId: 'bram', content: 'From a trader.' }], group)).toEqual(['kira']);
  });

  it('keeps those the user named until they have spoken', () => {
    const lines = [
      { speakerId: null, content: 'Kira and Bram, what do you make of it?' },
      { speakerId: 'kira', content: 'It is a forgery.' },
    ];
    expect(addressees(lines, group)).toEqual(['bram']);
    expect(addressees([...lines, { speakerId: 'bram', content: 'I disagree.' }], group)).toEqual([]);
    // a persona naming another comes before the user's older address
    expect(addressees([lines[0]!, { speakerId: 'kira', content: 'Aria, you saw it first.' }], group)).toEqual(['aria', 'bram']);
  });
});

describe('mentionIndex', () => {
  it('is where the name starts, −1 when absent', () => {
    expect(mentionIndex('Well, Bram, what now?', 'Bram')).toBe(6);
    expect(mentionIndex('Bramble', 'Bram')).toBe(-1);
  });
});

describe('mentions', () => {
  it('finds a name as a whole word, in any case', () => {
    expect(mentions('Kira, what do you think?', 'Kira')).toBe(true);
    expect(mentions('what about you, kira', 'Kira')).toBe(true);
    expect(mentions('Kiran said so', 'Kira')).toBe(false);
    expect(mentions('bram what do YOU think', 'Bram')).toBe(true);
  });

  it('does not take a common word for a name in a line that capitalises names', () => {
    expect(mentions('I will ask Kira about it', 'Will')).toBe(false);
    expect(mentions('I hope you are well, Aria.', 'Hope')).toBe(false);
    expect(mentions('Will, what do you think?', 'Will')).toBe(true);
    expect(mentions('I will ask Will', 'Will')).toBe(true);
    expect(mentionIndex('I will ask Will', 'Will')).toBe(11);
    // a line all in lower case cannot tell a name from a word
    expect(mentions('i will go', 'Will')).toBe(true);
  });
});
