import type { Clock } from '../ports/clock.js';

/**
 * The simulation's clock: it stands still until the runner moves it, so a scenario of hours runs in
 * seconds and every timestamp the server sees (and puts into prompts) is the same on every run.
 */
export class SimulatedClock implements Clock {
  private current: number;

  constructor(startMs: number) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  /** Moves time forward by `ms` (never backwards). */
  advance(ms: number): void {
    if (ms > 0) this.current += Math.round(ms);
  }
}
