/**
 * 0020 — the bytes of stored media (and thumbnails) in PostgreSQL, so that every node serves a file any
 * node stored (with SQLite they stay in the data directory's `media/`). One row per name, as the files
 * were named: `<sha256>` and `<sha256>.thumb.webp`. No foreign key to `media`: the bytes are written
 * before their record (a file is never served without its bytes) and removed after it. Numbered after
 * issue #20 (PostgreSQL-only, no SQLite counterpart); versions may have gaps.
 */
const sql = /* sql */ `
CREATE TABLE media_blobs (
  name        TEXT   PRIMARY KEY,
  data        BYTEA  NOT NULL,
  created_at  BIGINT NOT NULL
);
-- The bytes are compressed pictures and audio already: storing them compressed again wastes CPU.
ALTER TABLE media_blobs ALTER COLUMN data SET STORAGE EXTERNAL;
`;

export const mediaBlobs = { version: 20, name: 'media_blobs', sql } as const;
