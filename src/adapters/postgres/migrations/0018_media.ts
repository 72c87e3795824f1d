/**
 * 0018 — media on PostgreSQL, the counterpart of SQLite's `0018_media`: what each stored file is, which
 * message carries which files, and each conversation's scene (the bytes stay in each node's data
 * directory, `media/`).
 */
const sql = /* sql */ `
CREATE TABLE media (
  id            TEXT    PRIMARY KEY,
  kind          TEXT    NOT NULL CHECK (kind IN ('image', 'audio')),
  mime_type     TEXT    NOT NULL,
  bytes         BIGINT  NOT NULL,
  width         BIGINT,
  height        BIGINT,
  has_thumbnail SMALLINT NOT NULL DEFAULT 0 CHECK (has_thumbnail IN (0, 1)),
  created_at    BIGINT  NOT NULL
);
CREATE TABLE message_attachments (
  message_id  BIGINT  NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  position    BIGINT  NOT NULL,
  media_id    TEXT    NOT NULL REFERENCES media (id),
  PRIMARY KEY (message_id, position)
);
CREATE INDEX message_attachments_media ON message_attachments (media_id);
CREATE TABLE scenes (
  conversation_id TEXT PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
  location        TEXT,
  time_of_day     TEXT,
  weather         TEXT,
  present         TEXT NOT NULL DEFAULT '[]',
  description     TEXT,
  image_media_id  TEXT REFERENCES media (id),
  updated_at      BIGINT NOT NULL
);
`;

export const media = { version: 18, name: 'media', sql } as const;
