/**
 * 0001 — the first schema: personas, their runtime state, sessions, conversations and messages.
 *
 * Conventions for this and later migrations:
 * - times are integer milliseconds since the epoch (`*_at`, `*_until`);
 * - tables are STRICT, so a wrong type (a fractional token count) fails loudly instead of being stored;
 * - no BEGIN/COMMIT here: the runner wraps each migration in its own transaction.
 */
const sql = /* sql */ `
CREATE TABLE personas (
  id          TEXT    PRIMARY KEY,
  name        TEXT    NOT NULL,
  -- The whole PersonaDefinition as JSON; id and name are also columns so they can be indexed.
  definition  TEXT    NOT NULL CHECK (json_valid(definition)),
  is_builtin  INTEGER NOT NULL DEFAULT 0 CHECK (is_builtin IN (0, 1)),
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
) STRICT;
-- Clients address personas by name in any case ("Aria", "aria"), so names are unique case-insensitively.
CREATE UNIQUE INDEX personas_name_lower ON personas (lower(name));

-- Shipped personas already loaded once; a user who deletes one does not get it back on the next start.
CREATE TABLE persona_seeds (
  id         TEXT    PRIMARY KEY,
  seeded_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE persona_state (
  persona_id      TEXT    PRIMARY KEY REFERENCES personas (id) ON DELETE CASCADE,
  energy          REAL    NOT NULL,
  fatigue         REAL    NOT NULL,
  updated_at      INTEGER NOT NULL,
  cooldown_until  INTEGER
) STRICT;

CREATE TABLE sessions (
  id                 TEXT    PRIMARY KEY,
  user_id            TEXT,
  -- Cleared when the persona is deleted, so a session never points at a persona that is gone.
  active_persona_id  TEXT    REFERENCES personas (id) ON DELETE SET NULL,
  created_at         INTEGER NOT NULL,
  last_seen_at       INTEGER NOT NULL
) STRICT;
-- Retention finds idle sessions by last_seen_at.
CREATE INDEX sessions_last_seen_at ON sessions (last_seen_at);
-- The ON DELETE SET NULL above looks sessions up by persona; without this it scans every session.
CREATE INDEX sessions_active_persona ON sessions (active_persona_id);

CREATE TABLE conversations (
  id            TEXT    PRIMARY KEY,
  -- Kept (as NULL) when the session expires: the history outlives the connection that made it.
  session_id    TEXT    REFERENCES sessions (id) ON DELETE SET NULL,
  kind          TEXT    NOT NULL CHECK (kind IN ('user', 'personas')),
  topic         TEXT,
  context       TEXT,
  status        TEXT    NOT NULL CHECK (status IN ('active', 'ended')),
  started_at    INTEGER NOT NULL,
  ended_at      INTEGER,
  end_reason    TEXT,
  token_budget  INTEGER
) STRICT;
-- Serves findActiveConversation (session + status), listConversations (newest first, optionally by
-- status), retention (active conversations of expired sessions) and the session_id foreign key.
CREATE INDEX conversations_session_status ON conversations (session_id, status, started_at);

CREATE TABLE conversation_personas (
  conversation_id  TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  -- Deliberately not a foreign key: deleting a persona keeps the conversations it took part in.
  persona_id       TEXT    NOT NULL,
  position         INTEGER NOT NULL,
  PRIMARY KEY (conversation_id, persona_id)
) STRICT, WITHOUT ROWID;
-- Deleting a persona ends its active conversations, found through this index.
CREATE INDEX conversation_personas_persona ON conversation_personas (persona_id);

CREATE TABLE messages (
  -- AUTOINCREMENT: ids are never reused after retention deletes rows, so a paging cursor (beforeId)
  -- and anything else keyed by message id stays unambiguous.
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  conversation_id  TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  role             TEXT    NOT NULL CHECK (role IN ('user', 'assistant', 'system')),
  persona_id       TEXT,
  content          TEXT    NOT NULL,
  tokens           INTEGER NOT NULL DEFAULT 0,
  prompt_tokens    INTEGER,
  processing_ms    INTEGER,
  created_at       INTEGER NOT NULL
) STRICT;
-- History pages, recent turns and stats all read one conversation's messages in id order.
CREATE INDEX messages_conversation_id ON messages (conversation_id, id);
-- Retention deletes messages older than a cut-off.
CREATE INDEX messages_created_at ON messages (created_at);

CREATE TABLE meta (
  key    TEXT PRIMARY KEY,
  value  TEXT NOT NULL
) STRICT;
`;

/** Listed in `../migrations.ts`, which checks its shape. */
export const initial = { version: 1, name: 'initial', sql };
