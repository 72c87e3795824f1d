/**
 * Opens the store the configuration names — SQLite in the data directory (the default), or PostgreSQL
 * when `database.url` (PERSONA_MCP_DATABASE_URL) is set — with every repository on it, for `app.ts`
 * and the command line. Everything above this file sees ports only.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { AppError } from '../domain/errors.js';
import type { Logger } from 'pino';
import { SqliteStateArchive } from '../adapters/bundle/sqlite-archive.js';
import { PostgresStateArchive } from '../adapters/postgres/pg-archive.js';
import { PostgresJobQueue } from '../adapters/postgres/pg-job-queue.js';
import { DirectoryMediaBlobs } from '../adapters/media/directory-blobs.js';
import { PostgresMediaBlobs } from '../adapters/postgres/pg-media-blobs.js';
import { PostgresMediaIndex } from '../adapters/postgres/pg-media-index.js';
import { PostgresMemoryStore } from '../adapters/postgres/pg-memory-store.js';
import { PostgresMoodHistory } from '../adapters/postgres/pg-mood-history.js';
import {
  PostgresApiKeyStore,
  PostgresCardStore,
  PostgresDatasetSource,
  PostgresPromptTemplateStore,
  PostgresSettingsStore,
} from '../adapters/postgres/pg-small-stores.js';
import { PostgresSocialStore } from '../adapters/postgres/pg-social-store.js';
import { PostgresStore } from '../adapters/postgres/pg-store.js';
import { pgWriteBatch } from '../adapters/postgres/write-batch.js';
import { SqliteApiKeyStore } from '../adapters/sqlite/api-key-store.js';
import { SqliteDatasetSource } from '../adapters/sqlite/dataset-source.js';
import { SqliteJobQueue } from '../adapters/sqlite/job-queue.js';
import { SqliteMediaIndex } from '../adapters/sqlite/media-index.js';
import { loadWordnetThesaurus } from '../adapters/embedders/wordnet-thesaurus.js';
import type { Thesaurus } from '../domain/memory/expansion.js';
import { SqliteMemoryStore } from '../adapters/sqlite/memory-store.js';
import { SqliteMoodHistory } from '../adapters/sqlite/mood-history.js';
import { SqlitePromptTemplateStore } from '../adapters/sqlite/prompt-template-store.js';
import { SqliteCardStore, SqliteSettingsStore } from '../adapters/sqlite/settings-store.js';
import { SqliteSocialStore } from '../adapters/sqlite/social-store.js';
import { writeBatch } from '../adapters/sqlite/write-batch.js';
import { ConnectionFollow } from '../adapters/sqlite/connection-follow.js';
import { SqliteStore } from '../adapters/sqlite/sqlite-store.js';
import { DEFAULT_MAX_WAL_PAGES } from '../adapters/sqlite/wal-checkpointer.js';
import { DATABASE_FILE_NAME, MEDIA_DIRECTORY } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import type { ApiKeyStore } from '../ports/api-keys.js';
import type { StateArchive } from '../ports/archive.js';
import type { CardRepository } from '../ports/cards.js';
import type { Clock } from '../ports/clock.js';
import type { DatasetSource } from '../ports/dataset-source.js';
import type { JobQueue } from '../ports/jobs.js';
import type { MediaBlobs, MediaIndex } from '../ports/media.js';
import type { MemoryStore } from '../ports/memory.js';
import type { MoodHistory } from '../ports/mood-history.js';
import type { PromptTemplateStore } from '../ports/prompt-templates.js';
import type { SettingsRepository } from '../ports/settings.js';
import type { SocialStore } from '../ports/social-store.js';
import type { Store } from '../ports/store.js';

export interface Storage {
  kind: 'sqlite' | 'postgres';
  /** The SQLite file, or the PostgreSQL URL with its password hidden (logs, status). */
  location: string;
  store: Store;
  social: SocialStore;
  memories: MemoryStore;
  jobs: JobQueue;
  apiKeys: ApiKeyStore;
  settings: SettingsRepository;
  cards: CardRepository;
  templates: PromptTemplateStore;
  datasets: DatasetSource;
  archive: StateArchive;
  /** Attachments, scenes and what each stored media file is. */
  media: MediaIndex;
  /** The bytes of stored media: the data directory's `media/` with SQLite, PostgreSQL (shared by the nodes) with PostgreSQL. */
  mediaBlobs: MediaBlobs;
  /** Samples of each persona's mood and social energy over time. */
  moodHistory: MoodHistory;
  /** Closes the connection (pool); the store's `close` does the same. */
  close(): Promise<void>;
  /**
   * SQLite: another connection of this process committed (the jobs thread): this connection's caches
   * follow it soon, off the next read's path (`ConnectionFollow.checkSoon`).
   */
  followCommitsSoon?(): void;
  /** SQLite: `listener` runs after each of this connection's own write transactions that changed a followed table commits. */
  onCommit?(listener: () => void): void;
}

