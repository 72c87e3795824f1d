import { describe, expect, it } from 'vitest';
import { chooseSpeaker, mentions, speakerDesire, type SpeakerCandidate } from './speaker-selection.js';

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
    expect(choice).toEqual({ kind: 'speak', personaId: 'tobias', mode: 'continue', desire: 60, desires: { kira: 55, tobias: 60 } });
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

describe('mentions', () => {
  it('finds a name as a whole word, in any case', () => {
    expect(mentions('Kira, what do you think?', 'Kira')).toBe(true);
    expect(mentions('what about you, kira', 'Kira')).toBe(true);
    expect(mentions('Kiran said so', 'Kira')).toBe(false);
  });
});
