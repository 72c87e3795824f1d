/**
 * Numbered schema migrations, run at start-up by `openDatabase`. The SQL lives in TypeScript modules
 * under `migrations/` so the compiled `dist/` needs no copied `.sql` files.
 *
 * To change the schema, add `migrations/000N_what.ts` and append it to `MIGRATIONS`; never edit one
 * that has shipped. Each migration runs in its own transaction, so a failure leaves the database at
 * the previous version. Note that `PRAGMA foreign_keys` cannot change inside a transaction: a migration
 * that rebuilds a table must keep its foreign keys valid throughout.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { AppError } from '../../domain/errors.js';
import { initial } from './migrations/0001_initial.js';
import { jobs } from './migrations/0002_jobs.js';
import { memory } from './migrations/0003_memory.js';
import { apiKeys } from './migrations/0006_api_keys.js';
import { social } from './migrations/0004_social.js';
import { settings } from './migrations/0005_settings.js';
import { media } from './migrations/0018_media.js';
import { promptTemplates } from './migrations/0007_prompt_templates.js';
import { personaOwners } from './migrations/0024_persona_owners.js';
import { memoryRecall } from './migrations/0025_memory_recall.js';
import { moodSamples } from './migrations/0030_mood_samples.js';
import { memoryReadIndexes } from './migrations/0036_memory_read_indexes.js';
import { afterReplyPending } from './migrations/0041_after_reply_pending.js';
import { memoryVectorsRowid } from './migrations/0046_memory_vectors_rowid.js';
import { memoryVectorChanges } from './migrations/0047_memory_vector_changes.js';
import { afterReplyOwner } from './migrations/0048_after_reply_owner.js';
import { changeLogs } from './migrations/0049_change_logs.js';
import { afterReplyDone } from './migrations/0050_after_reply_done.js';
import { relationshipExchanges } from './migrations/0051_relationship_exchanges.js';

export interface Migration {
  /** Increasing, each used once; a gap is allowed while parallel features land (each recorded version is applied once). */
  version: number;
  /** Short name recorded in `schema_migrations` (for people reading the database). */
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [initial, jobs, memory, social, settings, apiKeys, promptTemplates, media, personaOwners, memoryRecall, moodSamples, memoryReadIndexes, afterReplyPending, memoryVectorsRowid, memoryVectorChanges, afterReplyOwner, changeLogs, afterReplyDone, relationshipExchanges];

/** The newest schema version this build knows. */
export function currentSchemaVersion(): number {
  return MIGRATIONS.reduce((newest, migration) => Math.max(newest, migration.version), 0);
}

/** The schema version recorded in the database; 0 for a new one. */
export function appliedSchemaVersion(db: BetterSqlite3.Database): number {
  ensureMigrationsTable(db);
  const row = db.prepare<[], { version: number | null }>('SELECT max(version) AS version FROM schema_migrations').get();
  return row?.version ?? 0;
}

/**
 * Brings the database up to `currentSchemaVersion()` and returns the versions applied now (empty when
 * it was up to date). Refuses a database made by a newer persona-mcp: running old code on a newer
 * schema could corrupt data the newer version relies on.
 */
export function runMigrations(db: BetterSqlite3.Database, now: () => number = Date.now): number[] {
  const found = appliedSchemaVersion(db);
  const known = currentSchemaVersion();
  if (found > known) {
    throw new AppError(
      'storage_error',
      `the database ${db.name} has schema version ${found}, but this persona-mcp only knows up to version ${known}; ` +
        'upgrade persona-mcp (or point --data-dir at another directory)',
      { data: { schemaVersion: found, supportedVersion: known } },
    );
  }
  const record = db.prepare<[number, string, number]>(
    'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)',
  );
  const isApplied = db.prepare<[number], 1>('SELECT 1 FROM schema_migrations WHERE version = ?').pluck();
  const applied: number[] = [];
  for (const migration of MIGRATIONS) {
    // By recorded version rather than "above the newest": features develop their migrations in
    // parallel (memory 0002/0003, social 0004), and a database that got 0004 first must still get 0002.
    if (isApplied.get(migration.version) !== undefined) continue;
    // IMMEDIATE takes the write lock before re-reading the version, so two processes starting on the
    // same file at once cannot both apply a migration.
    db.transaction(() => {
      if (isApplied.get(migration.version) !== undefined) return;
      db.exec(migration.sql);
      record.run(migration.version, migration.name, now());
      applied.push(migration.version);
    }).immediate();
  }
  return applied;
}

function ensureMigrationsTable(db: BetterSqlite3.Database): void {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
  );
}
