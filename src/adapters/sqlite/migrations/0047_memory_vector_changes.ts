/**
 * 0047 — `memory_vector_changes`: which memory's vector of which embedder was written or removed, in commit
 * order, so a connection brings its in-memory vector index up to date with another connection's writes
 * (another process on the same data directory: `persona-mcp mcp` beside a server, the CLI's imports).
 * Before it, a server's index was read once and never saw their vectors: their memories were found by
 * full-text search alone until a restart. Filled by triggers, so every writer (this version's and the
 * tools') records its changes in its own transaction; the store keeps the newest rows (its `seq` only grows:
 * rows are pruned from the oldest, never the newest) — see SqliteMemoryStore's `followVectorWrites`.
 *
 * (Numbered 0047 so parallel features do not collide; versions may have gaps.)
 */
const sql = /* sql */ `
CREATE TABLE memory_vector_changes (
  seq        INTEGER PRIMARY KEY,
  memory_id  INTEGER NOT NULL,
  embedder   TEXT    NOT NULL
) STRICT;
CREATE TRIGGER memory_vectors_inserted AFTER INSERT ON memory_vectors BEGIN
  INSERT INTO memory_vector_changes (memory_id, embedder) VALUES (new.memory_id, new.embedder);
END;
CREATE TRIGGER memory_vectors_updated AFTER UPDATE ON memory_vectors BEGIN
  INSERT INTO memory_vector_changes (memory_id, embedder) VALUES (new.memory_id, new.embedder);
END;
CREATE TRIGGER memory_vectors_deleted AFTER DELETE ON memory_vectors BEGIN
  INSERT INTO memory_vector_changes (memory_id, embedder) VALUES (old.memory_id, old.embedder);
END;
`;

export const memoryVectorChanges = { version: 47, name: 'memory_vector_changes', sql } as const;
