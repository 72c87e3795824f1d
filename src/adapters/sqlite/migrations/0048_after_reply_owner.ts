/**
 * 0048 — who wrote a reply's `after_reply_pending` row (issue 15, round 12): the claim-owner name of the
 * store that stored the reply (`claim-owner.ts`, as the job queue names its claims). Before it, a second
 * `serve` started beside a live one on the same data directory took every row for a crash's leftover and
 * did the live server's after-reply writes a second time (one turn's relationship and mood applied twice).
 * Now a row is taken over only when its owner is gone (`SqliteStore.pendingAfterReplies`); a row without an
 * owner (written before this migration) is taken over as before.
 *
 * (Numbered 0048 so parallel features do not collide; versions may have gaps.)
 */
const sql = /* sql */ `
ALTER TABLE after_reply_pending ADD COLUMN owner TEXT;
`;

export const afterReplyOwner = { version: 48, name: 'after_reply_owner', sql } as const;
