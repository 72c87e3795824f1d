/**
 * Social energy: talking costs a persona energy, rest restores it. An extrovert like Aria starts with
 * more and tires slowly; an introvert like Kira has less and needs her quiet. Pure functions over an
 * explicit `now` (milliseconds), so every number here is testable.
 */
import type { SocialEnergyProfile } from './persona.js';

export interface SocialEnergyState {
  /** Current energy, 0..profile.maxEnergy. */
  energy: number;
  /** Accumulated tiredness from recent interactions, 0..1; decays while the persona rests. */
  fatigue: number;
  /** When `energy`/`fatigue` were last brought up to date (ms since epoch). */
  updatedAt: number;
  /** While set and in the future the persona is resting and reports itself unavailable. */
  cooldownUntil: number | null;
}

/** Fatigue halves every 30 idle minutes: a rested persona is fresh again after a couple of hours. */
export const FATIGUE_HALF_LIFE_MS = 30 * 60_000;
/** Each exchange adds this much fatigue (so ~20 quick turns tire anyone). */
export const FATIGUE_PER_TURN = 0.05;
/** Replies and messages longer than this cost extra energy, proportionally. */
export const CHARS_PER_EXTRA_COST = 1_000;
/** An exhausted persona rests until it has regained this share of its maximum energy. */
export const COOLDOWN_RECOVERY_SHARE = 0.25;

export function freshEnergy(profile: SocialEnergyProfile, now: number): SocialEnergyState {
  return { energy: profile.maxEnergy, fatigue: 0, updatedAt: now, cooldownUntil: null };
}

/** Brings the state up to `now`: energy recovers linearly while idle, fatigue decays exponentially. */
export function restEnergy(state: SocialEnergyState, profile: SocialEnergyProfile, now: number): SocialEnergyState {
  const elapsed = Math.max(0, now - state.updatedAt);
  const energy = Math.min(profile.maxEnergy, state.energy + (profile.recoveryPerMinute * elapsed) / 60_000);
  const fatigue = state.fatigue * Math.pow(0.5, elapsed / FATIGUE_HALF_LIFE_MS);
  const cooldownUntil = state.cooldownUntil !== null && state.cooldownUntil > now ? state.cooldownUntil : null;
  return { energy, fatigue, updatedAt: now, cooldownUntil };
}

/**
 * Spends the energy one exchange costs: `costPerTurn`, plus the same again per 1,000 characters
 * exchanged. When energy runs out the persona goes on cooldown until it has recovered a quarter.
 */
export function spendEnergy(
  state: SocialEnergyState,
  profile: SocialEnergyProfile,
  exchangedChars: number,
  now: number,
): SocialEnergyState {
  const rested = restEnergy(state, profile, now);
  const cost = profile.costPerTurn * (1 + exchangedChars / CHARS_PER_EXTRA_COST);
  const energy = Math.max(0, rested.energy - cost);
  const fatigue = Math.min(1, rested.fatigue + FATIGUE_PER_TURN);
  let cooldownUntil = rested.cooldownUntil;
  if (energy === 0 && profile.recoveryPerMinute > 0) {
    const minutesToRecover = (profile.maxEnergy * COOLDOWN_RECOVERY_SHARE) / profile.recoveryPerMinute;
    cooldownUntil = now + Math.round(minutesToRecover * 60_000);
  }
  return { energy, fatigue, updatedAt: now, cooldownUntil };
}

/** Energy as a share of the maximum, 0..1 (0 for a profile without energy). */
export function energyShare(state: Pick<SocialEnergyState, 'energy'>, profile: SocialEnergyProfile): number {
  return profile.maxEnergy > 0 ? state.energy / profile.maxEnergy : 0;
}

export interface Availability {
  isAvailable: boolean;
  /** Seconds of conversation left at the current energy: the profile's available time scaled by energy. */
  availableTime: number;
  /** Seconds until the cooldown ends; 0 when none. */
  cooldownRemaining: number;
}

export function availability(state: SocialEnergyState, profile: SocialEnergyProfile, now: number): Availability {
  const current = restEnergy(state, profile, now);
  const cooldownRemaining = current.cooldownUntil === null ? 0 : Math.ceil((current.cooldownUntil - now) / 1000);
  const share = energyShare(current, profile);
  return {
    isAvailable: cooldownRemaining === 0 && current.energy > 0,
    availableTime: Math.round(profile.availableTime * share),
    cooldownRemaining,
  };
}
