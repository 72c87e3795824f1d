/**
 * The PostgreSQL connection pool every PostgreSQL adapter shares (`pg`), its numeric type parsing, the
 * transaction helper and the migrations run at start-up.
 *
 * - BIGINT and NUMERIC come back as JavaScript numbers: every id, count and time in the schema fits in
 *   2^53 (ids are sequences, times are milliseconds since the epoch), and the ports speak numbers.
 * - `schema` puts every table in one PostgreSQL schema (search_path), so several deployments or test
 *   runs can share one database.
 * - A transaction is one pooled client from BEGIN to COMMIT; nothing is held across a port call.
 */
import pg from 'pg';
import { AppError } from '../../domain/errors.js';
import { translatePgError } from './errors.js';
import { runPgMigrations } from './migrations.js';

export type Queryable = Pick<pg.PoolClient, 'query'>;

/** BIGINT (20) and NUMERIC (1700, what sum() of bigints gives) as numbers, the rest as pg parses them. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20 || oid === 1700) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

export interface PostgresOptions {
  /** Connections in the pool (per node). Defaults to 10. */
  poolSize?: number;
  /** The PostgreSQL schema holding the tables; created when missing. Defaults to `public`. */
  schema?: string;
  /** Runs the migrations at open (default true); tools that only read may skip them. */
  migrate?: boolean;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** `postgres://user:***@host:port/db`: the URL with its password hidden, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the configured PostgreSQL URL';
  }
}

export function isPostgresUrl(url: string | undefined | null): url is string {
  return typeof url === 'string' && /^postgres(ql)?:\/\//i.test(url);
}

export class PostgresDatabase {
  readonly pool: pg.Pool;
  /** Where the store lives, as people should read it (password hidden). */
  readonly label: string;
  readonly schema: string;
  /**
   * Whether the server offers pgvector (`pg_available_extensions`), found at open: reported by
   * `system.status` and `doctor`. Vectors are searched by each node's in-memory index either way.
   */
  pgvector: 'installed' | 'available' | 'absent' = 'absent';
  private closed = false;
  private shutDown: Promise<void> | null = null;
  /** What must finish before the pool ends (the write batch's last commit, the node presence's connection). */
  private readonly closing: Array<() => Promise<void>> = [];
  /** How to open a connection of its own, outside the pool (`newClient`). */
  private readonly clientConfig: pg.ClientConfig;

  private constructor(url: string, options: PostgresOptions) {
    this.schema = options.schema ?? 'public';
    this.label = redactUrl(url);
    this.clientConfig = {
      connectionString: url,
      types,
      // Fail fast when the server is unreachable instead of queuing requests behind a dead connection.
      connectionTimeoutMillis: 10_000,
      application_name: 'persona-mcp',
      ...(this.schema === 'public' ? {} : { options: `-c search_path=${this.schema}` }),
    };
    this.pool = new pg.Pool({ ...this.clientConfig, max: options.poolSize ?? 10, idleTimeoutMillis: 30_000 });
    // An idle client that loses its server (a PostgreSQL restart) emits here; without a listener the
    // process would crash. The next query gets a fresh connection.
    this.pool.on('error', () => {});
  }

  /**
   * Connects, creates the schema when missing and migrates it. Throws a `storage_error` AppError that
   * says what to check when the server cannot be reached or refuses the credentials.
   */
  static async open(url: string, options: PostgresOptions = {}): Promise<PostgresDatabase> {
    if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
      throw new AppError('storage_error', `"${options.schema}" is not a usable PostgreSQL schema name (lower-case letters, digits and _)`);
    }
    const database = new PostgresDatabase(url, options);
    try {
      if (database.schema !== 'public') await database.pool.query(`CREATE SCHEMA IF NOT EXISTS ${database.schema}`);
      if (options.migrate !== false) await runPgMigrations(database);
      database.pgvector = await findPgvector(database.pool);
      return database;
    } catch (error) {
      await database.close();
      throw translatePgError(error, database.label);
    }
  }

  /** One statement on any pooled connection. */
  async query<R extends pg.QueryResultRow = Record<string, never>>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (error) {
      throw translatePgError(error, this.label);
    }
  }

  async rows<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    return (await this.query<R>(text, values)).rows;
  }

  async one<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R | null> {
    return (await this.query<R>(text, values)).rows[0] ?? null;
  }

  /**
   * Runs `work` in one transaction on one connection: COMMIT when it resolves, ROLLBACK when it throws.
   * READ COMMITTED; operations that read then write take an advisory lock (`lock`) on what they change.
   */
  async transaction<T>(work: (client: TransactionClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw translatePgError(error, this.label);
    }
    try {
      await client.query('BEGIN');
      const result = await work(new TransactionClient(client));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw translatePgError(error, this.label);
    } finally {
      client.release();
    }
  }

  /** A connection of its own, outside the pool, with the pool's settings (the caller connects and ends it). */
  newClient(): pg.Client {
    return new pg.Client(this.clientConfig);
  }

  /** Runs `hook` when the database closes, before its pool ends (latest registered first). */
  onClose(hook: () => Promise<void>): void {
    this.closing.unshift(hook);
  }

  close(): Promise<void> {
    this.shutDown ??= (async () => {
      for (const hook of this.closing) await hook().catch(() => undefined);
      this.closed = true;
      await this.pool.end();
    })();
    return this.shutDown;
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

async function findPgvector(pool: pg.Pool): Promise<'installed' | 'available' | 'absent'> {
  const row = (await pool.query<{ installed: string | null }>("SELECT installed_version AS installed FROM pg_available_extensions WHERE name = 'vector'")).rows[0];
  return row === undefined ? 'absent' : row.installed === null ? 'available' : 'installed';
}

/** A connection inside `PostgresDatabase.transaction`. */
export class TransactionClient {
  constructor(private readonly client: pg.PoolClient) {}

  async query<R extends pg.QueryResultRow = Record<string, never>>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    return this.client.query<R>(text, values);
  }

  async rows<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    return (await this.client.query<R>(text, values)).rows;
  }

  async one<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R | null> {
    return (await this.client.query<R>(text, values)).rows[0] ?? null;
  }

  /**
   * Serialises this transaction with every other one locking the same key (until COMMIT/ROLLBACK):
   * what SQLite's single writer gave for free, e.g. two nodes starting a session's conversation at once.
   */
  async lock(key: string): Promise<void> {
    await this.client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [key]);
  }
}
