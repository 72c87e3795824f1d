/**
 * Databases made by earlier schema versions (test/fixtures/db/schema-vN.db, written by
 * scripts/make-state-fixtures.ts) open and upgrade without losing a row, and a bundle of such a
 * database imports into the current schema.
 */
import { copyFileSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { exportBundle } from '../../src/adapters/bundle/exporter.js';
import { SqliteStateArchive } from '../../src/adapters/bundle/sqlite-archive.js';
import { openDatabase } from '../../src/adapters/sqlite/database.js';
import { currentSchemaVersion, MIGRATIONS } from '../../src/adapters/sqlite/migrations.js';
import { SqliteStore } from '../../src/adapters/sqlite/sqlite-store.js';
import { databaseFile, dumpDatabase, tempDir } from '../helpers/state-fixtures.js';

const fixtures = path.resolve('test/fixtures/db');
const files = readdirSync(fixtures).filter((name) => /^schema-v\d+\.db$/.test(name)).sort();
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function copyOf(name: string): string {
  const dir = tempDir();
  dirs.push(dir);
  const file = databaseFile(dir);
  copyFileSync(path.join(fixtures, name), file);
  return file;
}

describe('database fixtures of earlier schema versions', () => {
  it('has at least the first version', () => {
    expect(files).toContain('schema-v1.db');
  });

  it.each(files)('%s upgrades to the current schema without losing a row', async (name) => {
    const file = copyOf(name);
    const before = dumpDatabase(file);
    openDatabase(file).close();
    const db = new BetterSqlite3(file, { readonly: true });
    const versions = db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
    db.close();
    expect(versions).toEqual(MIGRATIONS.map((migration) => migration.version).sort((a, b) => a - b));
    const after = dumpDatabase(file);
    // Columns added by later migrations come last: every old row is still there with its old values.
    const firstColumns = (rows: unknown[] | undefined, width: number): unknown[] =>
      (rows ?? []).map((row) => JSON.stringify((JSON.parse(row as string) as unknown[]).slice(0, width))).sort();
    for (const [table, rows] of Object.entries(before)) {
      const width = rows.length === 0 ? 0 : (JSON.parse(rows[0] as string) as unknown[]).length;
      expect(firstColumns(after[table], width), table).toEqual(rows);
    }

    const store = SqliteStore.open(file);
    try {
      const history = await store.historyPage('conv_fixture00000001', { limit: 10 });
      expect(history.messages.map((message) => message.content)).toEqual(['Busy, and so am I.', 'How are the bees this spring?']);
      expect((await store.getPersona('tobias'))?.topicPreferences).toEqual({ bees: 95 });
    } finally {
      await store.close();
    }
  });

  it.each(files)('a bundle exported at %s imports into the current schema (migrated on the way)', async (name) => {
    const old = new BetterSqlite3(copyOf(name));
    const bundle = path.join(tempDir(), 'old.tar.gz');
    dirs.push(path.dirname(bundle));
    try {
      await exportBundle(old, bundle, { selection: { kind: 'all' }, appVersion: 'fixture' });
    } finally {
      old.close();
    }
    const target = tempDir();
    dirs.push(target);
    const report = await new SqliteStateArchive(databaseFile(target), 'test').importBundle(Readable.from([readFileSync(bundle)]), { dryRun: false, onConflict: 'skip' });
    const version = Number(/\d+/.exec(name)?.[0]);
    expect(report.upgradedFrom).toBe(version < currentSchemaVersion() ? version : null);
    expect(report.tables.find((table) => table.table === 'messages')?.inserted).toBe(2);
    expect(dumpDatabase(databaseFile(target)).messages).toHaveLength(2);
  });
});
