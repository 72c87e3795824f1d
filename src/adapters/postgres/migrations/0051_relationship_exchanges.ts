/**
 * 0051 — `relationship_events.message_id`, the message whose exchange an interaction counts, unique per
 * relationship: SQLite migration 0051 (see there), so that a relationship job run again after a crash
 * counts its exchange once. (Numbered as its SQLite counterpart so parallel features do not collide;
 * versions may have gaps.)
 */
const sql = /* sql */ `
ALTER TABLE relationship_events ADD COLUMN message_id BIGINT;
CREATE UNIQUE INDEX relationship_events_exchange ON relationship_events (message_id, subject_id, other_kind, other_id)
  WHERE message_id IS NOT NULL;
`;

export const relationshipExchanges = { version: 51, name: 'relationship_exchanges', sql } as const;
