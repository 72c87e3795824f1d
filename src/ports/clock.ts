/** Time, injected so that domain and services never read the wall clock directly (tests pass a fake). */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
