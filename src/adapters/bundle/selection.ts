/**
 * Which rows a selective export takes. Everything is decided from the schema's relations
 * (`schema.ts`) and the few rules of `table-rules.ts`, so new tables follow without code here:
 *
 * 1. **Roots.** `personas`: those persona rows, and the conversations they take part in.
 *    `sessions` / `user`: those session rows. `range`: every row whose time column
 *    (`TIME_COLUMNS`) falls in [from, to).
 * 2. **Belonging** (not for `range`): a row that points at a selected row — through a declared foreign
 *    key or a `<entity>_id` column, except the pointer relations of `table-rules.ts` — is selected too,
 *    repeatedly (a persona's memories; a conversation's messages; a message's thread link).
 * 3. **Context**: rows the selected rows need come along without their own belongings:
 *    parents through NOT NULL foreign keys; the personas taking part in included conversations (not for
 *    `personas` selections); the one-to-one extensions of included rows (tables whose whole primary key
 *    is a foreign key to them, such as `persona_state`); and the membership rows of included
 *    conversations (tables whose primary key includes a foreign key to `conversations`).
 * 4. A nullable foreign key to a row left out is written as null (counted in the manifest).
 */
import type { Database } from '../sqlite/database.js';
import type { Selection } from './manifest.js';
import { quoteIdent, type Relation, type SchemaInfo, type TableInfo } from './schema.js';
import { POINTER_RELATIONS, TIME_COLUMNS } from './table-rules.js';
import { keyOf, type SqlValue } from './values.js';

/** The keys (see `rowKeyColumns`) of the rows to export, per table; a table absent from the map has none. */
export type RowSelection = Map<string, Set<string>>;

interface LoadedRow {
  key: string;
  values: Record<string, SqlValue>;
}

/** The columns that identify a row: its primary key, else its rowid. */
export function rowKeyColumns(table: TableInfo): string[] {
  return table.primaryKey.length > 0 ? table.primaryKey : ['rowid'];
}

export function rowKeyOf(table: TableInfo, row: Record<string, SqlValue>): string {
  return keyOf(rowKeyColumns(table).map((column) => row[column] ?? null));
}

