/**
 * 0051 — `relationship_events.message_id`: the message whose exchange an interaction counts (a chat turn's
 * relationship job: the person's message; a group turn: the reply), unique per relationship. A job or an
 * after-reply step run again after a crash (its write committed, its completion not: the job queue writes a
 * completion with its next claim) finds its exchange recorded and changes nothing, so `interaction_count`
 * and the timeline count each exchange once. Null for interactions that are no exchange of a turn
 * (`relationship.update`, imports of older data): those are always applied. A foreign key, set to null when
 * the message is deleted (retention, a deleted conversation): a copy (bundle, backup, `migrate-store`)
 * renumbers the messages it carries and writes a reference to one it leaves out as null, so a key never
 * names another server's message; an event keeps its figures without it. An exchange whose message is gone
 * before its job runs is recorded without a key (`social-statements.ts`).
 *
 * (Numbered 0051 so parallel features do not collide; versions may have gaps.)
 */
const sql = /* sql */ `
ALTER TABLE relationship_events ADD COLUMN message_id INTEGER REFERENCES messages (id) ON DELETE SET NULL;
CREATE UNIQUE INDEX relationship_events_exchange ON relationship_events (message_id, subject_id, other_kind, other_id)
  WHERE message_id IS NOT NULL;
`;

export const relationshipExchanges = { version: 51, name: 'relationship_exchanges', sql } as const;
