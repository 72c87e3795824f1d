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

/**
 * Fatigue recovers with rest — the time since the state last changed, i.e. since the persona's last turn
 * (or a restore), measured on the injected clock:
 *
 *   fatigue(rest) = fatigue × 0.5^(rest / FATIGUE_HALF_LIFE_MS), read as 0 below FATIGUE_FLOOR,
 *   and 0 when a new conversation opens after rest ≥ FRESH_START_REST_MS.
 *
 * So 30 quick turns (fatigue ≈ 1) leave 0.71 after 15 idle minutes, 0.5 after 30, 0.25 after an hour and
 * nothing (< 0.01) after about 3 h 20 min; a persona that rested a quarter of an hour greets a new visitor fresh.
 */
/** Fatigue halves every 30 idle minutes. */
export const FATIGUE_HALF_LIFE_MS = 30 * 60_000;
/** Fatigue below this is gone (status shows 0, not 0.0003). */
export const FATIGUE_FLOOR = 0.01;
/**
 * Rest after which a new conversation starts with no fatigue: a quarter of an hour is a real break, not a
 * pause between two messages. A conversation taken up again keeps the curve.
 */
export const FRESH_START_REST_MS = 15 * 60_000;
/** Each exchange adds this much fatigue (so ~20 quick turns tire anyone). */
export const FATIGUE_PER_TURN = 0.05;
/** Replies and messages longer than this cost extra energy, proportionally. */
export const CHARS_PER_EXTRA_COST = 1_000;
/** An exhausted persona rests until it has regained this share of its maximum energy. */
export const COOLDOWN_RECOVERY_SHARE = 0.25;

/** How the state is read: for the persona's first exchange in a conversation (`opensConversation`) or not. */
export interface RestOptions {
  /** The persona's first exchange in this conversation: after {@link FRESH_START_REST_MS} of rest it starts fresh. */
  opensConversation?: boolean;
}

export function freshEnergy(profile: SocialEnergyProfile, now: number): SocialEnergyState {
  return { energy: profile.maxEnergy, fatigue: 0, updatedAt: now, cooldownUntil: null };
}

/**
 * Brings the state up to `now`: energy recovers linearly while idle (`recoveryPerMinute`), fatigue follows
 * the recovery curve above.
 */
export function restEnergy(
  state: SocialEnergyState,
  profile: SocialEnergyProfile,
  now: number,
  options: RestOptions = {},
): SocialEnergyState {
  const elapsed = Math.max(0, now - state.updatedAt);
  const energy = Math.min(profile.maxEnergy, state.energy + (profile.recoveryPerMinute * elapsed) / 60_000);
  return { energy, fatigue: restedFatigue(state.fatigue, elapsed, options), updatedAt: now, cooldownUntil: activeCooldown(state, now) };
}

/** Fatigue after `restMs` of rest (see the recovery curve in the module's constants). */
export function restedFatigue(fatigue: number, restMs: number, options: RestOptions = {}): number {
  if (options.opensConversation === true && restMs >= FRESH_START_REST_MS) return 0;
  const rested = fatigue * Math.pow(0.5, Math.max(0, restMs) / FATIGUE_HALF_LIFE_MS);
  return rested < FATIGUE_FLOOR ? 0 : rested;
}

function activeCooldown(state: SocialEnergyState, now: number): number | null {
  return state.cooldownUntil !== null && state.cooldownUntil > now ? state.cooldownUntil : null;
}

/** What `emotional.update_state` may set: energy (absolute, capped at the maximum) and fatigue (0..1). */
export interface EnergyRestore {
  energy?: number;
  fatigue?: number;
}

/**
 * Sets energy and fatigue directly (`emotional.update_state`). Energy raised to the maximum means fully
 * rested: fatigue 0 unless `fatigue` is given. Any energy above 0 ends a cooldown.
 */
export function restoreEnergy(
  state: SocialEnergyState,
  profile: SocialEnergyProfile,
  restore: EnergyRestore,
  now: number,
): SocialEnergyState {
  const rested = restEnergy(state, profile, now);
  const energy = restore.energy === undefined ? rested.energy : Math.max(0, Math.min(profile.maxEnergy, restore.energy));
  const fullyRested = restore.energy !== undefined && energy >= profile.maxEnergy;
  const fatigue = restore.fatigue !== undefined ? Math.max(0, Math.min(1, restore.fatigue)) : fullyRested ? 0 : rested.fatigue;
  const cooldownUntil = restore.energy !== undefined && energy > 0 ? null : rested.cooldownUntil;
  return { energy, fatigue, updatedAt: now, cooldownUntil };
}

/**
 * Spends the energy one exchange costs: `costPerTurn`, plus the same again per 1,000 characters
 * exchanged, and adds {@link FATIGUE_PER_TURN}. When energy runs out the persona goes on cooldown until it
 * has recovered a quarter. `opensConversation`: the persona's first exchange in a conversation (see
 * {@link FRESH_START_REST_MS}).
 */
export function spendEnergy(
  state: SocialEnergyState,
  profile: SocialEnergyProfile,
  exchangedChars: number,
  now: number,
  options: RestOptions = {},
): SocialEnergyState {
  const rested = restEnergy(state, profile, now, options);
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

/**
 * Seconds of rest until a persona has at least `minShare` of its maximum energy and no cooldown (0: it
 * has now; energy recovers during a cooldown too); null when it never will (`recoveryPerMinute` 0).
 */
export function secondsUntilShare(state: SocialEnergyState, profile: SocialEnergyProfile, now: number, minShare: number): number | null {
  const current = restEnergy(state, profile, now);
  const cooldown = current.cooldownUntil === null ? 0 : (current.cooldownUntil - now) / 1000;
  const missing = minShare * profile.maxEnergy - current.energy;
  if (missing <= 0) return Math.ceil(cooldown);
  if (profile.recoveryPerMinute <= 0) return null;
  return Math.ceil(Math.max(cooldown, (missing / profile.recoveryPerMinute) * 60));
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
