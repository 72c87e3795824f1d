/** What every `StateArchive` adapter shares: bundles in memory (a temp file read back) and bundle sources given as bytes. */
import { mkdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ExportSummary } from '../../ports/archive.js';

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
