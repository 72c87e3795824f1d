/**
 * The `StateArchive` port on the SQLite database file. Each operation opens its own connection (WAL
 * lets it read a snapshot or write while the server's connection carries on) and closes it after.
 */
import type { Readable } from 'node:stream';
import type { ExportSummary, ImportOptions, ImportReport, Selection, StateArchive, BackupSummary } from '../../ports/archive.js';
import { backupDatabase } from '../sqlite/backup.js';
import { openDatabase, type Database } from '../sqlite/database.js';
import { bundleStream, ensureFolderOf, exportToBytes } from './bundle-bytes.js';
import { exportBundle } from './exporter.js';
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

  async exportBundle(file: string, selection: Selection): Promise<ExportSummary> {
    return this.withDatabase(async (db) => {
      const { manifest, bytes } = await exportBundle(db, file, { selection, appVersion: this.appVersion });
      return {
        file,
        bytes,
        schemaVersion: manifest.schemaVersion,
        createdAt: manifest.createdAt,
        tables: Object.fromEntries(manifest.tables.map((entry) => [entry.table, entry.rows])),
        excluded: manifest.excluded,
      };
    });
  }

  exportBundleBytes(selection: Selection): Promise<{ bundle: Buffer; summary: ExportSummary }> {
    return exportToBytes((file) => this.exportBundle(file, selection));
  }

  importBundle(source: Readable | Uint8Array, options: ImportOptions): Promise<ImportReport> {
    const stream = bundleStream(source);
    return this.withDatabase((db) =>
      importBundle(db, stream, {
        ...options,
        ...(this.maxUnpackedBytes === undefined ? {} : { maxUnpackedBytes: this.maxUnpackedBytes }),
        ...(this.maxLineBytes === undefined ? {} : { maxLineBytes: this.maxLineBytes }),
      }),
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
