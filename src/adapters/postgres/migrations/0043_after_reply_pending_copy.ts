/**
 * 0043 — `after_reply_pending` rows can be copied in from SQLite (`migrate-store`, bundle and backup
 * imports): SQLite's rows have no `owner_key` or `lease_until` (one process owns them all), so a copied
 * row takes lease 0 — already passed — and no owner, and the first node that sweeps takes it over and does
 * the reply's after-reply writes the copy's source never committed.
 */
const sql = /* sql */ `
ALTER TABLE after_reply_pending ALTER COLUMN lease_until SET DEFAULT 0;
`;

export const afterReplyPendingCopy = { version: 43, name: 'after_reply_pending_copy', sql } as const;
