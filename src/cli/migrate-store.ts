/**
 * `persona-mcp migrate-store`: copies a SQLite data directory's store into PostgreSQL (docs/operations.md).
 * Every table is copied with its ids in one PostgreSQL transaction; the sequences move past the copied
 * ids. The SQLite file is migrated to this build's schema first and is left as it was otherwise. The
 * media files of the data directory are copied into PostgreSQL too (`media_blobs`), so every node serves them.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { DirectoryMediaBlobs } from '../adapters/media/directory-blobs.js';
import { PostgresDatabase, redactUrl } from '../adapters/postgres/database.js';
import { PostgresMediaBlobs } from '../adapters/postgres/pg-media-blobs.js';
import { copySqliteToPostgres } from '../adapters/postgres/table-copy.js';
import { runningServer } from '../adapters/sqlite/backup.js';
import { openDatabase } from '../adapters/sqlite/database.js';
import { DATABASE_FILE_NAME, MEDIA_DIRECTORY } from '../config/paths.js';
import { AppError } from '../domain/errors.js';
import { addConfigFlags, configFromFlags, type ConfigFlagValues } from './config-flags.js';

export interface MigrateStoreOptions {
  dataDir: string;
  url: string;
  schema: string;
  /** Replace what the PostgreSQL schema holds already (otherwise a non-empty target is refused). */
  replace: boolean;
}

export async function migrateStore(options: MigrateStoreOptions): Promise<{ tables: Record<string, number>; skipped: string[] }> {
  const file = path.join(options.dataDir, DATABASE_FILE_NAME);
  if (!existsSync(file)) throw new AppError('storage_error', `there is no SQLite store at ${file}; check --data-dir`);
  const running = runningServer(options.dataDir);
  if (running !== null) {
    throw new AppError('conflict', `a server (pid ${running.pid}) uses ${options.dataDir}; stop it first, so that nothing is written during the copy`);
  }
  const source = openDatabase(file);
  try {
    const target = await PostgresDatabase.open(options.url, { schema: options.schema, poolSize: 2 });
    try {
      const held = (await target.one<{ n: number }>('SELECT (SELECT count(*) FROM personas) + (SELECT count(*) FROM messages) AS n'))!.n;
      if (held > 0 && !options.replace) {
        throw new AppError(
          'conflict',
          `PostgreSQL at ${redactUrl(options.url)} (schema "${options.schema}") holds personas or messages already; pass --replace to overwrite them, or use another schema (--schema)`,
        );
      }
      const report = await copySqliteToPostgres(source, target);
      report.tables['media_blobs'] = await copyMediaFiles(path.join(options.dataDir, MEDIA_DIRECTORY), new PostgresMediaBlobs(target));
      return report;
    } finally {
      await target.close();
    }
  } finally {
    source.close();
  }
}

/** The data directory's media files (attachments, avatars, scene pictures, thumbnails), so every node serves them. */
async function copyMediaFiles(directory: string, blobs: PostgresMediaBlobs): Promise<number> {
  const files = new DirectoryMediaBlobs(directory);
  const names = existsSync(directory) ? readdirSync(directory).filter((name) => MEDIA_FILE_NAME.test(name)) : [];
  for (const name of names) {
    const data = await files.read(name);
    if (data !== null) await blobs.write(name, data);
  }
  return names.length;
}

/** `<sha256>` or `<sha256>.thumb.webp` (not the temporary files of an interrupted write). */
const MEDIA_FILE_NAME = /^[0-9a-f]{64}(\.thumb\.webp)?$/;

export function registerMigrateStoreCommand(program: Command): void {
  addConfigFlags(
    program
      .command('migrate-store')
      .description('copy the SQLite store of a data directory into PostgreSQL (stop the server first)')
      .option('--to <url>', 'postgres:// URL (default: PERSONA_MCP_DATABASE_URL / database.url)')
      .option('--schema <name>', 'PostgreSQL schema (default: database.schema, public)')
      .option('--replace', 'overwrite what the PostgreSQL schema already holds'),
    { listens: false },
  ).action(async (options: ConfigFlagValues & { to?: string; schema?: string; replace?: boolean }) => {
    const config = configFromFlags(options);
    const url = options.to ?? config.database.url;
    if (url === undefined || !/^postgres(ql)?:\/\//i.test(url)) {
      throw new AppError('storage_error', 'name the PostgreSQL database: --to postgres://user:password@host:5432/db (or set PERSONA_MCP_DATABASE_URL)');
    }
    const report = await migrateStore({ dataDir: config.dataDir, url, schema: options.schema ?? config.database.schema, replace: options.replace === true });
    const rows = Object.values(report.tables).reduce((sum, n) => sum + n, 0);
    process.stdout.write(`copied ${rows} rows from ${path.join(config.dataDir, DATABASE_FILE_NAME)} into ${redactUrl(url)}\n`);
    for (const [table, n] of Object.entries(report.tables)) if (n > 0) process.stdout.write(`  ${table}: ${n}\n`);
    for (const note of report.skipped) process.stdout.write(`  not copied: ${note}\n`);
  });
}
