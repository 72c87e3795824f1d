/**
 * Rows of the media tables (`media`, `scenes`; migration 0018 on both stores) as records, for SQLite's
 * and PostgreSQL's media index alike: the same columns, one mapper each.
 */
import type { MediaInfo, SceneRecord } from '../../ports/media.js';

export interface MediaRow {
  id: string;
  kind: 'image' | 'audio';
  mime_type: string;
  bytes: number;
  width: number | null;
  height: number | null;
  has_thumbnail: number;
}

export interface SceneRow {
  conversation_id: string;
  location: string | null;
  time_of_day: string | null;
  weather: string | null;
  present: string;
  description: string | null;
  image_media_id: string | null;
  updated_at: number;
}

export function toInfo(row: MediaRow): MediaInfo {
  return {
    id: row.id,
    kind: row.kind,
    mimeType: row.mime_type,
    bytes: row.bytes,
    width: row.width,
    height: row.height,
    hasThumbnail: row.has_thumbnail === 1,
  };
}

export function toScene(row: SceneRow): SceneRecord {
  return {
    conversationId: row.conversation_id,
    location: row.location,
    timeOfDay: row.time_of_day,
    weather: row.weather,
    present: JSON.parse(row.present) as string[],
    description: row.description,
    imageMediaId: row.image_media_id,
    updatedAt: row.updated_at,
  };
}

/** The scene as the row's values (`present` as JSON text). */
export function sceneParams(scene: SceneRecord): SceneRow {
  return {
    conversation_id: scene.conversationId,
    location: scene.location,
    time_of_day: scene.timeOfDay,
    weather: scene.weather,
    present: JSON.stringify(scene.present),
    description: scene.description,
    image_media_id: scene.imageMediaId,
    updated_at: scene.updatedAt,
  };
}
