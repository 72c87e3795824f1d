import { describe, expect, it } from 'vitest';
import { applyMoodEvent, baselineMood, describeMood, driftMood, MOOD_HALF_LIFE_MS, MOOD_PROTOTYPES, moodName } from './mood.js';

const aria = { personalityTraits: { extroverted: 90, creative: 85, empathetic: 80, curious: 75, optimistic: 85 } };
const kira = { personalityTraits: { introverted: 70, analytical: 95, focused: 90, methodical: 85, reserved: 75 } };

describe('baselineMood', () => {
  it('comes from traits: optimism, sociability, curiosity', () => {
    expect(baselineMood(aria)).toEqual({ valence: 0.41, arousal: 0.67, stress: 0.1, curiosity: 0.75 });
    expect(baselineMood(kira)).toEqual({ valence: 0.2, arousal: 0.19, stress: 0.1, curiosity: 0.95 });
  });
});

describe('driftMood', () => {
  it('closes half the distance to the baseline every half-life', () => {
    const base = baselineMood(kira);
    const upset = { valence: -0.6, arousal: 0.79, stress: 0.5, curiosity: 0.95, updatedAt: 0 };
    expect(driftMood(upset, base, MOOD_HALF_LIFE_MS)).toEqual({
      valence: -0.2,
      arousal: 0.49,
      stress: 0.3,
      curiosity: 0.95,
      updatedAt: MOOD_HALF_LIFE_MS,
    });
    expect(driftMood(upset, base, 2 * MOOD_HALF_LIFE_MS)).toMatchObject({ valence: 0, arousal: 0.34, stress: 0.2 });
  });

  it('does not move when no time passed', () => {
    const state = { valence: -0.6, arousal: 0.79, stress: 0.5, curiosity: 0.95, updatedAt: 10 };
    expect(driftMood(state, baselineMood(kira), 10)).toEqual(state);
  });
});

describe('applyMoodEvent', () => {
  it('moves valence by 0.2 × sentiment, stirs arousal, and hostility adds stress', () => {
    const base = baselineMood(kira);
    const state = { ...base, updatedAt: 0 };
    expect(applyMoodEvent(state, base, { sentiment: -0.5, askedQuestion: false, now: 0 })).toEqual({
      valence: 0.1, // 0.2 − 0.2 × 0.5
      arousal: 0.24, // 0.19 + 0.1 × 0.5
      stress: 0.15, // 0.1 + 0.1 × 0.5
      curiosity: 0.95,
      updatedAt: 0,
    });
  });

  it('kindness soothes stress and a question raises curiosity', () => {
    const base = baselineMood(aria);
    const next = applyMoodEvent({ ...base, updatedAt: 0 }, base, { sentiment: 1, askedQuestion: true, now: 0 });
    expect(next).toMatchObject({ valence: 0.61, arousal: 0.77, stress: 0.05, curiosity: 0.8 });
  });
});

describe('moodName', () => {
  it('reads the circumplex: valence band ±0.15, arousal 0.35 / 0.65', () => {
    expect(moodName({ valence: 0.41, arousal: 0.67 })).toBe('excited');
    expect(moodName({ valence: 0.2, arousal: 0.19 })).toBe('content');
    expect(moodName({ valence: -0.3, arousal: 0.5 })).toBe('irritated');
    expect(moodName({ valence: 0, arousal: 0.5 })).toBe('neutral');
    for (const [name, point] of Object.entries(MOOD_PROTOTYPES)) expect(moodName(point)).toBe(name);
  });

  it('describes the mood for the prompt, mentioning stress at 0.5', () => {
    expect(describeMood({ valence: -0.3, arousal: 0.5, stress: 0.6, curiosity: 0.5 })).toBe(
      'You are a little irritated. You feel stressed.',
    );
  });
});
