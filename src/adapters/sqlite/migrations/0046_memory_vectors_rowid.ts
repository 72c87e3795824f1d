/**
 * 0046 — `memory_vectors` as a rowid table (issue 15, round 10). 0003 made it `WITHOUT ROWID`, whose rows
 * live in an index B-tree: a leaf cell holds at most ~1,000 bytes there, so every 256-d vector (1 KiB of
 * Float32) and every remote one (3 KiB at 768-d) went to an overflow page of its own, and the embedder
 * index took one more page. A memory formation's four vector rows wrote ~9 pages to the WAL (13 with a
 * 768-d remote embedder). In a rowid table a row of up to ~4,000 bytes stays in its leaf, new rows are
 * appended to the last leaf, and the primary key's index holds only the two key columns: 4.5 pages (7.6).
 * The columns, the key and the values are the same (the PostgreSQL copy and bundles see the same table).
 *
 * The embedder index goes: no read uses it (the index loads along the primary key, with `+v.embedder`
 * keeping SQLite off it; the missing-vector check looks a row up by its whole key).
 *
 * (Numbered 0046 so parallel features do not collide; versions may have gaps.)
 */
const sql = /* sql */ `
CREATE TABLE memory_vectors_rowid (
  memory_id  INTEGER NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
  embedder   TEXT    NOT NULL,
  vector     BLOB    NOT NULL,
  PRIMARY KEY (memory_id, embedder)
) STRICT;
INSERT INTO memory_vectors_rowid (memory_id, embedder, vector) SELECT memory_id, embedder, vector FROM memory_vectors ORDER BY memory_id, embedder;
DROP TABLE memory_vectors;
ALTER TABLE memory_vectors_rowid RENAME TO memory_vectors;
`;

export const memoryVectorsRowid = { version: 46, name: 'memory_vectors_rowid', sql } as const;
