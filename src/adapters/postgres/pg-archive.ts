/**
 * The `StateArchive` port on PostgreSQL. Bundles and backups are the same files as with SQLite: the
 * store is copied, from one snapshot, into a temporary SQLite database, and the SQLite exporter, importer
 * and backup run on that. An import runs inside one PostgreSQL transaction holding EXCLUSIVE locks on
 * every table: the snapshot, the merge (with its conflict rules) and the write-back see no concurrent
 * change, other nodes keep reading, and their writes wait for the commit instead of being overwritten.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { BackupSummary, ExportSummary, ImportOptions, ImportReport, Selection, StateArchive } from '../../ports/archive.js';
import { bundleStream, ensureFolderOf, exportSummarised, exportToBytes, withImportLimits } from '../bundle/bundle-bytes.js';
import { importBundle } from '../bundle/importer.js';
import { backupDatabase } from '../sqlite/backup.js';
import { openDatabase, type Database } from '../sqlite/database.js';
import type { PostgresDatabase } from './database.js';
import { readNodeClaims, writeNodeClaims } from './node-claims.js';
import { copyPostgresToSqlite, lockAll, readRows, replaceRows } from './table-copy.js';

export class PostgresStateArchive implements StateArchive {
  constructor(
    private readonly db: PostgresDatabase,
    private readonly appVersion: string,
    private readonly maxUnpackedBytes?: number,
    private readonly maxLineBytes?: number,
  ) {}

  exportBundle(file: string, selection: Selection): Promise<ExportSummary> {
    return this.withSnapshot((snapshot) => exportSummarised(snapshot, file, selection, this.appVersion));
  }

  exportBundleBytes(selection: Selection): Promise<{ bundle: Buffer; summary: ExportSummary }> {
    return exportToBytes((file) => this.exportBundle(file, selection));
  }

  importBundle(bundle: Readable | Uint8Array, options: ImportOptions): Promise<ImportReport> {
    const source = bundleStream(bundle);
    return this.db.transaction(async (tx) => {
      await lockAll(tx, this.db.schema);
      return this.withScratch(async (scratch) => {
        const claims = await readNodeClaims(tx);
        await readRows(tx, this.db.schema, scratch);
        const report = await importBundle(scratch, source, withImportLimits(options, { maxUnpackedBytes: this.maxUnpackedBytes, maxLineBytes: this.maxLineBytes }));
        if (!options.dryRun) {
          await replaceRows(tx, this.db.schema, scratch);
          await writeNodeClaims(tx, claims);
        }
        return report;
      });
    });
  }

  /** A SQLite file holding the whole store (restorable with `persona-mcp migrate-store`, or as a SQLite data dir). */
  async backup(file: string): Promise<BackupSummary> {
    ensureFolderOf(file);
    return this.withSnapshot(async (snapshot) => {
      const result = await backupDatabase(snapshot, file);
      return { file: result.file, bytes: statSync(result.file).size, schemaVersion: result.schemaVersion, createdAt: new Date().toISOString() };
    });
  }

  private async withSnapshot<T>(work: (snapshot: Database) => Promise<T>): Promise<T> {
    return this.withScratch(async (scratch) => {
      await copyPostgresToSqlite(this.db, scratch);
      return work(scratch);
    });
  }

  private async withScratch<T>(work: (scratch: Database) => Promise<T>): Promise<T> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-pg-snapshot-'));
    const scratch = openDatabase(path.join(dir, 'snapshot.db'));
    try {
      return await work(scratch);
    } finally {
      scratch.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
