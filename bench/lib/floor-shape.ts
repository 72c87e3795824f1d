/** What bench/floor.ts hands its bare server (floor-server.ts): the shape of a persona-mcp turn measured in the same run. */

/** What a persona-mcp turn looked like in the same run (bench/floor.ts measures it). */
export interface FloorShape {
  /** A turn's chat request body with its last message's content replaced by `MESSAGE_SLOT`. */
  chatBody: string;
  /** The background model calls seen over `shapeTurns` turns, in order (path and body). */
  backgroundCalls: Array<{ path: string; body: string }>;
  shapeTurns: number;
  /** The final answer frame's length in bytes, per mode (median of the turns). */
  resultBytes: { plain: number; streaming: number };
  /** The deltas of one streamed reply (what is sent when the model piece is off). */
  deltas: string[];
  /** Rows written per turn, by table (persona-mcp's, over the segment). */
  rowsPerTurn: Record<string, number>;
  /** Job rows per turn by type. */
  jobsPerTurn: Record<string, number>;
  /** The SQLite file. */
  databaseFile: string;
}

/** Where a turn's message goes in `FloorShape.chatBody`. */
export const MESSAGE_SLOT = '\u0000message\u0000';
