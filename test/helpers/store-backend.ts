/**
 * Which store the adapter contract tests run on. The SQLite test files (`src/adapters/sqlite/*.test.ts`)
 * hold the port's contract; `src/adapters/postgres/*.test.ts` select PostgreSQL and import them, so the
 * SAME tests run on both stores. Each PostgreSQL test gets a fresh schema of the test server
 * (test/global-postgres.ts), dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { inject } from 'vitest';
import pg from 'pg';
import { PostgresDatabase } from '../../src/adapters/postgres/database.js';

export type BackendName = 'sqlite' | 'postgres';
let selected: BackendName = 'sqlite';

export function selectBackend(name: BackendName): void {
  selected = name;
}

export function backendName(): BackendName {
  return selected;
}

export const onPostgres = (): boolean => selected === 'postgres';

/** The test server's URL, waiting (bounded) for the global setup to have started it; or why there is none. */
export async function testPostgresUrl(timeoutMs = 60_000): Promise<{ url: string } | { unavailable: string }> {
  const provided = inject('postgres');
  if ('unavailable' in provided) return provided;
  if (provided.statusFile === null) return { url: provided.url };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (existsSync(provided.statusFile)) {
      try {
        const status = JSON.parse(readFileSync(provided.statusFile, 'utf8')) as { url?: string; error?: string };
        if (status.url !== undefined) return { url: status.url };
        return { unavailable: `the test PostgreSQL did not start: ${status.error ?? 'unknown error'}` };
      } catch {
        // being written
      }
    }
    if (Date.now() > deadline) return { unavailable: `the test PostgreSQL did not start within ${timeoutMs} ms` };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Whether PostgreSQL tests can run here; resolved once per file at collection time. */
export async function postgresAvailable(): Promise<{ ok: true; url: string } | { ok: false; reason: string }> {
  const found = await testPostgresUrl();
  if ('unavailable' in found) {
    console.warn(`PostgreSQL contract tests skipped: ${found.unavailable}`);
    return { ok: false, reason: found.unavailable };
  }
  return { ok: true, url: found.url };
}

const opened: PostgresDatabase[] = [];
/** One migrated schema per test file, emptied for each test (migrating a schema takes ~1 s, emptying it ~20 ms). */
let fileSchema: { url: string; schema: string } | null = null;

/** A migrated, empty PostgreSQL schema of the test server (the same one for every test of a file). */
export async function freshPostgres(): Promise<PostgresDatabase> {
  if (fileSchema === null) {
    const found = await testPostgresUrl();
    if ('unavailable' in found) throw new Error(found.unavailable);
    const schema = `t_${randomBytes(6).toString('hex')}`;
    await (await PostgresDatabase.open(found.url, { schema, poolSize: 1 })).close();
    fileSchema = { url: found.url, schema };
  } else if (opened.length === 0) {
    await emptySchema(fileSchema.url, fileSchema.schema);
  }
  const database = await PostgresDatabase.open(fileSchema.url, { schema: fileSchema.schema, poolSize: 4, migrate: false });
  opened.push(database);
  return database;
}

/** Closes the pools `freshPostgres` opened in this test; the next test starts from an empty schema. */
export async function dropFreshPostgres(): Promise<void> {
  for (const database of opened.splice(0)) await database.close();
}

/** DELETE (with foreign-key triggers off) and sequences back to 1: far cheaper than TRUNCATE of every table. */
async function emptySchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = (
      await client.query<{ name: string }>(
        "SELECT quote_ident(tablename) AS name FROM pg_tables WHERE schemaname = $1 AND tablename <> 'schema_migrations'",
        [schema],
      )
    ).rows.map((row) => `${schema}.${row.name}`);
    const sequences = (
      await client.query<{ name: string }>('SELECT quote_ident(sequence_name) AS name FROM information_schema.sequences WHERE sequence_schema = $1', [schema])
    ).rows.map((row) => `${schema}.${row.name}`);
    await client.query(
      [
        'BEGIN',
        'SET LOCAL session_replication_role = replica',
        ...tables.map((table) => `DELETE FROM ${table}`),
        ...sequences.map((sequence) => `SELECT setval('${sequence}', 1, false)`),
        'COMMIT',
      ].join(';\n'),
    );
  } finally {
    await client.end();
  }
}
