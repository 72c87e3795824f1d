/**
 * Where a turn's time goes, stage by stage (admission, history, recall, prompt, model, store, after-turn
 * work), for operators and the chat bench: `GET /metrics` shows them as
 * `persona_mcp_turn_stage_seconds{stage}` (`src/adapters/metrics`).
 */

/** A turn's stages on its critical path, then the work after it (`after_turn`: the observers, in the background). */
export type TurnStage =
  | 'admission'
  | 'store_user'
  | 'history'
  | 'energy'
  | 'contributors'
  | 'prompt'
  | 'llm'
  | 'store_reply'
  | 'after_turn'
  /** One prompt contributor's own time (they run side by side inside `contributors`): `contributor_memory`, ... */
  | `contributor_${string}`;

export interface TurnTimingSink {
  /** A monotonic time in milliseconds with sub-millisecond resolution (`performance.now()`). */
  now(): number;
  /** One stage of one turn took `ms`. */
  record(stage: TurnStage, ms: number): void;
}

/** Records nothing (tests, tools that run turns outside the server). */
export const noTurnTiming: TurnTimingSink = { now: () => 0, record: () => undefined };
