/**
 * Backup and restore of the whole database file.
 *
 * Backup uses SQLite's online backup API (better-sqlite3 `db.backup`) from its own connection, so the
 * server keeps serving: all pages are copied in a single step, i.e. from one read snapshot, which is
 * consistent however many writes other connections make meanwhile (a step-wise copy would restart on
 * every foreign write and might never finish under load). The copy is written beside the target and
 * renamed into place only once it passed `quick_check`, so a failed backup never leaves a half file.
 *
 * Restore replaces the data directory's database with a backup. It refuses while a server uses the
 * directory (see `markServerRunning`): swapping the file under an open connection corrupts both.
 */
import { existsSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { AppError } from '../../domain/errors.js';
import { BundleError } from '../bundle/errors.js';
import { OWNER_COLUMNS } from '../bundle/table-rules.js';
import { BUSY_TIMEOUT_MS, openDatabase, type Database } from './database.js';
import { currentSchemaVersion, MIGRATIONS } from './migrations.js';

/** Pages per backup step: all of them, so the copy comes from one snapshot. */
const ALL_PAGES = 0x7fffffff;
/** Written by a running server into its data directory; restore refuses while it names a live process. */
export const SERVER_MARKER_FILE = 'persona-mcp.server.json';

export interface BackupResult {
  file: string;
  bytes: number;
  schemaVersion: number;
}

/** Copies the database behind `source` to `file` (replacing it). */
export async function backupDatabase(source: Database, file: string): Promise<BackupResult> {
  const partial = `${file}.partial`;
  rmSync(partial, { force: true });
  try {
    await source.backup(partial, { progress: () => ALL_PAGES });
    const check = new BetterSqlite3(partial, { fileMustExist: true });
    let schemaVersion: number;
    try {
      const result = check.pragma('quick_check', { simple: true });
      if (result !== 'ok') throw new AppError('storage_error', `the backup copy failed its integrity check (${String(result)})`);
      // A single file is easier to move around than a WAL database: the copy is switched to DELETE mode.
      check.pragma('journal_mode = DELETE');
      forgetOwners(check);
      schemaVersion = check.prepare<[], number>('SELECT max(version) FROM schema_migrations').pluck().get() ?? 0;
    } finally {
      check.close();
    }
    renameSync(partial, file);
    return { file, bytes: statSync(file).size, schemaVersion };
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  }
}

/** Empties the copy's columns naming the process that owes a row's work (`OWNER_COLUMNS`): whoever opens the copy does that work. */
function forgetOwners(copy: BetterSqlite3.Database): void {
  for (const owned of OWNER_COLUMNS) {
    const [table, column] = owned.split('.') as [string, string];
    const hasColumn = copy.prepare<[string, string], 1>('SELECT 1 FROM pragma_table_info(?) WHERE name = ?').pluck().get(table, column) !== undefined;
    if (hasColumn) copy.prepare(`UPDATE "${table}" SET "${column}" = NULL`).run();
  }
}

/** Opens the database at `databaseFile` for a backup, without migrating it (a newer server may own it). */
export function openForBackup(databaseFile: string): Database {
  if (!existsSync(databaseFile)) {
    throw new AppError('storage_error', `there is no database at ${databaseFile}; check --data-dir`);
  }
  const db = new BetterSqlite3(databaseFile, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  return db;
}

export interface RestoreResult {
  file: string;
  /** Where the replaced database was moved (null when there was none). */
  previous: string | null;
  schemaVersion: number;
  /** Migrations applied to bring the backup up to this build's schema. */
  upgraded: number[];
}

/**
 * Replaces the database `databaseFile` with the backup `backupFile`, after checking the backup
 * (a SQLite file that passes `quick_check`, made by this or an older persona-mcp). The replaced
 * database is kept beside it as `<name>.before-restore-<time>`. Refuses while a server runs.
 */
export async function restoreDatabase(backupFile: string, databaseFile: string, now: Date = new Date()): Promise<RestoreResult> {
  const dataDir = path.dirname(databaseFile);
  const running = runningServer(dataDir);
  if (running !== null) {
    throw new AppError('conflict', `a persona-mcp server (pid ${running.pid}) is using ${dataDir}; stop it before restoring (a backup can be taken while it runs)`, {
      data: { pid: running.pid },
    });
  }
  const schemaVersion = checkBackupFile(backupFile);
  const incoming = `${databaseFile}.restoring`;
  rmSync(incoming, { force: true });
  const source = new BetterSqlite3(backupFile, { readonly: true, fileMustExist: true });
  try {
    await source.backup(incoming, { progress: () => ALL_PAGES });
  } finally {
    source.close();
  }

  let previous: string | null = null;
  if (existsSync(databaseFile)) {
    // Fold the WAL into the file first, so the kept copy is complete on its own.
    const old = new BetterSqlite3(databaseFile, { fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    try {
      old.pragma('wal_checkpoint(TRUNCATE)');
      old.pragma('journal_mode = DELETE');
    } finally {
      old.close();
    }
    previous = `${databaseFile}.before-restore-${now.toISOString().replace(/[:.]/g, '-')}`;
    renameSync(databaseFile, previous);
  }
  for (const suffix of ['-wal', '-shm']) rmSync(`${databaseFile}${suffix}`, { force: true });
  renameSync(incoming, databaseFile);
  // Opening migrates a backup made by an older persona-mcp, and sets WAL mode again.
  const before = new Set(appliedVersions(databaseFile));
  openDatabase(databaseFile).close();
  const upgraded = appliedVersions(databaseFile).filter((version) => !before.has(version));
  return { file: databaseFile, previous, schemaVersion, upgraded };
}

function appliedVersions(file: string): number[] {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare<[], number>('SELECT version FROM schema_migrations ORDER BY version').pluck().all();
  } finally {
    db.close();
  }
}

/** Returns the backup's schema version; throws a `BundleError` when it is not a usable backup. */
export function checkBackupFile(file: string): number {
  if (!existsSync(file)) throw new BundleError('corrupt', `the backup ${file} does not exist`);
  let db: Database | undefined;
  try {
    db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
    const result = db.pragma('quick_check', { simple: true });
    if (result !== 'ok') throw new BundleError('corrupt', `the backup ${file} is damaged (${String(result)})`);
    const hasMigrations = db.prepare("SELECT 1 FROM sqlite_schema WHERE name = 'schema_migrations'").get() !== undefined;
    if (!hasMigrations) throw new BundleError('corrupt', `${file} is a SQLite database, but not a persona-mcp one`);
    const versions = db.prepare<[], number>('SELECT version FROM schema_migrations').pluck().all();
    const known = new Set(MIGRATIONS.map((migration) => migration.version));
    const unknown = versions.filter((version) => !known.has(version));
    if (unknown.length > 0) {
      throw new BundleError('newer_version', `the backup has schema version ${Math.max(...versions)}, but this persona-mcp knows up to ${currentSchemaVersion()}; upgrade persona-mcp`);
    }
    return Math.max(0, ...versions);
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new BundleError('corrupt', `${file} is not a usable backup: ${(error as Error).message}`);
  } finally {
    db?.close();
  }
}

/**
 * Records that a server uses `dataDir` (its pid); returns the function that removes the record.
 * A record left by a crashed server names a dead pid and is ignored.
 */
export function markServerRunning(dataDir: string, details: Record<string, unknown> = {}): () => void {
  const file = path.join(dataDir, SERVER_MARKER_FILE);
  const token = `${process.pid}-${Date.now()}-${Math.random()}`;
  writeFileSync(file, `${JSON.stringify({ pid: process.pid, token, startedAt: new Date().toISOString(), ...details })}\n`);
  return () => {
    try {
      const current = JSON.parse(readFileSync(file, 'utf8')) as { token?: string };
      if (current.token === token) unlinkSync(file);
    } catch {
      // Already gone, or replaced by another server: nothing of ours to remove.
    }
  };
}

/** The server using `dataDir`, when its marker names a live process. */
export function runningServer(dataDir: string): { pid: number } | null {
  const file = path.join(dataDir, SERVER_MARKER_FILE);
  let pid: number;
  try {
    pid = Number((JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown }).pid);
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return { pid };
  } catch (error) {
    // EPERM: the process exists but belongs to someone else — still running.
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? { pid } : null;
  }
}
