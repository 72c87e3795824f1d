/**
 * 0036 — indexes for the two reads every chat turn's memory recall makes besides the search (issue 15):
 *
 * - the "what I know about you" block (`userFacts`): a persona's facts about one user, most important,
 *   then newest first. The index of 0025 stopped at importance, so SQLite read every such fact and sorted
 *   them in a temp B-tree on each turn (~0.2 ms at 125 facts, growing with them); with the order's whole
 *   key it reads the first few entries backwards and stops.
 * - the conversation's latest summary (`latestSummary`): no index led to a conversation's summaries, so
 *   each turn scanned the whole memories table for them.
 *
 * (Numbered 0036 so parallel features do not collide; versions may have gaps.)
 */
const sql = /* sql */ `
DROP INDEX memories_user_facts;
CREATE INDEX memories_user_facts ON memories (persona_id, user_id, importance, created_at, id) WHERE kind = 'user_fact';
CREATE INDEX memories_summaries ON memories (conversation_id, id) WHERE kind = 'summary';
`;

export const memoryReadIndexes = { version: 36, name: 'memory_read_indexes', sql } as const;
