import type { ApiKeyRecord, ApiKeyRole, ApiKeyStore } from '../../ports/api-keys.js';
import type { Database } from './database.js';
import { translateSqliteError } from './errors.js';

interface ApiKeyRow {
  id: string;
  name: string;
  user_id: string;
  role: string;
  key_prefix: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

const COLUMNS = 'id, name, user_id, role, key_prefix, created_at, last_used_at, revoked_at';

function toRecord(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    userId: row.user_id,
    role: row.role as ApiKeyRole,
    keyPrefix: row.key_prefix,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

/** API keys in the same SQLite database as everything else. */
export class SqliteApiKeyStore implements ApiKeyStore {
  private readonly sql;

  constructor(
    private readonly db: Database,
    private readonly path: string,
  ) {
    this.sql = {
      insert: db.prepare(
        `INSERT INTO api_keys (id, name, user_id, role, key_hash, key_prefix, created_at) VALUES (@id, @name, @userId, @role, @keyHash, @keyPrefix, @createdAt)`,
      ),
      byHash: db.prepare<[string], ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL`),
      touch: db.prepare<[number, string]>('UPDATE api_keys SET last_used_at = ? WHERE id = ?'),
      list: db.prepare<[], ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys ORDER BY created_at`),
      find: db.prepare<[string, string], ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE (id = ? OR key_prefix = ?) AND revoked_at IS NULL`),
      revoke: db.prepare<[number, string]>('UPDATE api_keys SET revoked_at = ? WHERE id = ?'),
      countActive: db.prepare<[], { count: number }>('SELECT count(*) AS count FROM api_keys WHERE revoked_at IS NULL'),
      revoked: db.prepare<[], string>('SELECT id FROM api_keys WHERE revoked_at IS NOT NULL').pluck(),
    };
  }

  private run<T>(work: () => T): Promise<T> {
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(translateSqliteError(error, this.path));
    }
  }

  insertKey(record: ApiKeyRecord, keyHash: string): Promise<void> {
    return this.run(() => {
      this.sql.insert.run({ id: record.id, name: record.name, userId: record.userId, role: record.role, keyHash, keyPrefix: record.keyPrefix, createdAt: record.createdAt });
    });
  }

  useKey(keyHash: string, now: number): Promise<ApiKeyRecord | null> {
    return this.run(() => {
      const row = this.sql.byHash.get(keyHash);
      if (row === undefined) return null;
      this.sql.touch.run(now, row.id);
      return { ...toRecord(row), lastUsedAt: now };
    });
  }

  listKeys(): Promise<ApiKeyRecord[]> {
    return this.run(() => this.sql.list.all().map(toRecord));
  }

  revokeKey(idOrPrefix: string, now: number): Promise<ApiKeyRecord | null> {
    return this.run(() =>
      this.db.transaction(() => {
        const row = this.sql.find.get(idOrPrefix, idOrPrefix);
        if (row === undefined) return null;
        this.sql.revoke.run(now, row.id);
        return { ...toRecord(row), revokedAt: now };
      })(),
    );
  }

  countActiveKeys(): Promise<number> {
    return this.run(() => this.sql.countActive.get()?.count ?? 0);
  }

  revokedKeyIds(): Promise<string[]> {
    return this.run(() => this.sql.revoked.all());
  }
}
