/**
 * Copies every table between a SQLite database and a PostgreSQL schema (same tables and columns: see
 * migrations/0001_initial.ts). Used by `persona-mcp migrate-store` (SQLite → PostgreSQL) and by the
 * PostgreSQL state archive, which exports, backs up and imports through a SQLite snapshot so that bundles
 * and backups are the same files whichever store made them.
 *
 * - PostgreSQL → SQLite reads one REPEATABLE READ snapshot: consistent while other nodes write.
 * - SQLite → PostgreSQL replaces the schema's rows in one transaction holding EXCLUSIVE locks: nodes can
 *   still read; their writes wait for the commit instead of being lost under it. Identity sequences are
 *   moved past the copied ids, so ids stay unique and increasing.
 * Only columns present on both sides are copied (a table or column the other side lacks is reported).
 */
import type { Database as SqliteDatabase } from '../sqlite/database.js';
import { OWNER_COLUMNS } from '../bundle/table-rules.js';
import { TransactionClient, type PostgresDatabase } from './database.js';

/** Every table, parents before children (foreign keys). */
export const COPIED_TABLES = [
  'personas',
  'persona_seeds',
  'persona_state',
  'sessions',
  'conversations',
  'conversation_personas',
  'messages',
  // Replies whose after-reply writes were never committed: the copy's new home does them (0043), and
  // not again those of their writes marked done (PostgreSQL 0048, SQLite 0050).
  'after_reply_pending',
  'after_reply_done',
  'meta',
  'jobs',
  'memories',
  'memory_vectors',
  'memory_shares',
  'persona_groups',
  'forgotten_messages',
  'memory_maintenance_runs',
  'relationships',
  'relationship_events',
  'emotional_state',
  'mood_events',
  'mood_samples',
  'topic_threads',
  'message_threads',
  'thread_cursor',
  'group_conversations',
  'group_members',
  'settings',
  'persona_cards',
  'api_keys',
  'prompt_templates',
  'media',
  'message_attachments',
  'scenes',
] as const;

/** Columns PostgreSQL computes itself (never copied either way). */
const COMPUTED = new Set(['memories.content_tsv', 'memories.search_tsv', 'conversations.seq', 'memory_vectors.seq']);

/** JSONB columns: read as their JSON text for SQLite (which keeps it as TEXT); the text goes back as it is. */
const JSON_COLUMNS = new Set(['after_reply_done.result']);

const BATCH_ROWS = 500;

export interface CopyReport {
  /** Rows copied per table. */
  tables: Record<string, number>;
  /** What could not be copied, e.g. a table this build's PostgreSQL schema does not have. */
  skipped: string[];
}

/** The table's columns in the SQLite database, but those naming the process that wrote a row (never copied: `OWNER_COLUMNS`). */
function sqliteColumns(db: SqliteDatabase, table: string): string[] | null {
  const rows = db.prepare<[string], { name: string }>('SELECT name FROM pragma_table_info(?)').all(table);
  return rows.length === 0 ? null : rows.map((row) => row.name).filter((name) => !OWNER_COLUMNS.has(`${table}.${name}`));
}

async function pgColumns(client: Pick<TransactionClient, 'rows'>, schema: string, table: string): Promise<string[] | null> {
  const rows = await client.rows<{ name: string }>(
    'SELECT column_name AS name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
    [schema, table],
  );
  return rows.length === 0 ? null : rows.map((row) => row.name).filter((name) => !COMPUTED.has(`${table}.${name}`));
}

const quote = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** Replaces every row of the PostgreSQL schema with the SQLite database's rows, in one transaction. */
export async function copySqliteToPostgres(source: SqliteDatabase, target: PostgresDatabase): Promise<CopyReport> {
  return target.transaction(async (tx) => {
    await lockAll(tx, target.schema);
    return replaceRows(tx, target.schema, source);
  });
}

/** Takes EXCLUSIVE locks on every copied table: reads go on, writes of other nodes wait for the commit. */
export async function lockAll(tx: TransactionClient, schema: string): Promise<void> {
  const names: string[] = [];
  for (const table of COPIED_TABLES) if ((await pgColumns(tx, schema, table)) !== null) names.push(quote(table));
  await tx.query(`LOCK TABLE ${names.join(', ')} IN EXCLUSIVE MODE`);
}

