/**
 * A reply's after-reply writes done once on PostgreSQL, whoever does them. On SQLite they commit in one
 * transaction with the clearing of the reply's `after_reply_pending` record. On PostgreSQL they follow
 * reads over the network (the mood's reaction reads the mood, the reply's filing the threads), so they
 * arrive at different moments and commit in several transactions before the record is cleared: a node
 * dying between them, or losing its presence lock while it writes, would have the writes committed
 * already done again by the node that takes the record over.
 *
 * So each such write commits together with a mark of its own (`after_reply_done`, PostgreSQL migration
 * 0048): the write's name within the reply (`job:memory.form#0`, `mood:aria#0`, …) and what it returned,
 * inserted after the write in its transaction. The mark is the fence: one per reply and name (its primary
 * key), so of two nodes doing the same write of a reply (one took the reply over while the other still
 * lives and writes), the second one's mark fails and rolls its write back. A node that took a reply over
 * reads the marks first and does not do again what is marked (its first result is returned); the node that
 * stored the reply does not read (nobody has marked anything of it unless it was taken over, and then
 * the mark refuses the write). A write asked for in a reply's scope after its record was cleared is an
 * ordinary write (no mark).
 * The turn runner runs a reply's after-reply work in the reply's scope (`Store.runAfterReply`), which
 * tells the PostgreSQL adapters which reply a write belongs to.
 */
import { AppError } from '../../domain/errors.js';
import { nextReplyWrite, type ReplyWrite } from '../after-reply-scope.js';
import type { PostgresDatabase, TransactionClient } from './database.js';

/** A reply whose after-reply writes this node does: the owner key its record carries, and whether this node took it over. */
export interface OwnedReply {
  ownerKey: number | null;
  isTakenOver: boolean;
  /** Taken over: the writes the reply's marks said were done then (name → result), for a look before a write is asked for. */
  marked?: ReadonlyMap<string, unknown>;
}

const owners = new WeakMap<PostgresDatabase, Map<number, OwnedReply>>();

/** The replies whose after-reply writes this node does (stored or taken over); a reply's entry goes once its record is cleared. */
export function repliesOwned(db: PostgresDatabase): Map<number, OwnedReply> {
  let owned = owners.get(db);
  if (owned === undefined) {
    owned = new Map();
    owners.set(db, owned);
  }
  return owned;
}

/**
 * The result of the next write of `kind` of the reply being redone, when it was marked done as the reply was
 * taken over (`{ result }`), looked up before that write is asked for and without counting it; null otherwise.
 */
export function nextWriteMarked(db: PostgresDatabase, kind: string): { result: unknown } | null {
  const write = nextReplyWrite(kind);
  const marked = write === null ? undefined : repliesOwned(db).get(write.replyMessageId)?.marked;
  return marked?.has(write!.name) === true ? { result: marked.get(write!.name) } : null;
}

/** Runs `write` in `tx` once per reply and name (see the module comment); `reply` null: an ordinary write. */
export async function writeOnce<T>(db: PostgresDatabase, tx: TransactionClient, reply: ReplyWrite | null, write: () => Promise<T>): Promise<T> {
  const owned = reply === null ? undefined : repliesOwned(db).get(reply.replyMessageId);
  if (reply === null || owned === undefined) return write();
  if (owned.isTakenOver) {
    const done = await tx.one<{ result: unknown }>('SELECT result FROM after_reply_done WHERE reply_message_id = $1 AND name = $2', [reply.replyMessageId, reply.name]);
    if (done !== null) return done.result as T;
  }
  const result = await write();
  try {
    await tx.query(
      `INSERT INTO after_reply_done (reply_message_id, name, result)
       SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM after_reply_pending WHERE reply_message_id = $1)`,
      [reply.replyMessageId, reply.name, JSON.stringify(result ?? null)],
    );
  } catch (error) {
    if ((error as { code?: unknown }).code !== '23505') throw error;
    throw new AppError('storage_error', `the node that took reply ${reply.replyMessageId} over has done this after-reply write already; not done twice`);
  }
  return result;
}
