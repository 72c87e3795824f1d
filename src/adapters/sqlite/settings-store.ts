/**
 * The `settings` and `persona_cards` tables (migration 0005): runtime settings changed with
 * `config.set`, and the Character Cards imported for personas. They share the store's connection.
 */
import type { SettingsRepository, StoredSetting } from '../../ports/settings.js';
import type { CardRepository, StoredCard } from '../../ports/cards.js';
import type { Database } from './database.js';
import { translateSqliteError } from './errors.js';

interface SettingRow {
  key: string;
  value: string;
  updated_at: number;
  updated_by: string | null;
}

interface CardRow {
  persona_id: string;
  spec: string;
  card: string;
  image: Buffer | null;
  imported_at: number;
}

export class SqliteSettingsStore implements SettingsRepository {
  constructor(
    private readonly db: Database,
    private readonly path: string,
  ) {}

  async list(): Promise<StoredSetting[]> {
    return this.run(() =>
      this.db
        .prepare<[], SettingRow>('SELECT key, value, updated_at, updated_by FROM settings ORDER BY key')
        .all()
        .map((row) => ({ key: row.key, value: JSON.parse(row.value) as unknown, updatedAt: row.updated_at, updatedBy: row.updated_by })),
    );
  }

  async save(changes: Array<{ key: string; value: unknown | null }>, now: number, updatedBy: string | null): Promise<void> {
    const upsert = this.db.prepare<[string, string, number, string | null]>(
      `INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
    );
    const remove = this.db.prepare<[string]>('DELETE FROM settings WHERE key = ?');
    return this.run(() =>
      this.db
        .transaction(() => {
          for (const change of changes) {
            if (change.value === null) remove.run(change.key);
            else upsert.run(change.key, JSON.stringify(change.value), now, updatedBy);
          }
        })
        .immediate(),
    );
  }

  private run<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      throw translateSqliteError(error, this.path);
    }
  }
}

export class SqliteCardStore implements CardRepository {
  constructor(
    private readonly db: Database,
    private readonly path: string,
  ) {}

  async get(personaId: string): Promise<StoredCard | null> {
    try {
      const row = this.db.prepare<[string], CardRow>('SELECT persona_id, spec, card, image, imported_at FROM persona_cards WHERE persona_id = ?').get(personaId);
      return row === undefined ? null : { personaId: row.persona_id, spec: row.spec, card: JSON.parse(row.card) as Record<string, unknown>, image: row.image, importedAt: row.imported_at };
    } catch (error) {
      throw translateSqliteError(error, this.path);
    }
  }

  async put(card: StoredCard): Promise<void> {
    try {
      this.db
        .prepare<[string, string, string, Buffer | null, number]>(
          `INSERT INTO persona_cards (persona_id, spec, card, image, imported_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (persona_id) DO UPDATE SET spec = excluded.spec, card = excluded.card, image = excluded.image,
             imported_at = excluded.imported_at`,
        )
        .run(card.personaId, card.spec, JSON.stringify(card.card), card.image, card.importedAt);
    } catch (error) {
      throw translateSqliteError(error, this.path);
    }
  }
}