/** Inside the caller's transaction (holding `lockAll`): deletes every row and inserts the SQLite rows. */
export async function replaceRows(tx: TransactionClient, schema: string, source: SqliteDatabase): Promise<CopyReport> {
  const report: CopyReport = { tables: {}, skipped: [] };
  const present: Array<{ table: string; columns: string[] }> = [];
  for (const table of COPIED_TABLES) {
    const fromColumns = sqliteColumns(source, table);
    const toColumns = await pgColumns(tx, schema, table);
    if (toColumns === null) {
      if (fromColumns !== null) report.skipped.push(`${table}: not in the PostgreSQL schema`);
      continue;
    }
    if (fromColumns === null) {
      present.push({ table, columns: [] });
      continue;
    }
    for (const column of fromColumns) if (!toColumns.includes(column)) report.skipped.push(`${table}.${column}: not in the PostgreSQL schema`);
    present.push({ table, columns: toColumns.filter((column) => fromColumns.includes(column)) });
  }
  for (const { table } of [...present].reverse()) await tx.query(`DELETE FROM ${quote(table)}`);
  for (const { table, columns } of present) {
    report.tables[table] = 0;
    if (columns.length === 0) continue;
    const select = source.prepare(`SELECT ${columns.map(quote).join(', ')} FROM ${quote(table)}`).raw(true);
    // At most ~8 000 parameters per statement (PostgreSQL allows 65 535).
    const perBatch = Math.max(1, Math.min(BATCH_ROWS, Math.floor(8_000 / columns.length)));
    let batch: unknown[][] = [];
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const values: unknown[] = [];
      const tuples = batch.map((row) => `(${row.map((value) => `$${values.push(value)}`).join(', ')})`);
      await tx.query(`INSERT INTO ${quote(table)} (${columns.map(quote).join(', ')}) VALUES ${tuples.join(', ')}`, values);
      report.tables[table]! += batch.length;
      batch = [];
    };
    for (const row of select.iterate() as Iterable<unknown[]>) {
      batch.push(row);
      if (batch.length >= perBatch) await flush();
    }
    await flush();
  }
  // Identity columns go on after the highest copied id.
  const identities = await tx.rows<{ table_name: string; column_name: string }>(
    "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1 AND is_identity = 'YES' AND identity_generation = 'BY DEFAULT'",
    [schema],
  );
  for (const { table_name: table, column_name: column } of identities) {
    await tx.query(`SELECT setval(pg_get_serial_sequence($1, $2), coalesce((SELECT max(${quote(column)}) FROM ${quote(table)}), 0) + 1, false)`, [
      `${schema}.${table}`,
      column,
    ]);
  }
  return report;
}

/**
 * Copies the PostgreSQL schema's rows, from one snapshot, into an empty migrated SQLite database (a new
 * file), in one SQLite transaction.
 */
export async function copyPostgresToSqlite(source: PostgresDatabase, target: SqliteDatabase): Promise<CopyReport> {
  const client = await source.pool.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const report = await readRows(new TransactionClient(client), source.schema, target);
    await client.query('COMMIT');
    return report;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/** Inside the caller's transaction: writes every row of the schema into the empty SQLite database. */
export async function readRows(tx: TransactionClient, schema: string, target: SqliteDatabase): Promise<CopyReport> {
  const report: CopyReport = { tables: {}, skipped: [] };
  const tables: Array<{ table: string; columns: string[]; rows: Array<Record<string, unknown>> }> = [];
  for (const table of COPIED_TABLES) {
    const fromColumns = await pgColumns(tx, schema, table);
    const toColumns = sqliteColumns(target, table);
    if (fromColumns === null) continue;
    if (toColumns === null) {
      report.skipped.push(`${table}: not in the SQLite schema`);
      continue;
    }
    const columns = fromColumns.filter((column) => toColumns.includes(column));
    const selected = columns.map((column) => (JSON_COLUMNS.has(`${table}.${column}`) ? `${quote(column)}::text AS ${quote(column)}` : quote(column)));
    tables.push({ table, columns, rows: await tx.rows(`SELECT ${selected.join(', ')} FROM ${quote(table)}`) });
  }
  target.transaction(() => {
    for (const { table, columns, rows } of tables) {
      const insert = target.prepare(`INSERT INTO ${quote(table)} (${columns.map(quote).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
      for (const row of rows) insert.run(...columns.map((column) => row[column]));
      report.tables[table] = rows.length;
    }
  })();
  return report;
}
