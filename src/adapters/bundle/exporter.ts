/**
 * Writes a bundle from a database: inside one read transaction (a consistent snapshot, while the
 * server keeps writing through its own connection), each exported table is streamed to a JSON-lines
 * file and hashed, then the manifest and the files are packed into one .tar.gz.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Database } from '../sqlite/database.js';
import { writeArchive } from './archive.js';
import { BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, tableFileName, type BundleManifest, type Selection, type TableEntry } from './manifest.js';
import { quoteIdent, readSchema, type TableInfo } from './schema.js';
import { rowKeyOf, selectRows, type RowSelection } from './selection.js';
import { OWNER_COLUMNS, ruleFor } from './table-rules.js';
import { encodeValue, keyOf, type SqlValue } from './values.js';

export interface ExportOptions {
  selection: Selection;
  /** persona-mcp version written into the manifest. */
  appVersion: string;
  /** Defaults to the current time. */
  createdAt?: Date;
}

export interface ExportResult {
  manifest: BundleManifest;
  /** Size of the written bundle file. */
  bytes: number;
}

/** Exports `db` (already migrated) to the bundle file `outFile`, replacing it. */
export async function exportBundle(db: Database, outFile: string, options: ExportOptions): Promise<ExportResult> {
  const staging = await mkdtemp(path.join(os.tmpdir(), 'persona-mcp-export-'));
  try {
    // A read transaction: every table is read from the same snapshot of the database.
    db.exec('BEGIN');
    let manifest: BundleManifest;
    try {
      manifest = await writeTables(db, staging, options);
    } finally {
      db.exec('COMMIT');
    }
    await writeArchive(outFile, manifest, staging);
    return { manifest, bytes: (await stat(outFile)).size };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function writeTables(db: Database, staging: string, options: ExportOptions): Promise<BundleManifest> {
  const schema = readSchema(db);
  const migrations = db.prepare<[], number>('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
  const excluded: BundleManifest['excluded'] = [];
  const exported: TableInfo[] = [];
  const isFull = options.selection.kind === 'all';
  for (const table of schema.tables) {
    const rule = ruleFor(table.name);
    if (rule.export === 'never' || (rule.export === 'full-only' && !isFull)) excluded.push({ table: table.name, reason: rule.reason });
    else exported.push(table);
  }
  for (const virtual of schema.virtualTables) {
    excluded.push({ table: virtual.name, reason: 'virtual table (search index): rebuilt from its source table on import' });
  }
  const selection: RowSelection | null = options.selection.kind === 'all' ? null : selectRows(db, schema, exported, options.selection);

  const exportedNames = new Set(exported.map((table) => table.name));
  const nullable = schema.relations.filter((relation) => relation.declared && !relation.notNull && exportedNames.has(relation.table));
  const tables: TableEntry[] = [];
  const nulledReferences: Record<string, number> = {};
  for (const table of exported) {
    const keep = selection?.get(table.name) ?? null;
    // A nullable reference to a row the selection left out becomes null, so that the bundle is whole.
    const parentKeys = new Map<string, Set<string>>();
    if (selection !== null) {
      for (const relation of nullable.filter((candidate) => candidate.table === table.name)) {
        parentKeys.set(relation.column, parentValues(db, schema.tables, relation.parentTable, relation.parentColumn, selection));
      }
    }
    const columns = table.columns.map((column) => column.name);
    const file = tableFileName(table.name);
    const sink = createWriteStream(path.join(staging, path.basename(file)));
    const hash = createHash('sha256');
    let rows = 0;
    let bytes = 0;
    const order = table.primaryKey.length > 0 ? table.primaryKey.map(quoteIdent).join(', ') : 'rowid';
    const select = table.primaryKey.length > 0 ? '*' : 'rowid AS rowid, *';
    const statement = db.prepare<[], Record<string, SqlValue>>(`SELECT ${select} FROM ${quoteIdent(table.name)} ORDER BY ${order}`).safeIntegers(true);
    for (const row of statement.iterate()) {
      if (keep !== null && !keep.has(rowKeyOf(table, row))) continue;
      const out: Record<string, unknown> = {};
      for (const column of columns) {
        let value = row[column] ?? null;
        const allowed = parentKeys.get(column);
        if (allowed !== undefined && value !== null && !allowed.has(keyOf([value]))) {
          value = null;
          const name = `${table.name}.${column}`;
          nulledReferences[name] = (nulledReferences[name] ?? 0) + 1;
        }
        if (OWNER_COLUMNS.has(`${table.name}.${column}`)) value = null;
        out[column] = encodeValue(value);
      }
      const line = Buffer.from(`${JSON.stringify(out)}\n`);
      hash.update(line);
      bytes += line.length;
      rows += 1;
      if (!sink.write(line)) await new Promise<void>((resolve) => sink.once('drain', () => resolve()));
    }
    await new Promise<void>((resolve, reject) => sink.end((error?: Error | null) => (error ? reject(error) : resolve())));
    tables.push({ table: table.name, file, sha256: hash.digest('hex'), bytes, rows, columns });
  }

  return {
    format: BUNDLE_FORMAT,
    formatVersion: BUNDLE_FORMAT_VERSION,
    appVersion: options.appVersion,
    schemaVersion: Math.max(...migrations),
    migrations,
    createdAt: (options.createdAt ?? new Date()).toISOString(),
    selection: options.selection,
    tables,
    excluded,
    nulledReferences,
  };
}

/** The encoded values of `column` of the selected rows of `table`. */
function parentValues(db: Database, tables: TableInfo[], tableName: string, column: string, selection: RowSelection): Set<string> {
  const table = tables.find((candidate) => candidate.name === tableName);
  const keys = selection.get(tableName);
  const values = new Set<string>();
  if (table === undefined || keys === undefined) return values;
  const select = table.primaryKey.length > 0 ? '*' : 'rowid AS rowid, *';
  for (const row of db.prepare<[], Record<string, SqlValue>>(`SELECT ${select} FROM ${quoteIdent(tableName)}`).safeIntegers(true).iterate()) {
    if (keys.has(rowKeyOf(table, row))) values.add(keyOf([row[column] ?? null]));
  }
  return values;
}
