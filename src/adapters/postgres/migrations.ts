/**
 * Numbered PostgreSQL migrations, run at start-up by `PostgresDatabase.open`, under an advisory lock so
 * that nodes starting together apply each once. Each runs in its own transaction (PostgreSQL DDL is
 * transactional): a failure leaves the schema at the previous version.
 *
 * The PostgreSQL schema follows the SQLite one (`../sqlite/migrations`): a change there needs its
 * counterpart here (`migrations.test.ts` compares the tables and columns both create), and
 * `SQLITE_EQUIVALENT` says which SQLite schema version this one matches (for bundles and `migrate-store`).
 */
import { AppError } from '../../domain/errors.js';
import type pg from 'pg';
import { currentSchemaVersion } from '../sqlite/migrations.js';
import { initial } from './migrations/0001_initial.js';
import { media } from './migrations/0018_media.js';
import { mediaBlobs } from './migrations/0020_media_blobs.js';
import { memoryRecall } from './migrations/0002_memory_recall.js';
import { memoryRecallSearch } from './migrations/0026_memory_recall_search.js';
import { personaOwners } from './migrations/0003_persona_owners.js';
import { moodSamples } from './migrations/0030_mood_samples.js';
import { afterReplyPending } from './migrations/0041_after_reply_pending.js';
import { afterReplyPendingCopy } from './migrations/0043_after_reply_pending_copy.js';
import { jobOwnerKey } from './migrations/0047_job_owner_key.js';
import { afterReplyDone } from './migrations/0048_after_reply_done.js';
import { relationshipExchanges } from './migrations/0051_relationship_exchanges.js';

export interface PgMigration {
  version: number;
  name: string;
  sql: string;
}

export const PG_MIGRATIONS: readonly PgMigration[] = [initial, memoryRecall, personaOwners, media, mediaBlobs, memoryRecallSearch, moodSamples, afterReplyPending, afterReplyPendingCopy, jobOwnerKey, afterReplyDone, relationshipExchanges];

/**
 * The SQLite schema version the newest PostgreSQL schema holds the same tables and columns as: the
 * newest SQLite one, which `migrations.test.ts` checks (a constant here once went stale).
 */
export const SQLITE_EQUIVALENT = currentSchemaVersion();

/** Any constant: the key of the advisory lock migrations hold. */
const MIGRATION_LOCK = 7_201_420;

export function currentPgSchemaVersion(): number {
  return PG_MIGRATIONS.reduce((newest, migration) => Math.max(newest, migration.version), 0);
}

/** `label` names the database in errors (the URL without its password). */
export async function runPgMigrations(database: { pool: pg.Pool; label: string }, now: () => number = Date.now): Promise<number[]> {
  const client = await database.pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
      );
      const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((row) => Number(row.version)));
      const found = Math.max(0, ...done);
      const known = currentPgSchemaVersion();
      if (found > known) {
        throw new AppError(
          'storage_error',
          `the PostgreSQL schema at ${database.label} has version ${found}, but this persona-mcp only knows up to version ${known}; upgrade persona-mcp on every node`,
          { data: { schemaVersion: found, supportedVersion: known } },
        );
      }
      const applied: number[] = [];
      for (const migration of PG_MIGRATIONS) {
        if (done.has(migration.version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(migration.sql);
          await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [migration.version, migration.name, now()]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          throw error;
        }
        applied.push(migration.version);
      }
      return applied;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    }
  } finally {
    client.release();
  }
}
