/**
 * Imports a bundle into a database: unpack and verify (`archive.ts`), stage and check every row at the
 * bundle's own schema, migrate the staging copy (`staging.ts`), then merge it into the target in one
 * IMMEDIATE transaction — or, for a dry run, in a transaction that is rolled back, so the report says
 * exactly what would change.
 *
 * Merging, table by table, parents first:
 * - a row equal to the stored one is `unchanged`;
 * - integer row ids (`INTEGER PRIMARY KEY`, e.g. message ids) are surrogates: when any imported id is
 *   taken by a different row, the table's new rows are renumbered after the highest id, in their
 *   original order, and every reference to them follows;
 * - any other key taken by a different row is a conflict, resolved by the policy: `skip` keeps the
 *   stored row, `replace` overwrites it in place (rows pointing at it stay), `rename` imports the row
 *   under a new key (`aria` → `aria-imported`; a persona also gets a free name) and rewrites the
 *   references to it in the rows that follow;
 * - a row whose parent is not there (a skipped row's children) is skipped, and counted.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import BetterSqlite3 from 'better-sqlite3';
import type { Database } from '../sqlite/database.js';
import { readArchive } from './archive.js';
import type { ConflictNote, ConflictPolicy, ImportOptions, ImportReport, TableImportReport } from '../../ports/archive.js';
import { quoteIdent, readSchema, type Relation, type TableInfo } from './schema.js';
import { stageBundle } from './staging.js';
import { FIXED_KEY_TABLES, ruleFor } from './table-rules.js';
import { keyOf, sameValue, type SqlValue } from './values.js';

export const MAX_CONFLICT_NOTES = 200;
/** Tried suffixes before a rename gives up: `-imported`, `-imported-2`, ... */
const RENAME_ATTEMPTS = 50;

