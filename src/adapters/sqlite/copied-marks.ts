/**
 * PostgreSQL's marks of a reply's after-reply writes done (`after_reply_done`, SQLite migration 0050),
 * honoured when this SQLite server redoes a reply that a copy of a PostgreSQL store brought in (a bundle
 * imported, a backup used as a data directory, `migrate-store`). On PostgreSQL a reply's after-reply writes
 * commit in several transactions, each with its mark, before its `after_reply_pending` record is cleared;
 * a copy taken in between carries the record with some (or all) of its writes committed and marked. Redone
 * here in full, the mood's reaction would be applied a second time, its mood samples written again and its
 * jobs enqueued again.
 *
 * So the marks of a record this store takes over are read then (`SqliteStore.pendingAfterReplies`), the
 * redo runs in the reply's scope (`../after-reply-scope.ts`) only for such a reply, and each write the redo
 * asks for looks up its name (`job:memory.form#0`, `mood:aria#0`, `mood_sample:chat#0`): marked, it is not
 * done again and its first result is returned. A job is given back only while the copy holds it (a bundle
 * carries no jobs: then it is enqueued). A reply's topic filing needs no mark: a message already filed is not
 * filed again (`TopicThreadService.fileRecovered`). SQLite's own replies carry no marks (their after-reply
 * writes commit in one transaction with the clearing of the record), so their turns run outside any scope.
 */
import { afterReplyWriteKind, nextReplyWrite, replyWrite, type ReplyWrite } from '../after-reply-scope.js';
import type { Database } from './database.js';

/** Per database: the replies taken over with marks, each mark's name with its write's result. */
const copied = new WeakMap<Database, Map<number, Map<string, unknown>>>();

function marksOf(db: Database): Map<number, Map<string, unknown>> {
  let marks = copied.get(db);
  if (marks === undefined) {
    marks = new Map();
    copied.set(db, marks);
  }
  return marks;
}

/** Reads the marks of a reply this store has just taken over (none for a reply of its own). */
export function holdCopiedMarks(db: Database, replyMessageId: number): void {
  const rows = db.prepare<[number], { name: string; result: string | null }>('SELECT name, result FROM after_reply_done WHERE reply_message_id = ?').all(replyMessageId);
  if (rows.length > 0) marksOf(db).set(replyMessageId, new Map(rows.map((row) => [row.name, row.result === null ? null : JSON.parse(row.result)])));
}

/** Whether the reply's redo must look up marks (it came with a copy that marked some of its writes). */
export function hasCopiedMarks(db: Database, replyMessageId: number): boolean {
  return copied.get(db)?.has(replyMessageId) === true;
}

/** Forgets the reply's marks once its record is cleared (the rows go with it: ON DELETE CASCADE). */
export function dropCopiedMarks(db: Database, replyMessageId: number): void {
  copied.get(db)?.delete(replyMessageId);
}

/**
 * The write of `kind` being asked for: `{ result }` when the copy marked it done (not to be done again),
 * null otherwise. Call once per write, when it is asked for (the name counts the reply's writes of its kind).
 */
export function copiedMark(db: Database, kind: string): { result: unknown } | null {
  return markOf(db, kind, replyWrite);
}

/**
 * `copiedMark` of the next write of `kind`, looked up before it is asked for and without counting it (a
 * caller that decides what the write saves before asking for it: `SqliteSocialStore.moodWrittenAlready`).
 */
export function nextCopiedMark(db: Database, kind: string): { result: unknown } | null {
  return markOf(db, kind, nextReplyWrite);
}

function markOf(db: Database, kind: string, nameOf: (kind: string) => ReplyWrite | null): { result: unknown } | null {
  const held = copied.get(db);
  // no copied reply being redone: an ordinary turn's write, in no scope
  if (held === undefined || held.size === 0) return null;
  const write = nameOf(kind);
  if (write === null) return null;
  const marks = held.get(write.replyMessageId);
  return marks?.has(write.name) === true ? { result: marks.get(write.name) } : null;
}

/**
 * The job a redo asks to enqueue, when the copy marked it enqueued and holds it still (the same id, type
 * and payload): its id, to give back. Null: enqueue it (not marked, or a bundle, which carries no jobs).
 */
export function copiedJob(db: Database, type: string, payload: string): number | null {
  const mark = copiedMark(db, afterReplyWriteKind.job(type));
  if (mark === null) return null;
  const id = Number(mark.result);
  const held = db.prepare<[number, string, string]>('SELECT 1 FROM jobs WHERE id = ? AND type = ? AND payload = ?').get(id, type, payload);
  return held === undefined ? null : id;
}
