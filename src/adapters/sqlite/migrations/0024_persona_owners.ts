/**
 * 0024 — who owns a persona. A persona a plain user created (persona.create, persona.import_card)
 * belongs to that user, who may change or delete it; the shipped personas and those an admin made
 * are shared (NULL) and only admins change them (docs/security.md).
 */
const sql = /* sql */ `
ALTER TABLE personas ADD COLUMN owner_user_id TEXT;
CREATE INDEX personas_owner ON personas (owner_user_id) WHERE owner_user_id IS NOT NULL;
`;

export const personaOwners = { version: 24, name: 'persona_owners', sql } as const;
