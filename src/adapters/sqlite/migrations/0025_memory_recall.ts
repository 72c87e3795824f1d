/**
 * 0025 — memory recall (issue 13, docs/memory.md): the memory type as the client named it, and a second,
 * lower-weight full-text column for what helps find a memory in other words (WordNet expansion terms,
 * the LLM's canonical fact and the questions it answers).
 *
 * Numbered after 0024 (persona owners), the newest on main when it landed; gaps are allowed.
 * The full-text index is rebuilt with its new column (external content: nothing is copied). Existing
 * memories get their expansion terms from the background `memory.expand` job after start.
 */
const sql = /* sql */ `
-- memory_type exactly as the client gave it ("local_knowledge", "location"); NULL: the kind itself.
ALTER TABLE memories ADD COLUMN type_label TEXT;
-- Terms that help recall the memory in other words, searched with a lower BM25 weight than content.
ALTER TABLE memories ADD COLUMN recall_terms TEXT NOT NULL DEFAULT '';
-- The thesaurus version recall_terms was made with (NULL: not yet expanded; the expand job fills it).
ALTER TABLE memories ADD COLUMN expanded_with TEXT;
-- The LLM's canonical one-line fact and questions the memory answers (doc2query), when it wrote them.
ALTER TABLE memories ADD COLUMN doc2query TEXT;

DROP TRIGGER memories_fts_insert;
DROP TRIGGER memories_fts_delete;
DROP TRIGGER memories_fts_update;
DROP TABLE memories_fts_vocab;
DROP TABLE memories_fts;

CREATE VIRTUAL TABLE memories_fts USING fts5 (content, recall_terms, content = 'memories', content_rowid = 'id', tokenize = 'porter unicode61');
CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
  INSERT INTO memories_fts (rowid, content, recall_terms) VALUES (new.id, new.content, new.recall_terms);
END;
CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
  INSERT INTO memories_fts (memories_fts, rowid, content, recall_terms) VALUES ('delete', old.id, old.content, old.recall_terms);
END;
CREATE TRIGGER memories_fts_update AFTER UPDATE OF content, recall_terms ON memories BEGIN
  INSERT INTO memories_fts (memories_fts, rowid, content, recall_terms) VALUES ('delete', old.id, old.content, old.recall_terms);
  INSERT INTO memories_fts (rowid, content, recall_terms) VALUES (new.id, new.content, new.recall_terms);
END;
INSERT INTO memories_fts (memories_fts) VALUES ('rebuild');
CREATE VIRTUAL TABLE memories_fts_vocab USING fts5vocab (memories_fts, 'row');

-- Small facts about the memory store itself: 'expanded_with' = "<thesaurus version>\t<id>": every memory
-- up to that id has recall terms of that version (the backfill then scans only later rows). Not exported.
CREATE TABLE memory_meta (
  key    TEXT PRIMARY KEY,
  value  TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- The "what I know about you" block reads a persona's facts about one user, most important first.
CREATE INDEX memories_user_facts ON memories (persona_id, user_id, importance) WHERE kind = 'user_fact';
`;

export const memoryRecall = { version: 25, name: 'memory_recall', sql } as const;
