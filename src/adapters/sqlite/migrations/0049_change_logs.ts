/**
 * 0049 — `memory_changes` and `relationship_changes`: which memory row, share or relationship was written
 * or removed, in commit order, so every connection's caches follow the commits of the others (a jobs
 * worker thread on its own connection, `persona-mcp mcp` or the CLI beside a server) at their next read,
 * as 0047's log does for the vector index — see connection-follow.ts. Filled by triggers in the writer's
 * own transaction; pruned from the oldest (the `seq` of the newest row only grows).
 *
 * One log per cached table rather than one for all: each reader's range read then holds only rows it
 * applies (a vector index reads no row of the read cache's, the relationships' follower no memory's).
 *
 * `memory_changes.change`: 1 inserted, 2 its text or owner changed (the full-text mirror and the word
 * counts re-read it), 3 another column changed (importance, recalls, decay: the read cache), 4 deleted,
 * 5 its shares changed. An update that moves a memory to another kind, persona or conversation also logs
 * the old values (the read cache drops the facts block or summary it was in).
 */
const sql = /* sql */ `
CREATE TABLE memory_changes (
  seq              INTEGER PRIMARY KEY,
  memory_id        INTEGER NOT NULL,
  kind             TEXT,
  persona_id       TEXT,
  conversation_id  TEXT,
  change           INTEGER NOT NULL
) STRICT;
CREATE TRIGGER memory_changes_inserted AFTER INSERT ON memories BEGIN
  INSERT INTO memory_changes (memory_id, kind, persona_id, conversation_id, change)
  VALUES (new.id, new.kind, new.persona_id, new.conversation_id, 1);
END;
CREATE TRIGGER memory_changes_updated AFTER UPDATE ON memories BEGIN
  INSERT INTO memory_changes (memory_id, kind, persona_id, conversation_id, change)
  SELECT old.id, old.kind, old.persona_id, old.conversation_id, 2
  WHERE old.kind IS NOT new.kind OR old.persona_id IS NOT new.persona_id OR old.conversation_id IS NOT new.conversation_id;
  INSERT INTO memory_changes (memory_id, kind, persona_id, conversation_id, change)
  VALUES (new.id, new.kind, new.persona_id, new.conversation_id,
    CASE WHEN old.content IS NOT new.content OR old.recall_terms IS NOT new.recall_terms
           OR old.persona_id IS NOT new.persona_id OR old.user_id IS NOT new.user_id THEN 2 ELSE 3 END);
END;
CREATE TRIGGER memory_changes_deleted AFTER DELETE ON memories BEGIN
  INSERT INTO memory_changes (memory_id, kind, persona_id, conversation_id, change)
  VALUES (old.id, old.kind, old.persona_id, old.conversation_id, 4);
END;
CREATE TRIGGER memory_changes_share_inserted AFTER INSERT ON memory_shares BEGIN
  INSERT INTO memory_changes (memory_id, change) VALUES (new.memory_id, 5);
END;
CREATE TRIGGER memory_changes_share_updated AFTER UPDATE ON memory_shares BEGIN
  INSERT INTO memory_changes (memory_id, change) VALUES (new.memory_id, 5);
END;
CREATE TRIGGER memory_changes_share_deleted AFTER DELETE ON memory_shares BEGIN
  INSERT INTO memory_changes (memory_id, change) VALUES (old.memory_id, 5);
END;

CREATE TABLE relationship_changes (
  seq         INTEGER PRIMARY KEY,
  subject_id  TEXT NOT NULL,
  other_kind  TEXT NOT NULL,
  other_id    TEXT NOT NULL
) STRICT;
CREATE TRIGGER relationship_changes_inserted AFTER INSERT ON relationships BEGIN
  INSERT INTO relationship_changes (subject_id, other_kind, other_id) VALUES (new.subject_id, new.other_kind, new.other_id);
END;
CREATE TRIGGER relationship_changes_updated AFTER UPDATE ON relationships BEGIN
  INSERT INTO relationship_changes (subject_id, other_kind, other_id) VALUES (new.subject_id, new.other_kind, new.other_id);
END;
CREATE TRIGGER relationship_changes_deleted AFTER DELETE ON relationships BEGIN
  INSERT INTO relationship_changes (subject_id, other_kind, other_id) VALUES (old.subject_id, old.other_kind, old.other_id);
END;
`;

export const changeLogs = { version: 49, name: 'change_logs', sql } as const;
