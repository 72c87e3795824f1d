/**
 * Chat turns of one conversation take their turn: one runs at a time, the others wait in arrival order.
 * A turn builds its prompt from the conversation's stored messages, so two turns run side by side both
 * saw both user messages, and both answered the later one (outside check, round 14). In line, a turn's
 * context holds the turns before it, message and reply, as a person chatting expects.
 *
 * The line lives in this process: with several nodes on one PostgreSQL database, turns of one
 * conversation that reach two nodes at once are not ordered (docs/operations.md, scale-out).
 */
import { AppError } from '../domain/errors.js';

interface Line {
  /** Turns waiting behind the one running, oldest first: each one's admission. */
  waiting: Array<() => void>;
}

export class TurnOrder {
  private readonly lines = new Map<string, Line>();

  /** `maxWaiting`: turns that may wait behind a running one (`limits.maxQueuedChatsPerConversation`). */
  constructor(private readonly maxWaiting: () => number) {}

  /**
   * Resolves when it is this turn's turn in the line `key` names, with the function that ends it (call it
   * once, when the turn's reply is stored or it failed). Refused with `limit_exceeded` when the line is
   * full, and with `cancelled` when `signal` aborts while it waits.
   */
  enter(key: string, signal: AbortSignal): Promise<() => void> {
    const line = this.lines.get(key);
    if (line === undefined) {
      this.lines.set(key, { waiting: [] });
      return Promise.resolve(() => this.leave(key));
    }
    const max = this.maxWaiting();
    if (line.waiting.length >= max) {
      return Promise.reject(
        new AppError('limit_exceeded', `This conversation already has a chat turn in progress and ${line.waiting.length} waiting; at most ${max} may wait (limits.maxQueuedChatsPerConversation). Wait for a reply first.`, {
          data: { limit: 'limits.maxQueuedChatsPerConversation', max },
        }),
      );
    }
    if (signal.aborted) return Promise.reject(cancelledWhileWaiting());
    return new Promise((resolve, reject) => {
      const admit = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve(() => this.leave(key));
      };
      const onAbort = (): void => {
        line.waiting.splice(line.waiting.indexOf(admit), 1);
        reject(cancelledWhileWaiting());
      };
      line.waiting.push(admit);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private leave(key: string): void {
    const line = this.lines.get(key);
    const admitNext = line?.waiting.shift();
    if (admitNext === undefined) this.lines.delete(key);
    else admitNext();
  }
}

function cancelledWhileWaiting(): AppError {
  return new AppError('cancelled', 'The chat was cancelled while it waited for the turn before it in this conversation.');
}
