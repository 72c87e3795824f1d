/**
 * 0018 — media: files attached to messages (images, audio) and each conversation's scene. The bytes
 * live in the data directory under `media/`, named by their SHA-256; these rows say what points at
 * them. (Numbered after issue #18 so parallel features do not collide; versions may have gaps.)
 */
const sql = /* sql */ `
CREATE TABLE media (
  id          TEXT    PRIMARY KEY,
  kind        TEXT    NOT NULL CHECK (kind IN ('image', 'audio')),
  mime_type   TEXT    NOT NULL,
  bytes       INTEGER NOT NULL,
  width       INTEGER,
  height      INTEGER,
  has_thumbnail INTEGER NOT NULL DEFAULT 0,
  created_at  INTEGER NOT NULL
) STRICT;
CREATE TABLE message_attachments (
  message_id  INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  position    INTEGER NOT NULL,
  media_id    TEXT    NOT NULL REFERENCES media (id),
  PRIMARY KEY (message_id, position)
) STRICT;
CREATE INDEX message_attachments_media ON message_attachments (media_id);
CREATE TABLE scenes (
  conversation_id TEXT PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
  location        TEXT,
  time_of_day     TEXT,
  weather         TEXT,
  present         TEXT NOT NULL DEFAULT '[]',
  description     TEXT,
  image_media_id  TEXT REFERENCES media (id),
  updated_at      INTEGER NOT NULL
) STRICT;
`;

export const media = { version: 18, name: 'media', sql } as const;
