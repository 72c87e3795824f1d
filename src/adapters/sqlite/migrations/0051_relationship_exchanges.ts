/**
 * 0051 — `relationship_events.message_id`: the message whose exchange an interaction counts (a chat turn's
 * relationship job: the person's message; a group turn: the reply), unique per relationship. A job or an
 * after-reply step run again after a crash (its write committed, its completion not: the job queue writes a
 * completion with its next claim) finds its exchange recorded and changes nothing, so `interaction_count`
 * and the timeline count each exchange once. Null for interactions that are no exchange of a turn
 * (`relationship.update`, imports of older data): those are always applied. Not a foreign key: message ids
 * are never reused (AUTOINCREMENT), and retention deleting a message must not rewrite the timeline.
 *
 * (Numbered 0051 so parallel features do not collide; versions may have gaps.)
 */
const sql = /* sql */ `
ALTER TABLE relationship_events ADD COLUMN message_id INTEGER;
CREATE UNIQUE INDEX relationship_events_exchange ON relationship_events (message_id, subject_id, other_kind, other_id)
  WHERE message_id IS NOT NULL;
`;

export const relationshipExchanges = { version: 51, name: 'relationship_exchanges', sql } as const;
