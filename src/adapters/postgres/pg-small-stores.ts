/**
 * The small repositories on PostgreSQL: API keys, runtime settings, imported Character Cards, prompt
 * template versions and the fine-tuning dataset source. Same tables and rules as their SQLite twins.
 */
import type { TemplateTask } from '../../domain/prompt-template.js';
import type { ApiKeyRecord, ApiKeyRole, ApiKeyStore } from '../../ports/api-keys.js';
import type { CardRepository, StoredCard } from '../../ports/cards.js';
import type { DatasetConversation, DatasetSource } from '../../ports/dataset-source.js';
import type { PromptTemplateStore, TemplateVersion } from '../../ports/prompt-templates.js';
import type { SettingsRepository, StoredSetting } from '../../ports/settings.js';
import type { PostgresDatabase } from './database.js';

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

const KEY_COLUMNS = 'id, name, user_id, role, key_prefix, created_at, last_used_at, revoked_at';

function toKey(row: ApiKeyRow): ApiKeyRecord {
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

export class PostgresApiKeyStore implements ApiKeyStore {
  constructor(private readonly db: PostgresDatabase) {}

  async insertKey(record: ApiKeyRecord, keyHash: string): Promise<void> {
    await this.db.query(
      'INSERT INTO api_keys (id, name, user_id, role, key_hash, key_prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [record.id, record.name, record.userId, record.role, keyHash, record.keyPrefix, record.createdAt],
    );
  }

  async useKey(keyHash: string, now: number): Promise<ApiKeyRecord | null> {
    const row = await this.db.one<ApiKeyRow>(
      `UPDATE api_keys SET last_used_at = $2 WHERE key_hash = $1 AND revoked_at IS NULL RETURNING ${KEY_COLUMNS}`,
      [keyHash, now],
    );
    return row === null ? null : toKey(row);
  }

  async listKeys(): Promise<ApiKeyRecord[]> {
    return (await this.db.rows<ApiKeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys ORDER BY created_at`)).map(toKey);
  }

  revokeKey(idOrPrefix: string, now: number): Promise<ApiKeyRecord | null> {
    return this.db.transaction(async (tx) => {
      const row = await tx.one<ApiKeyRow>(
        `SELECT ${KEY_COLUMNS} FROM api_keys WHERE (id = $1 OR key_prefix = $1) AND revoked_at IS NULL ORDER BY created_at LIMIT 1 FOR UPDATE`,
        [idOrPrefix],
      );
      if (row === null) return null;
      await tx.query('UPDATE api_keys SET revoked_at = $1 WHERE id = $2', [now, row.id]);
      return { ...toKey(row), revokedAt: now };
    });
  }

  async countActiveKeys(): Promise<number> {
    return (await this.db.one<{ count: number }>('SELECT count(*) AS count FROM api_keys WHERE revoked_at IS NULL'))?.count ?? 0;
  }

  async revokedKeyIds(): Promise<string[]> {
    return (await this.db.rows<{ id: string }>('SELECT id FROM api_keys WHERE revoked_at IS NOT NULL')).map((row) => row.id);
  }
}

export class PostgresSettingsStore implements SettingsRepository {
  constructor(private readonly db: PostgresDatabase) {}

  async list(): Promise<StoredSetting[]> {
    const rows = await this.db.rows<{ key: string; value: string; updated_at: number; updated_by: string | null }>(
      'SELECT key, value, updated_at, updated_by FROM settings ORDER BY key',
    );
    return rows.map((row) => ({ key: row.key, value: JSON.parse(row.value) as unknown, updatedAt: row.updated_at, updatedBy: row.updated_by }));
  }

  save(changes: Array<{ key: string; value: unknown | null }>, now: number, updatedBy: string | null): Promise<void> {
    return this.db.transaction(async (tx) => {
      for (const change of changes) {
        if (change.value === null) await tx.query('DELETE FROM settings WHERE key = $1', [change.key]);
        else
          await tx.query(
            `INSERT INTO settings (key, value, updated_at, updated_by) VALUES ($1, $2, $3, $4)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
            [change.key, JSON.stringify(change.value), now, updatedBy],
          );
      }
    });
  }
}