/** Unpacks, verifies, stages and applies the bundle read from `source` to `target`. */
export async function importBundle(
  target: Database,
  source: Readable,
  options: ImportOptions & { maxUnpackedBytes?: number; maxLineBytes?: number },
): Promise<ImportReport> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'persona-mcp-import-'));
  try {
    const unpacked = await readArchive(source, directory, {
      ...(options.maxUnpackedBytes === undefined ? {} : { maxUnpackedBytes: options.maxUnpackedBytes }),
      ...(options.maxLineBytes === undefined ? {} : { maxLineBytes: options.maxLineBytes }),
    });
    const staged = await stageBundle(unpacked, directory);
    staged.db.close();
    const { manifest } = unpacked;
    const report = applyStaged(target, staged.path, options);
    return {
      ...report,
      bundle: {
        formatVersion: manifest.formatVersion,
        appVersion: manifest.appVersion,
        schemaVersion: manifest.schemaVersion,
        createdAt: manifest.createdAt,
        selection: manifest.selection,
      },
      upgradedFrom: staged.upgradedFrom,
    };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

type Row = Record<string, SqlValue>;
type MergeReport = Omit<ImportReport, 'bundle' | 'upgradedFrom'>;

class DryRunRollback extends Error {}

function applyStaged(target: Database, stagingPath: string, options: ImportOptions): MergeReport {
  target.prepare('ATTACH DATABASE ? AS bundle').run(stagingPath);
  try {
    const schema = readSchema(target, 'main');
    const bundleTables = new Set(readSchema(target, 'bundle').tables.map((table) => table.name));
    const tables = schema.tables.filter((table) => bundleTables.has(table.name) && ruleFor(table.name).export !== 'never');
    const merge = new Merge(target, schema.relations, options.onConflict);
    let report: MergeReport | undefined;
    const run = (): void => {
      for (const table of tables) merge.table(table);
      if (!options.dryRun) {
        for (const virtual of schema.virtualTables) {
          if (virtual.externalContent !== null) target.prepare(`INSERT INTO ${quoteIdent(virtual.name)} (${quoteIdent(virtual.name)}) VALUES ('rebuild')`).run();
        }
      }
      report = merge.report(options);
      if (options.dryRun) throw new DryRunRollback();
    };
    try {
      target.transaction(run).immediate();
    } catch (error) {
      if (!(error instanceof DryRunRollback)) throw error;
    }
    if (report === undefined) throw new Error('import: no report');
    return report;
  } finally {
    target.exec('DETACH DATABASE bundle');
  }
}

class Merge {
  private readonly reports: TableImportReport[] = [];
  private readonly conflicts: ConflictNote[] = [];
  private conflictCount = 0;
  /** `table.column` → (encoded old value → new value), for keys that changed. */
  private readonly remaps = new Map<string, Map<string, SqlValue>>();
  private readonly changedPersonas = new Set<string>();

  constructor(
    private readonly db: Database,
    private readonly relations: Relation[],
    private readonly policy: ConflictPolicy,
  ) {}

  report(options: ImportOptions): MergeReport {
    return {
      dryRun: options.dryRun,
      onConflict: options.onConflict,
      tables: this.reports,
      conflicts: this.conflicts,
      conflictCount: this.conflictCount,
      changedPersonaIds: [...this.changedPersonas],
    };
  }

  table(table: TableInfo): void {
    const name = quoteIdent(table.name);
    const order = table.primaryKey.length > 0 ? table.primaryKey.map(quoteIdent).join(', ') : 'rowid';
    const rows = this.db.prepare<[], Row>(`SELECT * FROM bundle.${name} ORDER BY ${order}`).safeIntegers(true).all();
    const report: TableImportReport = { table: table.name, rows: rows.length, inserted: 0, unchanged: 0, replaced: 0, renamed: 0, skipped: 0, renumbered: 0 };
    this.reports.push(report);
    if (rows.length === 0) return;

    const outgoing = this.relations.filter((relation) => relation.table === table.name);
    for (const row of rows) this.rewriteReferences(row, outgoing);

    const columns = table.columns.map((column) => column.name);
    const keyColumns = table.primaryKey;
    // A table without a primary key is matched on all its columns: an equal row is the same row.
    const matchColumns = keyColumns.length > 0 ? keyColumns : columns;
    const find = this.db
      .prepare<SqlValue[], Row>(`SELECT * FROM main.${name} WHERE ${matchColumns.map((column) => `${quoteIdent(column)} IS ?`).join(' AND ')} LIMIT 1`)
      .safeIntegers(true);
    const insert = this.db.prepare<SqlValue[]>(`INSERT INTO main.${name} (${columns.map(quoteIdent).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
    const nonKey = columns.filter((column) => !keyColumns.includes(column));
    const update = nonKey.length > 0 && keyColumns.length > 0
      ? this.db.prepare<SqlValue[]>(`UPDATE main.${name} SET ${nonKey.map((column) => `${quoteIdent(column)} = ?`).join(', ')} WHERE ${keyColumns.map((column) => `${quoteIdent(column)} = ?`).join(' AND ')}`)
      : null;
    const existing = (row: Row): Row | undefined => find.get(...matchColumns.map((column) => row[column] ?? null));
    const same = (a: Row, b: Row): boolean => columns.every((column) => sameValue(a[column] ?? null, b[column] ?? null));
    const tryInsert = (row: Row): 'ok' | 'unique' | 'orphan' => {
      try {
        insert.run(...columns.map((column) => row[column] ?? null));
        return 'ok';
      } catch (error) {
        if (error instanceof BetterSqlite3.SqliteError && error.code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return 'orphan';
        if (error instanceof BetterSqlite3.SqliteError && (error.code === 'SQLITE_CONSTRAINT_UNIQUE' || error.code === 'SQLITE_CONSTRAINT_PRIMARYKEY')) return 'unique';
        throw error;
      }
    };
    const keyText = (row: Row): string => keyColumns.map((column) => String(row[column])).join('/') || '(row)';
    const isSurrogate = table.rowidAlias !== null && !outgoing.some((relation) => relation.column === table.rowidAlias);
    if (isSurrogate) this.renumber(table, rows, existing, same, report);

    const renamable =
      keyColumns.length === 1 && !isSurrogate && !FIXED_KEY_TABLES.has(table.name) && !outgoing.some((relation) => relation.column === keyColumns[0]);
    for (const row of rows) {
      const stored = existing(row);
      if (stored !== undefined && same(row, stored)) {
        report.unchanged += 1;
        continue;
      }
      if (stored !== undefined) {
        if (this.policy === 'skip') {
          this.note(report, { table: table.name, key: keyText(row), action: 'skipped', reason: 'a different row with this key exists (policy skip)' });
          continue;
        }
        if (this.policy === 'replace' && update !== null) {
          try {
            update.run(...nonKey.map((column) => row[column] ?? null), ...keyColumns.map((column) => row[column] ?? null));
          } catch (error) {
            if (!(error instanceof BetterSqlite3.SqliteError) || !error.code.startsWith('SQLITE_CONSTRAINT')) throw error;
            this.note(report, { table: table.name, key: keyText(row), action: 'skipped', reason: `cannot replace: ${error.message}` });
            continue;
          }
          report.replaced += 1;
          this.touched(table, row);
          this.note(report, { table: table.name, key: keyText(row), action: 'replaced', reason: 'a different row with this key existed (policy replace)' }, false);
          continue;
        }
        if (!renamable) {
          this.note(report, { table: table.name, key: keyText(row), action: 'skipped', reason: 'a different row with this key exists, and rows of this table cannot be renamed' });
          continue;
        }
        this.renameAndInsert(table, row, tryInsert, report);
        continue;
      }
      const outcome = tryInsert(row);
      if (outcome === 'ok') {
        report.inserted += 1;
        this.touched(table, row);
      } else if (outcome === 'orphan') {
        this.note(report, { table: table.name, key: keyText(row), action: 'skipped', reason: 'it belongs to a row that was not imported' });
      } else if (this.policy === 'skip' || !renamable) {
        this.note(report, { table: table.name, key: keyText(row), action: 'skipped', reason: 'another row already has one of its unique values (such as a name)' });
      } else {
        this.renameAndInsert(table, row, tryInsert, report);
      }
    }
  }

  /** Gives the table's new rows fresh integer ids when any of theirs is taken by a different row. */
  private renumber(table: TableInfo, rows: Row[], existing: (row: Row) => Row | undefined, same: (a: Row, b: Row) => boolean, report: TableImportReport): void {
    const idColumn = table.rowidAlias as string;
    const fresh = rows.filter((row) => {
      const stored = existing(row);
      return stored === undefined || !same(row, stored);
    });
    if (!fresh.some((row) => existing(row) !== undefined)) return;
    const name = quoteIdent(table.name);
    let next = BigInt(this.db.prepare<[], bigint | null>(`SELECT max(${quoteIdent(idColumn)}) FROM main.${name}`).pluck().safeIntegers(true).get() ?? 0n);
    try {
      const sequence = this.db.prepare<[string], bigint>('SELECT seq FROM main.sqlite_sequence WHERE name = ?').pluck().safeIntegers(true).get(table.name);
      if (sequence !== undefined && sequence > next) next = sequence;
    } catch {
      // No AUTOINCREMENT table in the database: no sqlite_sequence.
    }
    const remap = this.remapFor(table.name, idColumn);
    for (const row of fresh) {
      next += 1n;
      remap.set(keyOf([row[idColumn] ?? null]), next);
      row[idColumn] = next;
      report.renumbered += 1;
    }
  }

  private renameAndInsert(table: TableInfo, row: Row, tryInsert: (row: Row) => 'ok' | 'unique' | 'orphan', report: TableImportReport): void {
    const keyColumn = table.primaryKey[0] as string;
    const original = row[keyColumn] ?? null;
    const originalName = row.name;
    for (let attempt = 1; attempt <= RENAME_ATTEMPTS; attempt += 1) {
      const candidate = { ...row };
      const free = this.freeKey(table, original, attempt);
      if (free === null) break;
      candidate[keyColumn] = free;
      renameHooks[table.name]?.(candidate, attempt, typeof originalName === 'string' ? originalName : null);
      const outcome = tryInsert(candidate);
      if (outcome === 'orphan') break;
      if (outcome === 'unique') continue;
      this.remapFor(table.name, keyColumn).set(keyOf([original]), free);
      report.renamed += 1;
      this.touched(table, candidate);
      this.note(report, { table: table.name, key: String(original), action: 'renamed', to: String(free), reason: 'its key or name was taken (policy rename)' }, false);
      return;
    }
    this.note(report, { table: table.name, key: String(original), action: 'skipped', reason: 'no free key or name was found for it' });
  }

  /** `aria` → `aria-imported`, `aria-imported-2`, ...; integer keys → the next free integer. */
  private freeKey(table: TableInfo, original: SqlValue, attempt: number): SqlValue {
    const keyColumn = table.primaryKey[0] as string;
    const isFree = (value: SqlValue): boolean =>
      this.db.prepare(`SELECT 1 FROM main.${quoteIdent(table.name)} WHERE ${quoteIdent(keyColumn)} = ?`).get(value) === undefined;
    if (typeof original !== 'string') return null;
    const suffix = attempt === 1 ? '-imported' : `-imported-${attempt}`;
    // Persona ids are slugs of at most 48 characters.
    const base = table.name === 'personas' ? original.slice(0, 48 - suffix.length).replace(/-+$/, '') : original;
    const candidate = `${base}${suffix}`;
    return isFree(candidate) ? candidate : null;
  }

  private rewriteReferences(row: Row, outgoing: Relation[]): void {
    for (const relation of outgoing) {
      const value = row[relation.column];
      if (value === null || value === undefined) continue;
      const replacement = this.remaps.get(`${relation.parentTable}.${relation.parentColumn}`)?.get(keyOf([value]));
      if (replacement !== undefined) row[relation.column] = replacement;
    }
  }

  private remapFor(table: string, column: string): Map<string, SqlValue> {
    const key = `${table}.${column}`;
    let map = this.remaps.get(key);
    if (map === undefined) this.remaps.set(key, (map = new Map()));
    return map;
  }

  private touched(table: TableInfo, row: Row): void {
    if (table.name === 'personas' && typeof row.id === 'string') this.changedPersonas.add(row.id);
    if (table.name === 'persona_state' && typeof row.persona_id === 'string') this.changedPersonas.add(row.persona_id);
  }

  private note(report: TableImportReport, conflict: ConflictNote, countsAsSkip = true): void {
    if (countsAsSkip) report.skipped += 1;
    this.conflictCount += 1;
    if (this.conflicts.length < MAX_CONFLICT_NOTES) this.conflicts.push(conflict);
  }
}

/**
 * What else changes when a row is renamed, for tables whose rows carry their key or a unique name
 * inside other columns. Personas: the definition JSON repeats id and name, and names are unique
 * (case-insensitively), so a renamed persona is also called "Aria (imported)", "Aria (imported 2)", ...
 */
const renameHooks: Record<string, (row: Row, attempt: number, originalName: string | null) => void> = {
  personas(row, attempt, originalName) {
    if (originalName === null || typeof row.definition !== 'string') return;
    const name = `${originalName.slice(0, 50)} (imported${attempt === 1 ? '' : ` ${attempt}`})`;
    row.name = name;
    const definition = JSON.parse(row.definition) as Record<string, unknown>;
    row.definition = JSON.stringify({ ...definition, id: row.id, name });
  },
};
