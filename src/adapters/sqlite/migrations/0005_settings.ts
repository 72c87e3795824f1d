/**
 * 0005 — runtime settings and character-card extras (issue 8).
 *
 * `settings`: values changed at runtime with `config.set`, applied over the config file and flags on
 * every start until reset. `persona_cards`: the last Character Card imported for a persona, kept whole,
 * so exporting the persona again returns the card's fields and extensions that persona-mcp has no
 * place for (lorebooks, alternate greetings, other applications' extensions) unchanged.
 */
const sql = /* sql */ `
CREATE TABLE settings (
  key         TEXT    PRIMARY KEY,
  -- The value as JSON (a string, a number, an object ...), validated by the config service.
  value       TEXT    NOT NULL CHECK (json_valid(value)),
  updated_at  INTEGER NOT NULL,
  -- Who changed it (session or user), for people reading the database; the log has the full audit.
  updated_by  TEXT
) STRICT;

CREATE TABLE persona_cards (
  persona_id  TEXT    PRIMARY KEY REFERENCES personas (id) ON DELETE CASCADE,
  -- 'chara_card_v2' or 'chara_card_v3'
  spec        TEXT    NOT NULL,
  card        TEXT    NOT NULL CHECK (json_valid(card)),
  -- The card's PNG image without its card chunks (null for a JSON card), reused when exporting as PNG.
  image       BLOB,
  imported_at INTEGER NOT NULL
) STRICT;
`;

export const settings = { version: 5, name: 'settings', sql };
