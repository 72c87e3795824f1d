import { describe, expect, it } from 'vitest';
import {
  availability,
  energyShare,
  FATIGUE_HALF_LIFE_MS,
  freshEnergy,
  FRESH_START_REST_MS,
  restEnergy,
  restedFatigue,
  restoreEnergy,
  secondsUntilShare,
  spendEnergy,
  type SocialEnergyState,
} from './social-energy.js';

const profile = { maxEnergy: 150, availableTime: 600, costPerTurn: 4, recoveryPerMinute: 3 };
/** Kira's profile: 80 energy, 6 per turn, 1.5 back per minute. */
const kira = { maxEnergy: 80, availableTime: 300, costPerTurn: 6, recoveryPerMinute: 1.5 };
const MINUTE = 60_000;

/** Thirty quick exchanges (20 s apart, 300 characters each), from a fresh state at t = 0. */
function thirtyTurns(): SocialEnergyState {
  let state = freshEnergy(kira, 0);
  for (let turn = 1; turn <= 30; turn++) state = spendEnergy(state, kira, 300, turn * 20_000);
  return state;
}

describe('social energy', () => {
  it('gives energy as a share of the maximum, 0 for a profile without energy', () => {
    expect(energyShare({ energy: 75 }, profile)).toBe(0.5);
    expect(energyShare({ energy: 10 }, { ...profile, maxEnergy: 0 })).toBe(0);
  });

  it('spends cost × (1 + chars/1000) per exchange and scales available time by the share left', () => {
    const spent = spendEnergy(freshEnergy(profile, 0), profile, 500, 0);
    expect(spent.energy).toBe(144);
    expect(spent.fatigue).toBeCloseTo(0.05);
    expect(availability(spent, profile, 0)).toEqual({ isAvailable: true, availableTime: 576, cooldownRemaining: 0 });
  });
});

describe('fatigue recovery', () => {
  it('thirty quick turns wear Kira out: fatigue at its cap of 1, energy gone, a cooldown', () => {
    const tired = thirtyTurns();
    expect(tired.fatigue).toBe(1);
    expect(tired.energy).toBe(0);
    expect(tired.cooldownUntil).not.toBeNull();
  });

  it('halves every 30 idle minutes and reads 0 below 0.01', () => {
    expect(restedFatigue(1, 15 * MINUTE)).toBeCloseTo(0.7071, 4);
    expect(restedFatigue(1, FATIGUE_HALF_LIFE_MS)).toBe(0.5);
    expect(restedFatigue(1, 60 * MINUTE)).toBe(0.25);
    expect(restedFatigue(1, 3 * 60 * MINUTE)).toBeCloseTo(0.0156, 4);
    expect(restedFatigue(1, 200 * MINUTE)).toBe(0);
  });

  it('a conversation taken up again keeps the curve; a new one after 15 minutes of rest starts fresh', () => {
    const tired = thirtyTurns();
    const later = tired.updatedAt + FRESH_START_REST_MS;
    expect(restEnergy(tired, kira, later).fatigue).toBeCloseTo(0.7071, 4);
    expect(restEnergy(tired, kira, later, { opensConversation: true }).fatigue).toBe(0);
    // a new conversation right away: still tired
    expect(restEnergy(tired, kira, tired.updatedAt + MINUTE, { opensConversation: true }).fatigue).toBeGreaterThan(0.9);
    // the first exchange of the fresh conversation costs its own 0.05 and no more
    expect(spendEnergy(tired, kira, 20, later, { opensConversation: true }).fatigue).toBe(0.05);
  });

  it('energy comes back linearly meanwhile: Kira has 22.5 of 80 after 15 minutes', () => {
    const tired = thirtyTurns();
    const later = restEnergy(tired, kira, tired.updatedAt + 15 * MINUTE);
    expect(later.energy).toBe(22.5);
  });
});

describe('restoreEnergy (emotional.update_state)', () => {
  it('full energy means fully rested: fatigue 0, no cooldown', () => {
    const tired = thirtyTurns();
    expect(restoreEnergy(tired, kira, { energy: 80 }, tired.updatedAt)).toEqual({
      energy: 80,
      fatigue: 0,
      updatedAt: tired.updatedAt,
      cooldownUntil: null,
    });
  });

  it('a partial restore keeps the fatigue; an explicit one sets it; energy is capped', () => {
    const tired = thirtyTurns();
    expect(restoreEnergy(tired, kira, { energy: 40 }, tired.updatedAt)).toMatchObject({ energy: 40, cooldownUntil: null });
    expect(restoreEnergy(tired, kira, { energy: 40 }, tired.updatedAt).fatigue).toBe(1);
    expect(restoreEnergy(tired, kira, { energy: 500, fatigue: 0.3 }, tired.updatedAt)).toMatchObject({ energy: 80, fatigue: 0.3 });
    expect(restoreEnergy(tired, kira, { fatigue: 0 }, tired.updatedAt)).toMatchObject({ energy: 0, fatigue: 0 });
    // energy 0 keeps a cooldown that is running
    expect(restoreEnergy(tired, kira, { energy: 0 }, tired.updatedAt).cooldownUntil).toBe(tired.cooldownUntil);
  });
});

describe('secondsUntilShare (when a drained persona can talk again)', () => {
  it('is 0 with enough energy, the recovery time without, and the longer of that and a cooldown', () => {
    expect(secondsUntilShare(freshEnergy(kira, 0), kira, 0, 0.1)).toBe(0);
    // 4 of 80 (5 %): 4 more to reach 10 % at 1.5 per minute = 160 s
    expect(secondsUntilShare({ energy: 4, fatigue: 0, updatedAt: 0, cooldownUntil: null }, kira, 0, 0.1)).toBe(160);
    // thirty turns: energy 0 and a cooldown until a quarter is back (20 of 80 at 1.5/min = 800 s), longer than 8 of 80
    const tired = thirtyTurns();
    expect(secondsUntilShare(tired, kira, tired.updatedAt, 0.1)).toBe(800);
    expect(secondsUntilShare({ energy: 0, fatigue: 0, updatedAt: 0, cooldownUntil: null }, { ...kira, recoveryPerMinute: 0 }, 0, 0.1)).toBeNull();
  });
});
