/**
 * The few things about tables that cannot be read from the schema. Every table not named here is
 * exported — in a full export entirely, in a selective one by the relationship rules of
 * `selection.ts` — so a feature that adds a table gets export and import for free, and adds a line
 * here only when its table must not travel.
 */

export type ExportRule =
  /** Exported in full and selective exports (the default). */
  | 'always'
  /** Whole-server data: only in full exports. */
  | 'full-only'
  /** Never exported. */
  | 'never';

export interface TableRule {
  export: ExportRule;
  /** Written into the manifest's `excluded` list. */
  reason: string;
}

export const TABLE_RULES: Readonly<Record<string, TableRule>> = {
  schema_migrations: { export: 'never', reason: "the manifest's schemaVersion records it" },
  api_keys: { export: 'never', reason: 'credentials stay on the server that issued them' },
  jobs: { export: 'never', reason: 'background work in progress; the server re-creates what it needs' },
  persona_seeds: { export: 'full-only', reason: 'which shipped personas were loaded: a property of the whole data directory' },
  settings: { export: 'full-only', reason: 'server-wide runtime settings' },
  memory_meta: { export: 'never', reason: "bookkeeping of this server's full-text index, redone after an import" },
  memory_vector_changes: { export: 'never', reason: "bookkeeping of the connections' vector indexes; the imported vectors record their own" },
  memory_changes: { export: 'never', reason: "bookkeeping of the connections' memory caches; the imported memories record their own" },
  relationship_changes: { export: 'never', reason: "bookkeeping of the connections' relationship caches; the imported relationships record their own" },
};

export function ruleFor(table: string): TableRule {
  return TABLE_RULES[table] ?? { export: 'always', reason: '' };
}

/**
 * Relations that point at a row without belonging to it: a selection that includes the parent does
 * not include the rows pointing at it (exporting Aria does not export every session that last talked
 * to her). Written `table.column`.
 */
export const POINTER_RELATIONS: ReadonlySet<string> = new Set(['sessions.active_persona_id']);

/**
 * Columns naming the process that owes a row's work (a reply's pending after-reply writes: SQLite migration
 * 0048), meaningful only in the data directory where they were written: a copy (bundle, backup,
 * `migrate-store`) carries them empty, so the copy's pending work belongs to the first server that looks
 * (an owner that still runs elsewhere, or runs in another container, would otherwise keep it forever).
 * Written `table.column`.
 */
export const OWNER_COLUMNS: ReadonlySet<string> = new Set(['after_reply_pending.owner']);

/**
 * Tables keyed by a fixed name (a setting's key, a shipped persona's id): a renamed row would mean
 * nothing, so under the `rename` policy their conflicts are skipped instead.
 */
export const FIXED_KEY_TABLES: ReadonlySet<string> = new Set(['persona_seeds', 'settings']);

/**
 * Columns that date a row, in order of preference, for date-range exports. A table with none of them
 * is in a date-range export only for the rows other rows need.
 */
export const TIME_COLUMNS: readonly string[] = ['created_at', 'started_at', 'at', 'timestamp', 'occurred_at'];
