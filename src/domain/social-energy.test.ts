import { describe, expect, it } from 'vitest';
import { availability, energyShare, freshEnergy, spendEnergy } from './social-energy.js';

const profile = { maxEnergy: 150, availableTime: 600, costPerTurn: 4, recoveryPerMinute: 3 };

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
