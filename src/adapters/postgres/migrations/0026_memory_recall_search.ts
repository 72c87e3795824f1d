/**
 * 0026 — offline paraphrase recall on PostgreSQL (issue 13): full-text search over a memory's recall
 * terms (its WordNet terms and doc2query text, `memory.expand` fills them in) as well as its content,
 * as SQLite's FTS5 table does with its two columns. One weighted `tsvector`: the content as weight A,
 * the recall terms as weight B, ranked by `ts_rank` with B worth RECALL_TERMS_WEIGHT of A
 * (pg-memory-store.ts). `content_tsv` stays: it counts how many memories say a word in their own text.
 * PostgreSQL only (SQLite has had both columns since its 0025).
 */
const sql = /* sql */ `
ALTER TABLE memories ADD COLUMN search_tsv TSVECTOR GENERATED ALWAYS AS (
  setweight(to_tsvector('english', content), 'A') || setweight(to_tsvector('english', recall_terms), 'B')
) STORED;
CREATE INDEX memories_search ON memories USING GIN (search_tsv);
`;

export const memoryRecallSearch = { version: 26, name: 'memory_recall_search (PostgreSQL only)', sql } as const;
