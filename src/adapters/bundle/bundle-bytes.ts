/** What every `StateArchive` adapter shares: bundles in memory (a temp file read back) and bundle sources given as bytes. */
import { mkdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ExportSummary, ImportOptions, Selection } from '../../ports/archive.js';
import type { Database } from '../sqlite/database.js';
import { exportBundle } from './exporter.js';

/** Runs a file export into a temporary folder and returns the bundle's bytes; nothing is left behind. */
export async function exportToBytes(exportTo: (file: string) => Promise<ExportSummary>): Promise<{ bundle: Buffer; summary: ExportSummary }> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'persona-mcp-save-'));
  try {
    const file = path.join(directory, 'state.tar.gz');
    const summary = await exportTo(file);
    return { bundle: await readFile(file), summary };
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** A bundle source as a stream. */
export function bundleStream(source: Readable | Uint8Array): Readable {
  return source instanceof Uint8Array ? Readable.from([source]) : source;
}

/** Makes the folder of a backup file (the first backup into a new folder). */
export function ensureFolderOf(file: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
}

/** Exports `db` (the store, or a snapshot of it) to `file` and summarises the bundle as the port reports it. */
export async function exportSummarised(db: Database, file: string, selection: Selection, appVersion: string): Promise<ExportSummary> {
  const { manifest, bytes } = await exportBundle(db, file, { selection, appVersion });
  return {
    file,
    bytes,
    schemaVersion: manifest.schemaVersion,
    createdAt: manifest.createdAt,
    tables: Object.fromEntries(manifest.tables.map((entry) => [entry.table, entry.rows])),
    excluded: manifest.excluded,
  };
}

/** The import's options with the archive's limits, when it has them. */
export function withImportLimits(options: ImportOptions, limits: { maxUnpackedBytes?: number | undefined; maxLineBytes?: number | undefined }): ImportOptions & { maxUnpackedBytes?: number; maxLineBytes?: number } {
  return {
    ...options,
    ...(limits.maxUnpackedBytes === undefined ? {} : { maxUnpackedBytes: limits.maxUnpackedBytes }),
    ...(limits.maxLineBytes === undefined ? {} : { maxLineBytes: limits.maxLineBytes }),
  };
}
