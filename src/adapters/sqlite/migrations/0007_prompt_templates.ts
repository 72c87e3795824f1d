/**
 * 0007 — prompt templates (issue 17): every saved version of a persona's templates per task (`chat`: the
 * system prompt template; `post_history`: the instruction sent after the conversation), newest = current.
 */
const sql = /* sql */ `
CREATE TABLE prompt_templates (
  persona_id  TEXT    NOT NULL REFERENCES personas (id) ON DELETE CASCADE,
  task        TEXT    NOT NULL CHECK (task IN ('chat', 'post_history')),
  version     INTEGER NOT NULL,
  template    TEXT    NOT NULL,
  created_at  INTEGER NOT NULL,
  -- Who saved it (user or session), for people reading the database.
  created_by  TEXT,
  PRIMARY KEY (persona_id, task, version)
) STRICT, WITHOUT ROWID;
`;

export const promptTemplates = { version: 7, name: 'prompt_templates', sql };
