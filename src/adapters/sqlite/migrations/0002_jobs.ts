/**
 * 0002 — the durable job queue (src/ports/jobs.ts, adapter job-queue.ts).
 *
 * A job is `pending` until a worker claims it: the claim sets `running`, bumps `attempts` and writes a
 * lease (`lease_until`). A worker that dies leaves the lease to expire, and the job is claimed again.
 * Finished jobs stay `completed` (or `failed` after `max_attempts`) for stats until clean-up.
 */
const sql = /* sql */ `
CREATE TABLE jobs (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  type          TEXT    NOT NULL,
  payload       TEXT    NOT NULL CHECK (json_valid(payload)),
  status        TEXT    NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
  attempts      INTEGER NOT NULL DEFAULT 0,
  max_attempts  INTEGER NOT NULL CHECK (max_attempts >= 1),
  run_after     INTEGER NOT NULL,
  lease_until   INTEGER,
  lease_owner   TEXT,
  dedupe_key    TEXT,
  last_error    TEXT,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
) STRICT;
-- The claim query: the oldest runnable pending job, or a running one whose lease expired.
CREATE INDEX jobs_claim ON jobs (status, run_after, id);
-- At most one pending job per dedupe key.
CREATE UNIQUE INDEX jobs_pending_dedupe ON jobs (dedupe_key) WHERE dedupe_key IS NOT NULL AND status = 'pending';
`;

export const jobs = { version: 2, name: 'jobs', sql };