export function selectRows(db: Database, schema: SchemaInfo, tables: TableInfo[], selection: Exclude<Selection, { kind: 'all' }>): RowSelection {
  const names = new Set(tables.map((table) => table.name));
  const relations = schema.relations.filter((relation) => names.has(relation.table) && names.has(relation.parentTable));
  const loaded = new Map<string, LoadedRow[]>();
  for (const table of tables) loaded.set(table.name, loadRows(db, table, relations));
  const byName = new Map(tables.map((table) => [table.name, table]));

  const selected: RowSelection = new Map(tables.map((table) => [table.name, new Set<string>()]));
  const scoped: RowSelection = new Map(tables.map((table) => [table.name, new Set<string>()]));
  const add = (target: RowSelection, table: string, key: string): boolean => {
    const set = target.get(table);
    if (set === undefined || set.has(key)) return false;
    set.add(key);
    return true;
  };
  const rowsOf = (table: string): LoadedRow[] => loaded.get(table) ?? [];
  const isIn = (target: RowSelection, table: string, key: string): boolean => target.get(table)?.has(key) ?? false;

  // 1. roots
  if (selection.kind === 'personas') {
    const wanted = new Set(selection.personaIds);
    for (const row of rowsOf('personas')) if (wanted.has(String(row.values.id))) add(scoped, 'personas', row.key);
    for (const row of rowsOf('conversation_personas')) {
      if (!wanted.has(String(row.values.persona_id))) continue;
      for (const conversation of rowsOf('conversations')) {
        if (conversation.values.id === row.values.conversation_id) add(scoped, 'conversations', conversation.key);
      }
    }
  } else if (selection.kind === 'sessions' || selection.kind === 'user') {
    const ids = selection.kind === 'sessions' ? new Set(selection.sessionIds) : null;
    for (const row of rowsOf('sessions')) {
      const matches = selection.kind === 'sessions' ? ids?.has(String(row.values.id)) === true : row.values.user_id === selection.userId;
      if (matches) add(scoped, 'sessions', row.key);
    }
  } else {
    const from = selection.from === null ? null : BigInt(selection.from);
    const to = selection.to === null ? null : BigInt(selection.to);
    for (const table of tables) {
      const column = timeColumn(table);
      if (column === null) continue;
      for (const row of rowsOf(table.name)) {
        const value = row.values[column];
        if (typeof value !== 'bigint' && typeof value !== 'number') continue;
        const time = BigInt(Math.trunc(Number(value)));
        if ((from === null || time >= from) && (to === null || time < to)) add(scoped, table.name, row.key);
      }
    }
  }

  // 2. belonging
  if (selection.kind !== 'range') {
    const belonging = relations.filter((relation) => !POINTER_RELATIONS.has(`${relation.table}.${relation.column}`));
    for (let changed = true; changed; ) {
      changed = false;
      for (const relation of belonging) {
        const parentValues = valuesOf(rowsOf(relation.parentTable), relation.parentColumn, scoped.get(relation.parentTable));
        if (parentValues.size === 0) continue;
        for (const row of rowsOf(relation.table)) {
          const value = row.values[relation.column];
          if (value !== null && value !== undefined && parentValues.has(keyOf([value]))) changed = add(scoped, relation.table, row.key) || changed;
        }
      }
    }
  }
  for (const [table, keys] of scoped) for (const key of keys) add(selected, table, key);

  // 3. context
  for (let changed = true; changed; ) {
    changed = false;
    if (selection.kind !== 'personas') {
      const conversations = valuesOf(rowsOf('conversations'), 'id', selected.get('conversations'));
      for (const member of rowsOf('conversation_personas')) {
        if (!conversations.has(keyOf([member.values.conversation_id ?? null]))) continue;
        for (const persona of rowsOf('personas')) {
          if (persona.values.id === member.values.persona_id) changed = add(selected, 'personas', persona.key) || changed;
        }
      }
    }
    for (const relation of relations) {
      const child = byName.get(relation.table);
      if (child === undefined) continue;
      if (relation.declared && relation.notNull) changed = pullParents(relation) || changed;
      if (relation.declared && followsParent(child, relation)) {
        const parentValues = valuesOf(rowsOf(relation.parentTable), relation.parentColumn, selected.get(relation.parentTable));
        for (const row of rowsOf(relation.table)) {
          const value = row.values[relation.column];
          if (value !== null && value !== undefined && parentValues.has(keyOf([value]))) changed = add(selected, relation.table, row.key) || changed;
        }
      }
    }
  }
  return selected;

  function pullParents(relation: Relation): boolean {
    let changed = false;
    const wanted = new Set<string>();
    for (const row of rowsOf(relation.table)) {
      if (!isIn(selected, relation.table, row.key)) continue;
      const value = row.values[relation.column];
      if (value !== null && value !== undefined) wanted.add(keyOf([value]));
    }
    if (wanted.size === 0) return false;
    for (const parent of rowsOf(relation.parentTable)) {
      if (wanted.has(keyOf([parent.values[relation.parentColumn] ?? null]))) changed = add(selected, relation.parentTable, parent.key) || changed;
    }
    return changed;
  }
}

/** One-to-one extensions, and the membership rows of conversations. */
function followsParent(child: TableInfo, relation: Relation): boolean {
  if (child.primaryKey.length === 1 && child.primaryKey[0] === relation.column) return true;
  return relation.parentTable === 'conversations' && child.primaryKey.includes(relation.column);
}

export function timeColumn(table: TableInfo): string | null {
  for (const name of TIME_COLUMNS) if (table.columns.some((column) => column.name === name)) return name;
  return null;
}

/** The key columns, the relation columns and the time column of every row (not whole rows). */
function loadRows(db: Database, table: TableInfo, relations: Relation[]): LoadedRow[] {
  const columns = new Set(rowKeyColumns(table));
  for (const relation of relations) {
    if (relation.table === table.name) columns.add(relation.column);
    if (relation.parentTable === table.name) columns.add(relation.parentColumn);
  }
  const time = timeColumn(table);
  if (time !== null) columns.add(time);
  if (table.name === 'sessions') columns.add('user_id');
  if (table.name === 'personas' || table.name === 'conversations') columns.add('id');
  if (table.name === 'conversation_personas') {
    columns.add('conversation_id');
    columns.add('persona_id');
  }
  const present = [...columns].filter((column) => column === 'rowid' || table.columns.some((candidate) => candidate.name === column));
  const select = present.map((column) => (column === 'rowid' ? 'rowid AS rowid' : quoteIdent(column))).join(', ');
  const statement = db.prepare<[], Record<string, SqlValue>>(`SELECT ${select} FROM ${quoteIdent(table.name)}`).safeIntegers(true);
  return statement.all().map((values) => ({ key: rowKeyOf(table, values), values }));
}

/** The encoded values of `column` among the rows whose keys are in `keys`. */
function valuesOf(rows: LoadedRow[], column: string, keys: Set<string> | undefined): Set<string> {
  const values = new Set<string>();
  if (keys === undefined || keys.size === 0) return values;
  for (const row of rows) {
    if (!keys.has(row.key)) continue;
    const value = row.values[column];
    if (value !== null && value !== undefined) values.add(keyOf([value]));
  }
  return values;
}
