/**
 * 0002 — memory recall (issue 13), the counterpart of SQLite's 0025: the memory type as the client named
 * it, the recall-terms column and its thesaurus version, and the LLM's canonical fact and questions
 * (doc2query). PostgreSQL's full-text search does not search the recall terms yet (docs/memory.md,
 * "On PostgreSQL"); the columns keep the two schemas alike for bundles and `migrate-store`.
 */
const sql = /* sql */ `
ALTER TABLE memories ADD COLUMN type_label TEXT;
ALTER TABLE memories ADD COLUMN recall_terms TEXT NOT NULL DEFAULT '';
ALTER TABLE memories ADD COLUMN expanded_with TEXT;
ALTER TABLE memories ADD COLUMN doc2query TEXT;
CREATE INDEX memories_user_facts ON memories (persona_id, user_id, importance) WHERE kind = 'user_fact';
`;

export const memoryRecall = { version: 2, name: 'memory_recall', sql } as const;
