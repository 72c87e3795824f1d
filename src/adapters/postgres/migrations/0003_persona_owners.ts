/** 0003 — who owns a persona (SQLite migration 0024, docs/security.md): NULL for shared personas. */
const sql = /* sql */ `
ALTER TABLE personas ADD COLUMN owner_user_id TEXT;
CREATE INDEX personas_owner ON personas (owner_user_id) WHERE owner_user_id IS NOT NULL;
`;

export const personaOwners = { version: 3, name: 'persona_owners (SQLite 0024)', sql };
