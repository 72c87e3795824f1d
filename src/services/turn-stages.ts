/**
 * A turn's stopwatch: each `lap` charges the time since the previous one to a stage, and the turn
 * reports its stages once it is answered (`TurnTimingSink`), so the cost of each part of a turn
 * (admission, history, recall, prompt, model, store) shows in `/metrics` and in the chat bench.
 */
import type { TurnStage, TurnTimingSink } from '../ports/turn-timing.js';

export class TurnStopwatch {
  private readonly stages = new Map<TurnStage, number>();
  private last: number;

  constructor(private readonly sink: TurnTimingSink) {
    this.last = sink.now();
  }

  /** Charges the time since the previous lap (or the start) to `stage`. */
  lap(stage: TurnStage): void {
    const now = this.sink.now();
    this.stages.set(stage, (this.stages.get(stage) ?? 0) + (now - this.last));
    this.last = now;
  }

  /** Times `work` as `stage` on its own (contributors run side by side; each gets its own time). */
  async time<T>(stage: TurnStage, work: () => Promise<T>): Promise<T> {
    const started = this.sink.now();
    try {
      return await work();
    } finally {
      this.stages.set(stage, this.sink.now() - started);
    }
  }

  /** Hands the stages to the sink (once the turn is answered). */
  report(): void {
    for (const [stage, ms] of this.stages) this.sink.record(stage, ms);
    this.stages.clear();
  }
}
