/**
 * 0041 — replies whose after-reply writes are not committed yet (issue 15, round 8). A chat turn's
 * topic filing, mood reaction and job enqueues (memory formation, the relationship update) are written
 * after its reply has gone out, together in the connection's write batch (`write-batch.ts`). The reply's
 * own transaction adds a row here; the batch that holds the turn's after-reply writes deletes it. A row
 * left at start-up is a reply a crash (kill -9, power loss) took those writes from: the server does them
 * then (`TurnRunner.recoverAfterReplies`). It names the session the turn acted for (whose relationship,
 * whose memories) and the person's message it answered (null: a group turn).
 *
 * (Numbered 0041 so parallel features do not collide; versions may have gaps.)
 */
const sql = /* sql */ `
CREATE TABLE after_reply_pending (
  reply_message_id INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
  user_message_id  INTEGER,
  session_id       TEXT NOT NULL,
  user_id          TEXT,
  created_at       INTEGER NOT NULL
);
`;

export const afterReplyPending = { version: 41, name: 'after_reply_pending', sql } as const;
