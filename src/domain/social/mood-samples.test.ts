import { describe, expect, it } from 'vitest';
import type { SocialEnergyProfile } from '../persona.js';
import { MOOD_HALF_LIFE_MS } from './mood.js';
import { REST_SAMPLE_MIN_GAP_MS, restSample, sameFigures, type MoodEnergyFigures } from './mood-samples.js';

const profile: SocialEnergyProfile = { maxEnergy: 150, availableTime: 600, costPerTurn: 5, recoveryPerMinute: 2 };
const baseline = { valence: 0.3, arousal: 0.5, stress: 0.1, curiosity: 0.6 };
const T0 = 1_700_000_000_000;
const afterTurn: MoodEnergyFigures = { mood: 'excited', valence: 0.7, arousal: 0.9, stress: 0.1, curiosity: 0.6, energy: 100, maxEnergy: 150, fatigue: 0.4 };

describe('restSample', () => {
  it('is where the persona rested to: energy recovered per minute, mood halfway home after one half-life, fatigue halved after 30 min', () => {
    const rested = restSample(afterTurn, T0, profile, baseline, T0 + MOOD_HALF_LIFE_MS)!;
    expect(rested.energy).toBe(150); // 100 + 2/min × 120 min, capped at the maximum
    expect(rested.valence).toBeCloseTo(0.5, 4); // 0.3 + (0.7 − 0.3) / 2
    expect(rested.arousal).toBeCloseTo(0.7, 4);
    expect(rested.fatigue).toBeCloseTo(0.4 / 16, 4); // four half-lives of 30 min
    expect(rested.maxEnergy).toBe(150);
  });

  it('is not worth recording after a short gap or when nothing moved visibly', () => {
    expect(restSample(afterTurn, T0, profile, baseline, T0 + REST_SAMPLE_MIN_GAP_MS - 1)).toBeNull();
    const atRest: MoodEnergyFigures = { ...afterTurn, ...baseline, mood: 'cheerful', energy: 150, fatigue: 0 };
    expect(restSample(atRest, T0, profile, baseline, T0 + 10 * REST_SAMPLE_MIN_GAP_MS)).toBeNull();
  });

  it('takes the energy line alone when the mood is at its baseline', () => {
    const tired: MoodEnergyFigures = { ...afterTurn, ...baseline, mood: 'cheerful', energy: 20, fatigue: 0 };
    expect(restSample(tired, T0, profile, baseline, T0 + 5 * 60_000)?.energy).toBe(30);
  });
});

describe('sameFigures', () => {
  it('treats rounding noise as the same and a changed figure as different', () => {
    expect(sameFigures(afterTurn, { ...afterTurn, valence: 0.70004, energy: 100.01 })).toBe(true);
    expect(sameFigures(afterTurn, { ...afterTurn, energy: 95 })).toBe(false);
    expect(sameFigures(afterTurn, { ...afterTurn, stress: 0.2 })).toBe(false);
  });
});