export class PostgresCardStore implements CardRepository {
  constructor(private readonly db: PostgresDatabase) {}

  async get(personaId: string): Promise<StoredCard | null> {
    const row = await this.db.one<{ persona_id: string; spec: string; card: string; image: Buffer | null; imported_at: number }>(
      'SELECT persona_id, spec, card, image, imported_at FROM persona_cards WHERE persona_id = $1',
      [personaId],
    );
    return row === null
      ? null
      : { personaId: row.persona_id, spec: row.spec, card: JSON.parse(row.card) as Record<string, unknown>, image: row.image, importedAt: row.imported_at };
  }

  async put(card: StoredCard): Promise<void> {
    await this.db.query(
      `INSERT INTO persona_cards (persona_id, spec, card, image, imported_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (persona_id) DO UPDATE SET spec = excluded.spec, card = excluded.card, image = excluded.image, imported_at = excluded.imported_at`,
      [card.personaId, card.spec, JSON.stringify(card.card), card.image, card.importedAt],
    );
  }
}

interface TemplateRow {
  persona_id: string;
  task: TemplateTask;
  version: number;
  template: string;
  created_at: number;
  created_by: string | null;
}

const TEMPLATE_COLUMNS = 'persona_id, task, version, template, created_at, created_by';

function toVersion(row: TemplateRow): TemplateVersion {
  return { personaId: row.persona_id, task: row.task, version: row.version, template: row.template, createdAt: row.created_at, createdBy: row.created_by };
}

export class PostgresPromptTemplateStore implements PromptTemplateStore {
  constructor(private readonly db: PostgresDatabase) {}

  async versions(personaId: string, task: TemplateTask): Promise<TemplateVersion[]> {
    return (
      await this.db.rows<TemplateRow>(`SELECT ${TEMPLATE_COLUMNS} FROM prompt_templates WHERE persona_id = $1 AND task = $2 ORDER BY version DESC`, [
        personaId,
        task,
      ])
    ).map(toVersion);
  }

  async current(personaId: string, task: TemplateTask): Promise<TemplateVersion | null> {
    const row = await this.db.one<TemplateRow>(
      `SELECT ${TEMPLATE_COLUMNS} FROM prompt_templates WHERE persona_id = $1 AND task = $2 ORDER BY version DESC LIMIT 1`,
      [personaId, task],
    );
    return row === null ? null : toVersion(row);
  }

  add(personaId: string, task: TemplateTask, template: string, now: number, createdBy: string | null): Promise<TemplateVersion> {
    return this.db.transaction(async (tx) => {
      await tx.lock(`template:${personaId}:${task}`);
      const next = ((await tx.one<{ version: number | null }>('SELECT max(version) AS version FROM prompt_templates WHERE persona_id = $1 AND task = $2', [personaId, task]))?.version ?? 0) + 1;
      await tx.query(`INSERT INTO prompt_templates (${TEMPLATE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)`, [personaId, task, next, template, now, createdBy]);
      return { personaId, task, version: next, template, createdAt: now, createdBy };
    });
  }
}

export class PostgresDatasetSource implements DatasetSource {
  constructor(private readonly db: PostgresDatabase) {}

  async userConversations(personaId: string, userId: string | null): Promise<DatasetConversation[]> {
    const rows = await this.db.rows<{ conversation_id: string; role: 'user' | 'assistant'; content: string }>(
      `SELECT m.conversation_id, m.role, m.content
       FROM conversations c
       JOIN sessions s ON s.id = c.session_id
       JOIN conversation_personas cp ON cp.conversation_id = c.id AND cp.persona_id = $1
       JOIN messages m ON m.conversation_id = c.id
       WHERE c.kind = 'user' AND s.user_id IS NOT DISTINCT FROM $2 AND m.role IN ('user', 'assistant')
       ORDER BY c.started_at, c.id, m.id`,
      [personaId, userId],
    );
    const conversations: DatasetConversation[] = [];
    for (const row of rows) {
      let current = conversations.at(-1);
      if (current?.id !== row.conversation_id) {
        current = { id: row.conversation_id, turns: [] };
        conversations.push(current);
      }
      current.turns.push({ role: row.role, content: row.content });
    }
    return conversations;
  }
}
