/**
 * The `StateArchive` port on the SQLite database file. Each operation opens its own connection (WAL
 * lets it read a snapshot or write while the server's connection carries on) and closes it after.
 */
import type { Readable } from 'node:stream';
import type { ExportSummary, ImportOptions, ImportReport, Selection, StateArchive, BackupSummary } from '../../ports/archive.js';
import { backupDatabase } from '../sqlite/backup.js';
import { openDatabase, type Database } from '../sqlite/database.js';
import { bundleStream, ensureFolderOf, exportSummarised, exportToBytes, withImportLimits } from './bundle-bytes.js';
import { importBundle } from './importer.js';

export class SqliteStateArchive implements StateArchive {
  /**
   * @param databaseFile the store's file; created and migrated when missing (import into a new data dir)
   * @param appVersion written into manifests
   * @param maxUnpackedBytes refuse bundles that unpack to more than this. Defaults to 8 GiB.
   * @param maxLineBytes refuse bundles with a row (line) longer than this. Defaults to 64 MiB.
   */
  constructor(
    private readonly databaseFile: string,
    private readonly appVersion: string,
    private readonly maxUnpackedBytes?: number,
    private readonly maxLineBytes?: number,
  ) {}

  exportBundle(file: string, selection: Selection): Promise<ExportSummary> {
    return this.withDatabase((db) => exportSummarised(db, file, selection, this.appVersion));
  }

  exportBundleBytes(selection: Selection): Promise<{ bundle: Buffer; summary: ExportSummary }> {
    return exportToBytes((file) => this.exportBundle(file, selection));
  }

  importBundle(source: Readable | Uint8Array, options: ImportOptions): Promise<ImportReport> {
    const stream = bundleStream(source);
    return this.withDatabase((db) =>
      importBundle(db, stream, withImportLimits(options, { maxUnpackedBytes: this.maxUnpackedBytes, maxLineBytes: this.maxLineBytes })),
    );
  }

  backup(file: string): Promise<BackupSummary> {
    ensureFolderOf(file);
    return this.withDatabase(async (db) => {
      const result = await backupDatabase(db, file);
      return { file: result.file, bytes: result.bytes, schemaVersion: result.schemaVersion, createdAt: new Date().toISOString() };
    });
  }

  private async withDatabase<T>(work: (db: Database) => Promise<T>): Promise<T> {
    const db = openDatabase(this.databaseFile);
    try {
      return await work(db);
    } finally {
      db.close();
    }
  }
}
