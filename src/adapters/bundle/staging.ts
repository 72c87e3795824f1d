/**
 * Loads a verified bundle into a private staging database — first with the exact schema the bundle
 * was exported from (its `migrations`), so SQLite itself checks every row (STRICT types, CHECK,
 * NOT NULL, foreign keys); then migrated to this build's schema, the same way a data directory of
 * that version would be. Only then is anything applied to the real database.
 */
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import BetterSqlite3 from 'better-sqlite3';
import type { Database } from '../sqlite/database.js';
import { currentSchemaVersion, MIGRATIONS, runMigrations } from '../sqlite/migrations.js';
import type { UnpackedBundle } from './archive.js';
import { BundleError } from './errors.js';
import { BUNDLE_FORMAT_VERSION, type BundleManifest } from './manifest.js';
import { quoteIdent, readSchema } from './schema.js';
import { ruleFor } from './table-rules.js';
import { decodeValue } from './values.js';

export interface StagedBundle {
  db: Database;
  path: string;
  /** The bundle's schema version when it was older than this build's (it was migrated), else null. */
  upgradedFrom: number | null;
}

/** Refuses bundles of a newer format or schema, before any row is read. */
export function checkCompatible(manifest: BundleManifest): void {
  if (manifest.formatVersion > BUNDLE_FORMAT_VERSION) {
    throw new BundleError(
      'newer_version',
      `the bundle uses format version ${manifest.formatVersion}, but this persona-mcp reads up to ${BUNDLE_FORMAT_VERSION}; upgrade persona-mcp (it was written by ${manifest.appVersion})`,
    );
  }
  const known = new Set(MIGRATIONS.map((migration) => migration.version));
  const unknown = manifest.migrations.filter((version) => !known.has(version));
  if (unknown.length > 0 || manifest.schemaVersion > currentSchemaVersion()) {
    throw new BundleError(
      'newer_version',
      `the bundle has database schema version ${manifest.schemaVersion} (migrations ${unknown.join(', ') || manifest.schemaVersion} unknown here), ` +
        `but this persona-mcp knows up to version ${currentSchemaVersion()}; upgrade persona-mcp (the bundle was written by ${manifest.appVersion})`,
    );
  }
}

export async function stageBundle(bundle: UnpackedBundle, directory: string): Promise<StagedBundle> {
  const { manifest } = bundle;
  checkCompatible(manifest);
  const file = path.join(directory, 'staging.db');
  const db = new BetterSqlite3(file);
  try {
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    // Off while loading (tables arrive in any order); checked as a whole below.
    db.pragma('foreign_keys = OFF');
    applyExactly(db, manifest.migrations);
    const schema = readSchema(db);
    for (const entry of manifest.tables) {
      const table = schema.tables.find((candidate) => candidate.name === entry.table);
      if (table === undefined) {
        throw new BundleError('invalid_rows', `the bundle has a table "${entry.table}" that schema version ${manifest.schemaVersion} does not have`);
      }
      if (ruleFor(entry.table).export === 'never') throw new BundleError('invalid_rows', `the bundle carries the table "${entry.table}", which is never imported`);
      const known = new Set(table.columns.map((column) => column.name));
      const strange = entry.columns.filter((column) => !known.has(column));
      if (strange.length > 0) throw new BundleError('invalid_rows', `${entry.file}: columns ${strange.join(', ')} are not in the table "${entry.table}"`);
      await loadTable(db, entry.table, entry.columns, required(bundle.files.get(entry.table)), entry.file);
    }
    const broken = db.prepare<[], { table: string; parent: string }>('PRAGMA foreign_key_check').all();
    if (broken.length > 0) {
      const first = broken[0] as { table: string; parent: string };
      throw new BundleError('invalid_rows', `the bundle is inconsistent: ${broken.length} row(s) refer to missing rows (first: ${first.table} → ${first.parent})`);
    }
    db.pragma('foreign_keys = ON');
    const before = manifest.schemaVersion;
    const applied = runMigrations(db);
    return { db, path: file, upgradedFrom: applied.length > 0 ? before : null };
  } catch (error) {
    db.close();
    throw error;
  }
}

/** Creates exactly the schema made by `versions` (as an older persona-mcp would have). */
function applyExactly(db: Database, versions: readonly number[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const record = db.prepare<[number, string, number]>('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  const wanted = new Set(versions);
  for (const migration of [...MIGRATIONS].sort((a, b) => a.version - b.version)) {
    if (!wanted.has(migration.version)) continue;
    db.exec(migration.sql);
    record.run(migration.version, migration.name, 0);
  }
}

async function loadTable(db: Database, table: string, columns: string[], file: string, fileName: string): Promise<void> {
  const insert = db.prepare(
    `INSERT INTO ${quoteIdent(table)} (${columns.map(quoteIdent).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
  );
  const allowed = new Set(columns);
  let line = 0;
  db.exec('BEGIN');
  try {
    for await (const text of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
      line += 1;
      const where = `${fileName} line ${line}`;
      let row: unknown;
      try {
        row = JSON.parse(text);
      } catch {
        throw new BundleError('invalid_rows', `${where}: not valid JSON`);
      }
      if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new BundleError('invalid_rows', `${where}: not a JSON object`);
      const record = row as Record<string, unknown>;
      for (const key of Object.keys(record)) if (!allowed.has(key)) throw new BundleError('invalid_rows', `${where}: unknown column "${key}"`);
      const values = columns.map((column) => decodeValue(record[column] ?? null, `${where}, ${column}`));
      try {
        insert.run(...values);
      } catch (error) {
        if (error instanceof BetterSqlite3.SqliteError) throw new BundleError('invalid_rows', `${where}: ${error.message}`);
        throw error;
      }
    }
    db.exec('COMMIT');
  } catch (error) {
    db.exec('ROLLBACK');
    throw error;
  }
}

function required<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('staging: a verified bundle lost a file');
  return value;
}
