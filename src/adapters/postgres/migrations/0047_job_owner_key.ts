/**
 * 0047 — a running job names the presence key of the node that claimed it (`lease_owner_key`, beside
 * `lease_owner`): when that node's presence lock is gone (the process died, `node-presence.ts`), any node
 * ends its lease at once instead of waiting up to a lease (30 s) for it to pass — what the SQLite queue
 * does by the claiming process's id at start-up. PostgreSQL only: SQLite's one process needs no key, and
 * a job copied in from SQLite (`migrate-store`, bundle and backup imports) has none, so its lease alone
 * decides, as before.
 */
const sql = /* sql */ `
ALTER TABLE jobs ADD COLUMN lease_owner_key BIGINT;
`;

export const jobOwnerKey = { version: 47, name: 'job_owner_key', sql } as const;
