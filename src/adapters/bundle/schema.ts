/**
 * What the bundle code knows about a database, read from SQLite itself rather than written by hand,
 * so that tables added by later migrations are exported and imported without touching this code:
 * the tables and their columns, primary keys and integer row ids, and the relationships between
 * tables — declared foreign keys, plus the naming convention `<entity>_id` / `<entity>N_id` /
 * `<role>_<entity>_id` for a column that holds the id of a row of the table `<entity>s`.
 */
import type { Database } from '../sqlite/database.js';

export interface ColumnInfo {
  name: string;
  /** Declared type, upper-case ("TEXT", "INTEGER"). */
  type: string;
  notNull: boolean;
}

export interface TableInfo {
  name: string;
  columns: ColumnInfo[];
  /** Primary-key columns in key order; empty for a table keyed by its rowid only. */
  primaryKey: string[];
  /** The `INTEGER PRIMARY KEY` column that aliases the rowid (a surrogate id), if any. */
  rowidAlias: string | null;
  withoutRowid: boolean;
}

/** `table.column` holds a value of `parentTable.parentColumn`. */
export interface Relation {
  table: string;
  column: string;
  parentTable: string;
  parentColumn: string;
  /** A declared FOREIGN KEY (SQLite enforces it) rather than a naming convention. */
  declared: boolean;
  notNull: boolean;
}

export interface VirtualTable {
  name: string;
  sql: string;
  /** FTS5 `content=` table: the index can be rebuilt from it after an import. */
  externalContent: string | null;
}

export interface SchemaInfo {
  /** Ordinary tables (no virtual tables, no shadow tables, no sqlite_*), parents before children. */
  tables: TableInfo[];
  virtualTables: VirtualTable[];
  relations: Relation[];
}

interface TableListRow {
  schema: string;
  name: string;
  type: string;
  wr: number;
}

interface ColumnRow {
  name: string;
  type: string;
  notnull: number;
  pk: number;
  hidden: number;
}

interface ForeignKeyRow {
  id: number;
  seq: number;
  table: string;
  from: string;
  to: string | null;
}

/** Reads the schema of `schemaName` (`main` or an attached database). */
export function readSchema(db: Database, schemaName = 'main'): SchemaInfo {
  const quotedSchema = quoteIdent(schemaName);
  const listed = db.prepare<[], TableListRow>(`PRAGMA ${quotedSchema}.table_list`).all().filter((row) => row.schema === schemaName);
  const byName = new Map<string, TableInfo>();
  const virtualTables: VirtualTable[] = [];
  for (const row of listed) {
    if (row.name.startsWith('sqlite_')) continue;
    if (row.type === 'virtual') {
      const sql = db.prepare<[string], string>(`SELECT sql FROM ${quotedSchema}.sqlite_schema WHERE name = ?`).pluck().get(row.name) ?? '';
      virtualTables.push({ name: row.name, sql, externalContent: externalContentOf(sql) });
      continue;
    }
    if (row.type !== 'table') continue;
    const columns = db
      .prepare<[], ColumnRow>(`PRAGMA ${quotedSchema}.table_xinfo(${quoteIdent(row.name)})`)
      .all()
      // Hidden and generated columns cannot be inserted; they are derived from the others.
      .filter((column) => column.hidden === 0);
    const primaryKey = columns.filter((column) => column.pk > 0).sort((a, b) => a.pk - b.pk).map((column) => column.name);
    const single = primaryKey.length === 1 ? columns.find((column) => column.name === primaryKey[0]) : undefined;
    byName.set(row.name, {
      name: row.name,
      columns: columns.map((column) => ({ name: column.name, type: column.type.toUpperCase(), notNull: column.notnull === 1 || column.pk > 0 })),
      primaryKey,
      rowidAlias: row.wr === 0 && single !== undefined && single.type.toUpperCase() === 'INTEGER' ? single.name : null,
      withoutRowid: row.wr === 1,
    });
  }

  const relations: Relation[] = [];
  for (const table of byName.values()) {
    const foreignKeys = db.prepare<[], ForeignKeyRow>(`PRAGMA ${quotedSchema}.foreign_key_list(${quoteIdent(table.name)})`).all();
    const composite = new Set(foreignKeys.filter((key) => key.seq > 0).map((key) => key.id));
    const declaredColumns = new Set<string>();
    for (const key of foreignKeys) {
      // Composite foreign keys are enforced by SQLite but not followed: no table of ours has one.
      if (composite.has(key.id)) continue;
      const parent = byName.get(key.table);
      const parentColumn = key.to ?? parent?.primaryKey[0];
      if (parent === undefined || parentColumn === undefined) continue;
      declaredColumns.add(key.from);
      relations.push({ table: table.name, column: key.from, parentTable: parent.name, parentColumn, declared: true, notNull: isNotNull(table, key.from) });
    }
    for (const column of table.columns) {
      if (declaredColumns.has(column.name)) continue;
      const parent = conventionalParent(column.name, byName);
      if (parent === undefined || parent.name === table.name) continue;
      relations.push({ table: table.name, column: column.name, parentTable: parent.name, parentColumn: parent.primaryKey[0] as string, declared: false, notNull: column.notNull });
    }
  }
  return { tables: dependencyOrder([...byName.values()], relations), virtualTables, relations };
}

/** `persona_id`, `persona2_id`, `source_persona_id` → the table `personas` (or `persona`), when it exists with a one-column key. */
function conventionalParent(column: string, tables: Map<string, TableInfo>): TableInfo | undefined {
  const match = /^(?:[a-z0-9]+_)*?([a-z]+)\d*_id$/.exec(column);
  const entity = match?.[1];
  if (entity === undefined) return undefined;
  const candidates = [`${entity}s`, `${entity}es`, entity.endsWith('y') ? `${entity.slice(0, -1)}ies` : `${entity}`, entity];
  for (const name of candidates) {
    const table = tables.get(name);
    if (table !== undefined && table.primaryKey.length === 1) return table;
  }
  return undefined;
}

function isNotNull(table: TableInfo, column: string): boolean {
  return table.columns.find((candidate) => candidate.name === column)?.notNull ?? false;
}

/**
 * Parents before children (by declared foreign keys, then by convention where that makes no cycle),
 * alphabetical among equals, so that inserts satisfy foreign keys and renamed keys are known before
 * the rows that point at them.
 */
function dependencyOrder(tables: TableInfo[], relations: Relation[]): TableInfo[] {
  const sorted = [...tables].sort((a, b) => a.name.localeCompare(b.name));
  const attempt = (useConvention: boolean): TableInfo[] | null => {
    const parents = new Map<string, Set<string>>(sorted.map((table) => [table.name, new Set<string>()]));
    for (const relation of relations) {
      if (!relation.declared && !useConvention) continue;
      if (relation.parentTable !== relation.table) parents.get(relation.table)?.add(relation.parentTable);
    }
    const done = new Set<string>();
    const order: TableInfo[] = [];
    while (order.length < sorted.length) {
      const next = sorted.find((table) => !done.has(table.name) && [...(parents.get(table.name) ?? [])].every((parent) => done.has(parent)));
      if (next === undefined) return null;
      done.add(next.name);
      order.push(next);
    }
    return order;
  };
  return attempt(true) ?? attempt(false) ?? sorted;
}

function externalContentOf(sql: string): string | null {
  if (!/using\s+fts5/i.test(sql)) return null;
  const match = /content\s*=\s*['"]?([A-Za-z0-9_]+)['"]?/i.exec(sql);
  return match?.[1] && match[1].length > 0 ? match[1] : null;
}

/** Double-quotes an SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
