/**
 * 0050 — `after_reply_done`, PostgreSQL's marks of a reply's after-reply writes that have committed
 * (PostgreSQL migration 0048, `adapters/postgres/after-reply-fence.ts`), so that they travel with a copy:
 * PostgreSQL's bundles, backups and state imports go through a SQLite file (`adapters/postgres/table-copy.ts`),
 * and `migrate-store` copies a SQLite file into PostgreSQL. Without them a copied pending reply was done
 * again in full, its writes committed before the copy included. A SQLite store writes none of its own (its
 * after-reply writes commit in one transaction with the clearing of the record); it reads a copied reply's
 * marks when it redoes that reply (`copied-marks.ts`).
 * `result` is the write's result as JSON text (JSONB on PostgreSQL).
 *
 * (Numbered 0050 so parallel features do not collide; versions may have gaps.)
 */
const sql = /* sql */ `
CREATE TABLE after_reply_done (
  reply_message_id INTEGER NOT NULL REFERENCES after_reply_pending (reply_message_id) ON DELETE CASCADE,
  name             TEXT    NOT NULL,
  result           TEXT,
  PRIMARY KEY (reply_message_id, name)
);
`;

export const afterReplyDone = { version: 50, name: 'after_reply_done', sql } as const;
