/**
 * The port the state use cases need from storage: export the database to a bundle file, import one,
 * and take a consistent backup copy. `src/adapters/bundle` implements it for SQLite.
 */
import type { Readable } from 'node:stream';

/** What an export contains: everything, some personas, some sessions, one user's sessions, or a time window. */
export type Selection =
  | { kind: 'all' }
  | { kind: 'personas'; personaIds: string[] }
  | { kind: 'sessions'; sessionIds: string[] }
  | { kind: 'user'; userId: string }
  /** `from` inclusive, `to` exclusive, milliseconds since the epoch; null leaves that side open. */
  | { kind: 'range'; from: number | null; to: number | null };

/** What to do with an imported row whose key is taken by a different stored row. */
export type ConflictPolicy = 'skip' | 'replace' | 'rename';

export const CONFLICT_POLICIES: readonly ConflictPolicy[] = ['skip', 'replace', 'rename'];

export interface ExportSummary {
  file: string;
  bytes: number;
  schemaVersion: number;
  createdAt: string;
  /** Rows per exported table. */
  tables: Record<string, number>;
  excluded: Array<{ table: string; reason: string }>;
}

export interface TableImportReport {
  table: string;
  /** Rows of this table in the bundle (after migrating it to this build's schema). */
  rows: number;
  inserted: number;
  unchanged: number;
  replaced: number;
  renamed: number;
  skipped: number;
  /** New rows that got a new integer id because theirs was taken. */
  renumbered: number;
}

export interface ConflictNote {
  table: string;
  key: string;
  action: 'skipped' | 'replaced' | 'renamed';
  /** The new key of a renamed row. */
  to?: string;
  reason: string;
}

export interface ImportReport {
  dryRun: boolean;
  onConflict: ConflictPolicy;
  bundle: { formatVersion: number; appVersion: string; schemaVersion: number; createdAt: string; selection: Selection };
  /** The bundle's schema version when it was migrated to this build's, else null. */
  upgradedFrom: number | null;
  tables: TableImportReport[];
  /** The first conflicts (a bounded list); `conflictCount` counts them all. */
  conflicts: ConflictNote[];
  conflictCount: number;
  /** Personas added, replaced or renamed, or whose state changed (callers refresh their caches). */
  changedPersonaIds: string[];
}

export interface ImportOptions {
  dryRun: boolean;
  onConflict: ConflictPolicy;
}

export interface BackupSummary {
  file: string;
  bytes: number;
  schemaVersion: number;
  createdAt: string;
}

export interface StateArchive {
  /** Writes a bundle of `selection` to `file` from a consistent snapshot. */
  exportBundle(file: string, selection: Selection): Promise<ExportSummary>;
  /** The same bundle in memory (`state.save` returns it in its result); no file is left behind. */
  exportBundleBytes(selection: Selection): Promise<{ bundle: Buffer; summary: ExportSummary }>;
  /** Verifies the whole bundle, then applies it in one transaction (or rolls back for a dry run). */
  importBundle(source: Readable | Uint8Array, options: ImportOptions): Promise<ImportReport>;
  /** Copies the live database to `file` (SQLite online backup), consistent while writes go on; creates its folder. */
  backup(file: string): Promise<BackupSummary>;
}

/** A backup file in the backup folder. */
export interface BackupEntry {
  /** The file name alone (`persona-mcp-20261125T114500Z.db`). */
  name: string;
  /** Its full path. */
  file: string;
  bytes: number;
}

/** The folder backups are kept in: what the backup schedule lists and prunes. */
export interface BackupFolder {
  /** The files in `directory`; none when it does not exist yet. */
  list(directory: string): Promise<BackupEntry[]>;
  /** The path of a file named `name` in `directory`. */
  pathOf(directory: string, name: string): string;
  remove(file: string): Promise<void>;
}
