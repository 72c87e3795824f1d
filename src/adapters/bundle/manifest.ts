/**
 * The bundle's manifest (`manifest.json`, the first entry of the archive): what made the bundle, at
 * which schema version, what was selected, and for every table file its SHA-256, size and row count.
 * Import trusts nothing in the archive before this has parsed and every checksum has matched.
 */
import { z } from 'zod';
import type { Selection } from '../../ports/archive.js';

/** Written into every manifest; anything else is not a persona-mcp bundle. */
export const BUNDLE_FORMAT = 'persona-mcp-bundle';
/**
 * Version of the container layout (manifest fields, file naming, value encoding). The database schema
 * has its own version (`schemaVersion`); a change of table columns does not change this number.
 */
export const BUNDLE_FORMAT_VERSION = 1;
export const MANIFEST_NAME = 'manifest.json';
/** Table `t` is stored as `tables/t.jsonl`. */
export const TABLE_FILE_PATTERN = /^tables\/([A-Za-z_][A-Za-z0-9_]*)\.jsonl$/;

export function tableFileName(table: string): string {
  return `tables/${table}.jsonl`;
}

export const selectionSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('all') }),
  z.object({ kind: z.literal('personas'), personaIds: z.array(z.string().min(1)).min(1) }),
  z.object({ kind: z.literal('sessions'), sessionIds: z.array(z.string().min(1)).min(1) }),
  z.object({ kind: z.literal('user'), userId: z.string().min(1) }),
  z.object({
    kind: z.literal('range'),
    /** Inclusive, milliseconds since the epoch. */
    from: z.number().int().nullable(),
    /** Exclusive, milliseconds since the epoch. */
    to: z.number().int().nullable(),
  }),
]);

// Compile-time check that the wire schema and the port's type describe the same thing.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const selectionMatchesPort: Equal<z.infer<typeof selectionSchema>, Selection> = true;
void selectionMatchesPort;
export type { Selection };

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lower-case hex SHA-256');

export const tableEntrySchema = z.object({
  table: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/),
  file: z.string(),
  sha256: sha256Hex,
  bytes: z.number().int().min(0),
  rows: z.number().int().min(0),
  /** Column names in table order, as they were at `schemaVersion`. */
  columns: z.array(z.string().min(1)).min(1),
});

export const manifestSchema = z.object({
  format: z.literal(BUNDLE_FORMAT),
  formatVersion: z.number().int().positive(),
  /** The persona-mcp version that wrote it (informational). */
  appVersion: z.string(),
  /** The database schema version the rows follow (the newest migration applied). */
  schemaVersion: z.number().int().positive(),
  /** Every migration applied to the exported database: import rebuilds exactly this schema first. */
  migrations: z.array(z.number().int().positive()).min(1),
  createdAt: z.string().datetime(),
  selection: selectionSchema,
  tables: z.array(tableEntrySchema),
  /** Tables left out, and why (rules in `table-rules.ts`). */
  excluded: z.array(z.object({ table: z.string(), reason: z.string() })),
  /** Nullable references to rows outside a selective export, set to null: table.column → count. */
  nulledReferences: z.record(z.string(), z.number().int()).default({}),
});

export type BundleManifest = z.infer<typeof manifestSchema>;
export type TableEntry = z.infer<typeof tableEntrySchema>;
