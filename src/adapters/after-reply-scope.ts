/**
 * Which reply an after-reply write belongs to, and its name within the reply (`job:memory.form#0`,
 * `mood:aria#0`, …): the turn runner runs a reply's after-reply work in the reply's scope
 * (`Store.runAfterReply`), and a store's write asks for its name when it is asked for. On PostgreSQL each
 * such write commits with a mark under that name (`postgres/after-reply-fence.ts`); a SQLite server redoing
 * a reply a PostgreSQL copy brought in reads those marks under the same names (`sqlite/copied-marks.ts`).
 * A redo asks for the same writes in the same order, so it asks for the same names.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

interface AfterReplyScope {
  replyMessageId: number;
  /** How many writes of each kind the reply has asked for so far (the redo asks in the same order). */
  asked: Map<string, number>;
}

/** A write asked for in a reply's scope: the reply, and the write's name within it. */
export interface ReplyWrite {
  replyMessageId: number;
  name: string;
}

/**
 * The kinds of a reply's after-reply writes, one definition for both stores: PostgreSQL marks each write
 * under its kind (`postgres/write-batch.ts`), and a SQLite server redoing a reply from a PostgreSQL copy
 * looks the marks up under the same kinds (`sqlite/copied-marks.ts`); the two must never drift apart.
 */
export const afterReplyWriteKind = {
  /** A persona's mood change (a reaction to an exchange). */
  mood: (personaId: string): string => `mood:${personaId}`,
  /** A mood-history sample of one cause (`turn`, `chat`, `rest`, …). */
  moodSample: (cause: string): string => `mood_sample:${cause}`,
  /** A job enqueued. */
  job: (type: string): string => `job:${type}`,
};

const scopes = new AsyncLocalStorage<AfterReplyScope>();

/** Runs `work` in the reply's scope: the writes it asks for (and what they set off) are the reply's. */
export function runAfterReply<T>(replyMessageId: number, work: () => T): T {
  return scopes.run({ replyMessageId, asked: new Map() }, work);
}

/** Runs `work` outside any reply's scope (timers that outlive a reply: the job queue's next tick). */
export function outsideAfterReply<T>(work: () => T): T {
  return scopes.exit(work);
}

/** The reply a write of `kind` belongs to and its name within it; null outside a reply's scope. Call once per write, when it is asked for. */
export function replyWrite(kind: string): ReplyWrite | null {
  const scope = scopes.getStore();
  if (scope === undefined) return null;
  const write = nextWrite(scope, kind);
  scope.asked.set(kind, (scope.asked.get(kind) ?? 0) + 1);
  return write;
}

/** The name the next write of `kind` will have, without counting it (a look at that write before it is asked for). */
export function nextReplyWrite(kind: string): ReplyWrite | null {
  const scope = scopes.getStore();
  return scope === undefined ? null : nextWrite(scope, kind);
}

function nextWrite(scope: AfterReplyScope, kind: string): ReplyWrite {
  return { replyMessageId: scope.replyMessageId, name: `${kind}#${scope.asked.get(kind) ?? 0}` };
}
