/**
 * What names the node that owes a row's work, in columns only PostgreSQL has: a pending reply's owner and
 * lease (`after_reply_pending.owner_key`, `lease_until`: migrations 0041, 0043) and a running job's node
 * (`jobs.lease_owner_key`: 0047). A state import rewrites the store through a SQLite copy
 * (`pg-archive.ts`), which cannot hold them; written back without them, every pending reply had no owner
 * and lease 0, so the first node to look took over the replies live nodes were still writing (their writes
 * then refused by the marks, `after-reply-fence.ts`, and the live node's clearing of its record matching
 * nothing), and a running job lost its node, so a node dying after the import left its jobs to their lease.
 *
 * So the import reads them first, under its locks, and writes them back onto the rows the import kept:
 * the same reply record (its message and time) and the same claim of a job (its `lease_owner`). Rows the
 * bundle brought keep no owner: they are the first node's to take, as before.
 */
import type { TransactionClient } from './database.js';

export interface NodeClaims {
  replies: Array<{ reply_message_id: number; created_at: number; owner_key: number; lease_until: number }>;
  jobs: Array<{ id: number; lease_owner: string; lease_owner_key: number }>;
}

/** The store's claims, read in the import's transaction before its copy. */
export async function readNodeClaims(tx: TransactionClient): Promise<NodeClaims> {
  return {
    replies: await tx.rows('SELECT reply_message_id, created_at, owner_key, lease_until FROM after_reply_pending WHERE owner_key IS NOT NULL'),
    jobs: await tx.rows('SELECT id, lease_owner, lease_owner_key FROM jobs WHERE lease_owner_key IS NOT NULL AND lease_owner IS NOT NULL'),
  };
}

/** Gives the claims back to the rows the import kept (in its transaction, after the copy is written back). */
export async function writeNodeClaims(tx: TransactionClient, claims: NodeClaims): Promise<void> {
  if (claims.replies.length > 0)
    await tx.query(
      `UPDATE after_reply_pending p SET owner_key = kept.owner_key, lease_until = kept.lease_until
       FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS kept (reply_message_id, created_at, owner_key, lease_until)
       WHERE p.reply_message_id = kept.reply_message_id AND p.created_at = kept.created_at`,
      [
        claims.replies.map((row) => row.reply_message_id),
        claims.replies.map((row) => row.created_at),
        claims.replies.map((row) => row.owner_key),
        claims.replies.map((row) => row.lease_until),
      ],
    );
  if (claims.jobs.length > 0)
    await tx.query(
      `UPDATE jobs j SET lease_owner_key = kept.lease_owner_key
       FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS kept (id, lease_owner, lease_owner_key)
       WHERE j.id = kept.id AND j.lease_owner = kept.lease_owner`,
      [claims.jobs.map((row) => row.id), claims.jobs.map((row) => row.lease_owner), claims.jobs.map((row) => row.lease_owner_key)],
    );
}
