/**
 * 0041 — replies whose after-reply writes are not committed yet, on PostgreSQL: the counterpart of
 * SQLite's `0041_after_reply_pending`. The reply's own transaction adds a row; the write batch holding
 * the turn's after-reply writes (topic filing, mood, job enqueues) deletes it once they are committed. A
 * row left behind is a reply a crash took those writes from, and a node does them (`TurnRunner.recoverAfterReplies`).
 *
 * Several nodes share these rows, so each names the node that owes the writes: `owner_key`, the key of
 * the advisory lock that node holds for as long as it is connected (`node-presence.ts`). A row whose
 * owner no longer holds its lock (the process died, its connections closed), or whose `lease_until`
 * passed (a node stuck, or a host that vanished before PostgreSQL noticed), is taken over by a node
 * with `FOR UPDATE SKIP LOCKED`: only one node redoes a reply.
 */
const sql = /* sql */ `
CREATE TABLE after_reply_pending (
  reply_message_id BIGINT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
  user_message_id  BIGINT,
  session_id       TEXT   NOT NULL,
  user_id          TEXT,
  created_at       BIGINT NOT NULL,
  owner_key        BIGINT,
  lease_until      BIGINT NOT NULL
);
`;

export const afterReplyPending = { version: 41, name: 'after_reply_pending', sql } as const;
