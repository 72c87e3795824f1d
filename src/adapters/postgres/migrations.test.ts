/**
 * The PostgreSQL schema holds SQLite's tables and columns (what `migrate-store`, bundles and backups copy
 * between them): a SQLite migration without its PostgreSQL counterpart fails here, so `SQLITE_EQUIVALENT`
 * (derived from SQLite's newest version) cannot claim a schema PostgreSQL does not have.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { dropFreshPostgres, freshPostgres, postgresAvailable } from '../../../test/helpers/store-backend.js';
import { OWNER_COLUMNS } from '../bundle/table-rules.js';
import { openDatabase } from '../sqlite/database.js';
import { currentSchemaVersion } from '../sqlite/migrations.js';
import { SQLITE_EQUIVALENT } from './migrations.js';

const available = await postgresAvailable();

/** SQLite tables PostgreSQL has no use for, and why. */
const SQLITE_ONLY: Record<string, string> = {
  memory_meta: "bookkeeping of SQLite's FTS5 index (PostgreSQL's tsvector column keeps itself up to date)",
  memory_vector_changes: "SQLite connections' log for following each other's vectors (PostgreSQL nodes follow by memory_vectors.seq and memory_vector_deletions)",
  memory_changes: "SQLite connections' log for following each other's memory writes (PostgreSQL nodes keep no such caches or follow by sequence)",
  relationship_changes: "SQLite connections' log for following each other's relationship writes (PostgreSQL nodes keep no relationships: sharedStore)",
};

describe('PostgreSQL migrations', () => {
  it('claim the newest SQLite schema', () => {
    expect(SQLITE_EQUIVALENT).toBe(currentSchemaVersion());
  });

  describe.skipIf(!available.ok)('on a PostgreSQL server', () => {
    afterEach(async () => {
      await dropFreshPostgres();
    });

    it('create every table and column the SQLite migrations create', async () => {
      const sqlite = openDatabase(':memory:');
      const sqliteColumns = new Set(
        sqlite
          .prepare<[], { column: string }>(
            `SELECT m.name || '.' || c.name AS column FROM sqlite_master m, pragma_table_info(m.name) c
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '%_fts%'`,
          )
          .all()
          .map((row) => row.column)
          .filter((column) => !(column.split('.')[0]! in SQLITE_ONLY))
          // the SQLite process owing a row's work: never copied (PostgreSQL keys its records by node)
          .filter((column) => !OWNER_COLUMNS.has(column)),
      );
      sqlite.close();
      const database = await freshPostgres();
      const pgColumns = new Set(
        (
          await database.rows<{ column: string }>(`SELECT table_name || '.' || column_name AS column FROM information_schema.columns WHERE table_schema = $1`, [
            database.schema,
          ])
        ).map((row) => row.column),
      );
      expect([...sqliteColumns].filter((column) => !pgColumns.has(column)).sort()).toEqual([]);
    });
  });
});
