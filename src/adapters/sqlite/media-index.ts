/**
 * `MediaIndex` (attachments, scenes) and the `media` table that remembers what each stored file is,
 * on the SQLite connection the main store opened. Migrated by `0018_media`.
 */
import type { AttachmentRecord, MediaIndex, MediaInfo, MediaRecords, SceneRecord } from '../../ports/media.js';
import type { Database } from './database.js';
import { translateSqliteError } from './errors.js';
import { sceneParams, toInfo, toScene, type MediaRow, type SceneRow } from './media-rows.js';

/** Message ids per `attachmentsOf` query (SQLite's variable limit is far above; pages are ≤ 500). */
const CHUNK = 500;

export class SqliteMediaIndex implements MediaIndex {
  private readonly sql;

  constructor(
    private readonly db: Database,
    private readonly path: string = db.name,
  ) {
    try {
      this.sql = {
        getMedia: db.prepare<[string], MediaRow>('SELECT id, kind, mime_type, bytes, width, height, has_thumbnail FROM media WHERE id = ?'),
        putMedia: db.prepare(
          'INSERT OR IGNORE INTO media (id, kind, mime_type, bytes, width, height, has_thumbnail, created_at) VALUES (@id, @kind, @mime_type, @bytes, @width, @height, @has_thumbnail, @created_at)',
        ),
        attach: db.prepare<[number, number, string]>('INSERT OR REPLACE INTO message_attachments (message_id, position, media_id) VALUES (?, ?, ?)'),
        getScene: db.prepare<[string], SceneRow>('SELECT * FROM scenes WHERE conversation_id = ?'),
        putScene: db.prepare(
          `INSERT INTO scenes (conversation_id, location, time_of_day, weather, present, description, image_media_id, updated_at)
           VALUES (@conversation_id, @location, @time_of_day, @weather, @present, @description, @image_media_id, @updated_at)
           ON CONFLICT (conversation_id) DO UPDATE SET location = excluded.location, time_of_day = excluded.time_of_day,
             weather = excluded.weather, present = excluded.present, description = excluded.description,
             image_media_id = excluded.image_media_id, updated_at = excluded.updated_at`,
        ),
        storedBefore: db.prepare<[number], string>('SELECT id FROM media WHERE created_at < ?').pluck(),
        deleteMedia: db.prepare<[string]>('DELETE FROM media WHERE id = ?'),
        referenced: db
          .prepare<[], string>(
            'SELECT media_id FROM message_attachments UNION SELECT image_media_id FROM scenes WHERE image_media_id IS NOT NULL',
          )
          .pluck(),
      };
    } catch (error) {
      throw translateSqliteError(error, path);
    }
  }

  /** The `index` a `FileMedia` needs: what a stored file is. */
  readonly files: MediaRecords = {
    get: (id: string): Promise<MediaInfo | null> =>
      this.run(() => {
        const row = this.sql.getMedia.get(id);
        return row === undefined ? null : toInfo(row);
      }),
    remove: (id: string): Promise<void> =>
      this.run(() => {
        this.sql.deleteMedia.run(id);
      }),
    put: (info: MediaInfo, createdAt: number): Promise<void> =>
      this.run(() => {
        this.sql.putMedia.run({
          id: info.id,
          kind: info.kind,
          mime_type: info.mimeType,
          bytes: info.bytes,
          width: info.width,
          height: info.height,
          has_thumbnail: info.hasThumbnail ? 1 : 0,
          created_at: createdAt,
        });
      }),
  };

  attach(messageId: number, media: readonly MediaInfo[]): Promise<void> {
    return this.run(() =>
      this.db.transaction(() => {
        media.forEach((info, position) => this.sql.attach.run(messageId, position, info.id));
      })(),
    );
  }

  attachmentsOf(messageIds: readonly number[]): Promise<Map<number, AttachmentRecord[]>> {
    return this.run(() => {
      const result = new Map<number, AttachmentRecord[]>();
      for (let start = 0; start < messageIds.length; start += CHUNK) {
        const chunk = messageIds.slice(start, start + CHUNK);
        const rows = this.db
          .prepare<number[], MediaRow & { message_id: number; position: number }>(
            `SELECT a.message_id, a.position, m.id, m.kind, m.mime_type, m.bytes, m.width, m.height, m.has_thumbnail
             FROM message_attachments a JOIN media m ON m.id = a.media_id
             WHERE a.message_id IN (${chunk.map(() => '?').join(',')}) ORDER BY a.message_id, a.position`,
          )
          .all(...chunk);
        for (const row of rows) {
          const list = result.get(row.message_id) ?? [];
          list.push({ messageId: row.message_id, position: row.position, media: toInfo(row) });
          result.set(row.message_id, list);
        }
      }
      return result;
    });
  }

  getScene(conversationId: string): Promise<SceneRecord | null> {
    return this.run(() => {
      const row = this.sql.getScene.get(conversationId);
      return row === undefined ? null : toScene(row);
    });
  }

  putScene(scene: SceneRecord): Promise<void> {
    return this.run(() => {
      this.sql.putScene.run(sceneParams(scene));
    });
  }

  storedBefore(time: number): Promise<string[]> {
    return this.run(() => this.sql.storedBefore.all(time));
  }

  referencedMedia(): Promise<Set<string>> {
    return this.run(() => new Set(this.sql.referenced.all()));
  }

  private run<T>(work: () => T): Promise<T> {
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(translateSqliteError(error, this.path));
    }
  }
}
