/**
 * 0048 — which of a reply's after-reply writes have committed (`after_reply_done`: each write's name within
 * the reply, e.g. `job:memory.form#0`, with what it returned), inserted in the write's own transaction
 * (`after-reply-fence.ts`): on PostgreSQL those writes commit in several transactions, so a node that
 * redoes the reply (its node died between them) skips what was done. A table of its own rather than a
 * column of the record, so the reply's writes, each adding its row, do not wait for one another.
 * PostgreSQL only: on SQLite they commit in one transaction with the record's clearing, and a record
 * copied in from SQLite has none done; not copied out (bundles, backups, `migrate-store` go by SQLite's tables).
 */
const sql = /* sql */ `
CREATE TABLE after_reply_done (
  reply_message_id BIGINT NOT NULL REFERENCES after_reply_pending (reply_message_id) ON DELETE CASCADE,
  name             TEXT   NOT NULL,
  result           JSONB,
  PRIMARY KEY (reply_message_id, name)
);
`;

export const afterReplyDone = { version: 48, name: 'after_reply_done', sql } as const;
