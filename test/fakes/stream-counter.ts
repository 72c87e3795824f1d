/**
 * What the fake model servers (fake-ollama.ts, fake-openai.ts) count of their chat responses: those
 * still open, and those a client dropped before the end (a persona-mcp that aborted its model call) —
 * with `until` to wait for a count without sleeping.
 */
import { EventEmitter, once } from 'node:events';
import type { ServerResponse } from 'node:http';

export class StreamCounter {
  /** Chat responses still open. */
  active = 0;
  /** Chat responses whose client disconnected before the end (not those the fake broke on purpose). */
  aborted = 0;
  private readonly changes = new EventEmitter();

  constructor() {
    this.changes.setMaxListeners(0); // any number of tests may wait at once
  }

  /**
   * Counts `res` as open until it closes; a close before it finished is an abort, unless the fake broke
   * it on purpose first (call the returned function before destroying it).
   */
  track(res: ServerResponse): () => void {
    let isEnded = false;
    let isBrokenByUs = false;
    this.active++;
    res.on('finish', () => (isEnded = true));
    res.on('close', () => {
      this.active--;
      if (!isEnded && !isBrokenByUs) {
        this.aborted++;
        this.changed();
      }
    });
    return () => {
      isBrokenByUs = true;
    };
  }

  /** Something a test may wait for changed (a request arrived, a stream was aborted). */
  changed(): void {
    this.changes.emit('change');
  }

  /** Resolves once `isReached` holds, looking again at each change. */
  async until(isReached: () => boolean): Promise<void> {
    while (!isReached()) await once(this.changes, 'change');
  }
}
