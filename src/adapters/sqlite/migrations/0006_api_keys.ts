/**
 * 0006 — API keys. Each key belongs to a user (several keys may share one); only a SHA-256 hash of the
 * key is stored, with a short prefix so people can tell keys apart in `persona-mcp keys list`.
 */
const sql = /* sql */ `
CREATE TABLE api_keys (
  id            TEXT    PRIMARY KEY,
  name          TEXT    NOT NULL,
  user_id       TEXT    NOT NULL,
  role          TEXT    NOT NULL CHECK (role IN ('user', 'admin')),
  key_hash      TEXT    NOT NULL UNIQUE,
  key_prefix    TEXT    NOT NULL,
  created_at    INTEGER NOT NULL,
  last_used_at  INTEGER,
  revoked_at    INTEGER
) STRICT;
CREATE INDEX api_keys_user ON api_keys (user_id);
`;

export const apiKeys = { version: 6, name: 'api_keys', sql } as const;
