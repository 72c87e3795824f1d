/**
 * Opens the SQLite file the store lives in, with the settings persona-mcp relies on, and migrates it.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { AppError } from '../../domain/errors.js';
import { runMigrations } from './migrations.js';
import { translateSqliteError } from './errors.js';

export type Database = BetterSqlite3.Database;

/** How long a statement waits for another process's lock before failing with SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5_000;

/**
 * Opens (creating it and its directory when missing) and migrates the database at `path`;
 * `:memory:` gives a private in-memory database for tests.
 *
 * - WAL: readers never block the writer, and a crash loses at most the last transactions, never the file.
 * - `synchronous=NORMAL`: with WAL this is durable across application crashes and only risks the last
 *   commits on power loss, at a fraction of FULL's fsync cost per chat turn.
 * - `foreign_keys=ON`: SQLite leaves them off by default; the schema's cascades depend on them.
 * - `cache_size` 64 MiB (SQLite's default is 2 MiB): a memory search at 100k memories reads FTS5
 *   doclists, column sizes and memory rows all over a 500 MB file; with 2 MiB most of those pages came
 *   from the OS one system call each (full-text stage CPU p50 2.4 → 1.7 ms, p99 11 → 6;
 *   docs/memory.md). Pages are only cached as they are read, so a small database never uses it all.
 *
 * Throws a `storage_error` AppError when the file cannot be opened, is locked, or has a newer schema.
 */
export function openDatabase(path: string): Database {
  const isMemory = path === ':memory:' || path === '';
  if (!isMemory) createParentDirectory(path);
  let db: Database | undefined;
  try {
    // The busy timeout comes first so that switching to WAL, which needs a lock, waits for it too.
    db = new BetterSqlite3(path, { timeout: BUSY_TIMEOUT_MS });
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('cache_size = -65536');
    runMigrations(db);
    return db;
  } catch (error) {
    db?.close();
    throw translateSqliteError(error, path);
  }
}

function createParentDirectory(path: string): void {
  const dir = dirname(resolve(path));
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new AppError(
      'storage_error',
      `cannot create the data directory ${dir} (${reason}); create it or choose another --data-dir`,
      {
        detail: error,
      },
    );
  }
}
