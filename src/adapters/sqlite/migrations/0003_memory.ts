/**
 * 0003 — long-term memory (issue 5, docs/memory.md): memories, their vectors (one per embedder),
 * sharing with personas and groups, full-text search, forgotten messages and decay/prune history.
 */
const sql = /* sql */ `
CREATE TABLE memories (
  -- INTEGER PRIMARY KEY aliases the rowid, which the FTS index refers to; AUTOINCREMENT never reuses ids.
  id                 INTEGER PRIMARY KEY AUTOINCREMENT,
  persona_id         TEXT    NOT NULL REFERENCES personas (id) ON DELETE CASCADE,
  kind               TEXT    NOT NULL CHECK (kind IN ('observation', 'user_fact', 'summary', 'reflection')),
  content            TEXT    NOT NULL,
  importance         REAL    NOT NULL CHECK (importance >= 0 AND importance <= 1),
  importance_source  TEXT    NOT NULL CHECK (importance_source IN ('heuristic', 'llm', 'client')),
  visibility         TEXT    NOT NULL CHECK (visibility IN ('private', 'shared', 'public')),
  -- The user the memory belongs to (NULL: the anonymous local user); only that user's requests recall it.
  user_id            TEXT,
  session_id         TEXT,
  conversation_id    TEXT,
  -- The message the memory was formed from; not a foreign key: retention may delete the message.
  message_id         INTEGER,
  created_at         INTEGER NOT NULL,
  last_accessed_at   INTEGER NOT NULL,
  access_count       INTEGER NOT NULL DEFAULT 0,
  decayed_at         INTEGER NOT NULL
) STRICT;
CREATE INDEX memories_persona ON memories (persona_id, user_id, importance);
CREATE INDEX memories_message ON memories (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX memories_visibility ON memories (visibility) WHERE visibility <> 'private';

-- One vector per memory and embedder (Float32 little-endian); cascades so no vector outlives its memory.
CREATE TABLE memory_vectors (
  memory_id  INTEGER NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
  embedder   TEXT    NOT NULL,
  vector     BLOB    NOT NULL,
  PRIMARY KEY (memory_id, embedder)
) STRICT, WITHOUT ROWID;
CREATE INDEX memory_vectors_embedder ON memory_vectors (embedder);

-- Personas (persona_id) or groups (group_id) a shared memory is shared with; exactly one is set.
CREATE TABLE memory_shares (
  memory_id   INTEGER NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
  persona_id  TEXT,
  group_id    TEXT,
  CHECK ((persona_id IS NULL) <> (group_id IS NULL))
) STRICT;
CREATE UNIQUE INDEX memory_shares_unique ON memory_shares (memory_id, coalesce(persona_id, ''), coalesce(group_id, ''));
CREATE INDEX memory_shares_persona ON memory_shares (persona_id) WHERE persona_id IS NOT NULL;
CREATE INDEX memory_shares_group ON memory_shares (group_id) WHERE group_id IS NOT NULL;

-- Named groups of personas (a faction, a household) memories can be shared with.
CREATE TABLE persona_groups (
  id          TEXT    NOT NULL,
  persona_id  TEXT    NOT NULL REFERENCES personas (id) ON DELETE CASCADE,
  PRIMARY KEY (id, persona_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX persona_groups_persona ON persona_groups (persona_id);

-- Full-text index over memories.content (external content: the text is stored once), kept in sync by triggers.
CREATE VIRTUAL TABLE memories_fts USING fts5 (content, content = 'memories', content_rowid = 'id', tokenize = 'porter unicode61');
CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
  INSERT INTO memories_fts (rowid, content) VALUES (new.id, new.content);
END;
CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
  INSERT INTO memories_fts (memories_fts, rowid, content) VALUES ('delete', old.id, old.content);
END;
CREATE TRIGGER memories_fts_update AFTER UPDATE OF content ON memories BEGIN
  INSERT INTO memories_fts (memories_fts, rowid, content) VALUES ('delete', old.id, old.content);
  INSERT INTO memories_fts (rowid, content) VALUES (new.id, new.content);
END;

-- Document frequency per (stemmed) term: full-text search drops terms that occur in most memories.
CREATE VIRTUAL TABLE memories_fts_vocab USING fts5vocab (memories_fts, 'row');

-- Messages whose memories the user made the persona forget: formation never extracts from them again.
CREATE TABLE forgotten_messages (
  message_id    INTEGER PRIMARY KEY,
  forgotten_at  INTEGER NOT NULL
) STRICT;

-- History of decay and prune runs, for memory.decay_stats and memory.prune_stats.
CREATE TABLE memory_maintenance_runs (
  id                 INTEGER PRIMARY KEY AUTOINCREMENT,
  kind               TEXT    NOT NULL CHECK (kind IN ('decay', 'prune')),
  persona_id         TEXT,
  started_at         INTEGER NOT NULL,
  processing_ms      REAL    NOT NULL,
  personas_processed INTEGER NOT NULL,
  memories_affected  INTEGER NOT NULL,
  -- decay: mean importance lost per decayed memory; prune: mean importance of the pruned ones.
  average_value      REAL    NOT NULL
) STRICT;
CREATE INDEX memory_maintenance_runs_kind ON memory_maintenance_runs (kind, id);
`;

export const memory = { version: 3, name: 'memory', sql };
