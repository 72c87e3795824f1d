/**
 * `MediaIndex` on PostgreSQL: the same tables and rules as `../sqlite/media-index.ts` (migration
 * `0018_media`). The bytes of the files are in PostgreSQL too (`pg-media-blobs.ts`), shared by every node.
 */
import type { AttachmentRecord, MediaIndex, MediaInfo, MediaRecords, SceneRecord } from '../../ports/media.js';
import { sceneParams, toInfo, toScene, type MediaRow, type SceneRow } from '../sqlite/media-rows.js';
import type { PostgresDatabase } from './database.js';

const MEDIA_COLUMNS = 'id, kind, mime_type, bytes, width, height, has_thumbnail';

export class PostgresMediaIndex implements MediaIndex {
  constructor(private readonly db: PostgresDatabase) {}

  readonly files: MediaRecords = {
    get: async (id) => {
      const row = await this.db.one<MediaRow>(`SELECT ${MEDIA_COLUMNS} FROM media WHERE id = $1`, [id]);
      return row === null ? null : toInfo(row);
    },
    put: async (info, createdAt) => {
      await this.db.query(
        `INSERT INTO media (${MEDIA_COLUMNS}, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
        [info.id, info.kind, info.mimeType, info.bytes, info.width, info.height, info.hasThumbnail ? 1 : 0, createdAt],
      );
    },
    remove: async (id) => {
      await this.db.query('DELETE FROM media WHERE id = $1', [id]);
    },
  };

  async attach(messageId: number, media: readonly MediaInfo[]): Promise<void> {
    if (media.length === 0) return;
    await this.db.transaction(async (client) => {
      for (const [position, info] of media.entries()) {
        await client.query(
          'INSERT INTO message_attachments (message_id, position, media_id) VALUES ($1, $2, $3) ON CONFLICT (message_id, position) DO UPDATE SET media_id = excluded.media_id',
          [messageId, position, info.id],
        );
      }
    });
  }

  async attachmentsOf(messageIds: readonly number[]): Promise<Map<number, AttachmentRecord[]>> {
    const result = new Map<number, AttachmentRecord[]>();
    if (messageIds.length === 0) return result;
    const rows = await this.db.rows<MediaRow & { message_id: number; position: number }>(
      `SELECT a.message_id, a.position, m.id, m.kind, m.mime_type, m.bytes, m.width, m.height, m.has_thumbnail
       FROM message_attachments a JOIN media m ON m.id = a.media_id
       WHERE a.message_id = ANY($1::bigint[]) ORDER BY a.message_id, a.position`,
      [messageIds],
    );
    for (const row of rows) {
      const list = result.get(row.message_id) ?? [];
      list.push({ messageId: row.message_id, position: row.position, media: toInfo(row) });
      result.set(row.message_id, list);
    }
    return result;
  }

  async getScene(conversationId: string): Promise<SceneRecord | null> {
    const row = await this.db.one<SceneRow>('SELECT * FROM scenes WHERE conversation_id = $1', [conversationId]);
    return row === null ? null : toScene(row);
  }

  async putScene(scene: SceneRecord): Promise<void> {
    const row = sceneParams(scene);
    await this.db.query(
      `INSERT INTO scenes (conversation_id, location, time_of_day, weather, present, description, image_media_id, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (conversation_id) DO UPDATE SET location = excluded.location, time_of_day = excluded.time_of_day,
         weather = excluded.weather, present = excluded.present, description = excluded.description,
         image_media_id = excluded.image_media_id, updated_at = excluded.updated_at`,
      [row.conversation_id, row.location, row.time_of_day, row.weather, row.present, row.description, row.image_media_id, row.updated_at],
    );
  }

  async referencedMedia(): Promise<Set<string>> {
    const rows = await this.db.rows<{ media_id: string }>(
      'SELECT media_id FROM message_attachments UNION SELECT image_media_id FROM scenes WHERE image_media_id IS NOT NULL',
    );
    return new Set(rows.map((row) => row.media_id));
  }

  async storedBefore(time: number): Promise<string[]> {
    return (await this.db.rows<{ id: string }>('SELECT id FROM media WHERE created_at < $1', [time])).map((row) => row.id);
  }
}