export interface StorageOptions {
  clock: Clock;
  logger: Logger;
  appVersion: string;
  /**
   * SQLite: whether this connection's own thread checkpoints the WAL (default true). The jobs thread's
   * connection does not: one checkpointer per file is enough, and the main thread's is already running.
   */
  checkpointsWal?: boolean;
}

export function usesPostgres(config: Config): boolean {
  return config.database.url !== undefined;
}

export async function openStorage(config: Config, options: StorageOptions): Promise<Storage> {
  const jobOptions = { clock: options.clock, logger: options.logger };
  if (config.database.url !== undefined) {
    // The data directory still holds backups and the running-server marker.
    try {
      mkdirSync(config.dataDir, { recursive: true });
    } catch (error) {
      throw new AppError('storage_error', `cannot create the data directory ${config.dataDir} (${(error as Error).message}); create it or choose another --data-dir`);
    }
    const store = await PostgresStore.open(config.database.url, { poolSize: config.database.poolSize, schema: config.database.schema });
    const db = store.database;
    pgWriteBatch(db).setWindow(config.database.writeBatchMs);
    return {
      kind: 'postgres',
      location: db.label,
      store,
      social: new PostgresSocialStore(db),
      memories: new PostgresMemoryStore(db, { thesaurus: wordnetThesaurus(options.logger) }),
      jobs: new PostgresJobQueue(db, jobOptions),
      apiKeys: new PostgresApiKeyStore(db),
      settings: new PostgresSettingsStore(db),
      cards: new PostgresCardStore(db),
      templates: new PostgresPromptTemplateStore(db),
      datasets: new PostgresDatasetSource(db),
      archive: new PostgresStateArchive(db, options.appVersion, config.maxBundleBytes, config.maxBundleLineBytes),
      media: new PostgresMediaIndex(db),
      // Files this node stored before its store moved to PostgreSQL are copied in when first read.
      mediaBlobs: new PostgresMediaBlobs(db, { legacyDirectory: path.join(config.dataDir, MEDIA_DIRECTORY), now: () => options.clock.now() }),
      moodHistory: new PostgresMoodHistory(db),
      close: () => store.close(),
    };
  }
  const databasePath = path.join(config.dataDir, DATABASE_FILE_NAME);
  const store = SqliteStore.open(
    databasePath,
    options.checkpointsWal === false ? {} : { checkpoints: { onError: (error) => options.logger.warn({ err: error }, 'WAL checkpoint failed; the next one tries again') } },
  );
  // Without a checkpointer of its own, this connection checkpoints only at the bound the main one has.
  if (options.checkpointsWal === false) store.database.pragma(`wal_autocheckpoint = ${DEFAULT_MAX_WAL_PAGES}`);
  const db = store.database;
  writeBatch(db).setWindow(config.database.writeBatchMs);
  return {
    kind: 'sqlite',
    location: databasePath,
    store,
    social: new SqliteSocialStore(db, databasePath),
    memories: new SqliteMemoryStore(db, databasePath, { thesaurus: wordnetThesaurus(options.logger) }),
    jobs: new SqliteJobQueue(db, { ...jobOptions, claimWrites: config.jobs.claimWrites }),
    apiKeys: new SqliteApiKeyStore(db, databasePath),
    settings: new SqliteSettingsStore(db, databasePath),
    cards: new SqliteCardStore(db, databasePath),
    templates: new SqlitePromptTemplateStore(db, databasePath),
    datasets: new SqliteDatasetSource(db),
    archive: new SqliteStateArchive(databasePath, options.appVersion, config.maxBundleBytes, config.maxBundleLineBytes),
    media: new SqliteMediaIndex(db, databasePath),
    mediaBlobs: new DirectoryMediaBlobs(path.join(config.dataDir, MEDIA_DIRECTORY)),
    moodHistory: new SqliteMoodHistory(db, databasePath),
    close: () => store.close(),
    followCommitsSoon: () => ConnectionFollow.of(db).checkSoon(),
    onCommit: (listener) => ConnectionFollow.of(db).onOwnCommit(listener),
  };
}

/** Offline paraphrase recall (docs/memory.md); without the built table memory works by words alone, and says so. */
function wordnetThesaurus(logger: Logger): Thesaurus {
  return loadWordnetThesaurus((file, error) =>
    logger.warn({ file, err: error }, 'no WordNet table (run `npm run build`); memory search works without paraphrase recall'),
  );
}
