/**
 * 0004 — social dynamics: relationships (persona → persona or user) with their interaction timeline,
 * emotional state and its history, topic threads, and group conversations with who witnessed what.
 * (0002/0003 belong to long-term memory; the runner applies any recorded-missing version, so the
 * numbers may land in either order.)
 */
const sql = /* sql */ `
CREATE TABLE relationships (
  subject_id         TEXT    NOT NULL REFERENCES personas (id) ON DELETE CASCADE,
  other_kind         TEXT    NOT NULL CHECK (other_kind IN ('persona', 'user')),
  -- A persona id, or a user id ('local' for the anonymous local user). Not a foreign key: the
  -- subject keeps its memory of a persona that was deleted.
  other_id           TEXT    NOT NULL,
  affinity           REAL    NOT NULL,
  trust              REAL    NOT NULL,
  respect            REAL    NOT NULL,
  familiarity        REAL    NOT NULL,
  interaction_count  INTEGER NOT NULL,
  total_interaction_ms INTEGER NOT NULL,
  first_meeting      INTEGER,
  last_interaction   INTEGER,
  PRIMARY KEY (subject_id, other_kind, other_id)
) STRICT, WITHOUT ROWID;

-- The interaction timeline (relationship.history, analytics): one row per applied interaction.
CREATE TABLE relationship_events (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  subject_id       TEXT    NOT NULL REFERENCES personas (id) ON DELETE CASCADE,
  other_kind       TEXT    NOT NULL,
  other_id         TEXT    NOT NULL,
  at               INTEGER NOT NULL,
  quality          REAL    NOT NULL,
  -- 'chat' (heuristic after a chat turn), 'group', 'manual' (relationship.update), 'llm' (model's judgement)
  source           TEXT    NOT NULL,
  conversation_id  TEXT,
  context          TEXT,
  affinity         REAL    NOT NULL,
  trust            REAL    NOT NULL,
  respect          REAL    NOT NULL,
  familiarity      REAL    NOT NULL
) STRICT;
CREATE INDEX relationship_events_pair ON relationship_events (subject_id, other_kind, other_id, id);
CREATE INDEX relationship_events_conversation ON relationship_events (conversation_id);

CREATE TABLE emotional_state (
  persona_id  TEXT    PRIMARY KEY REFERENCES personas (id) ON DELETE CASCADE,
  valence     REAL    NOT NULL,
  arousal     REAL    NOT NULL,
  stress      REAL    NOT NULL,
  curiosity   REAL    NOT NULL,
  updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE mood_events (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  persona_id       TEXT    NOT NULL REFERENCES personas (id) ON DELETE CASCADE,
  at               INTEGER NOT NULL,
  valence          REAL    NOT NULL,
  arousal          REAL    NOT NULL,
  stress           REAL    NOT NULL,
  curiosity        REAL    NOT NULL,
  mood             TEXT    NOT NULL,
  cause            TEXT    NOT NULL,
  conversation_id  TEXT
) STRICT;
CREATE INDEX mood_events_persona ON mood_events (persona_id, id);
CREATE INDEX mood_events_conversation ON mood_events (conversation_id);

CREATE TABLE topic_threads (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  conversation_id  TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  label            TEXT    NOT NULL,
  -- Sum of the term vectors of its messages, as JSON {word: count}.
  centroid         TEXT    NOT NULL CHECK (json_valid(centroid)),
  -- 1 when opened by conversation.branch rather than detected.
  is_branch        INTEGER NOT NULL DEFAULT 0,
  message_count    INTEGER NOT NULL DEFAULT 0,
  created_at       INTEGER NOT NULL,
  last_active_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX topic_threads_conversation ON topic_threads (conversation_id, id);

CREATE TABLE message_threads (
  message_id  INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,
  thread_id   INTEGER NOT NULL REFERENCES topic_threads (id) ON DELETE CASCADE
) STRICT;
CREATE INDEX message_threads_thread ON message_threads (thread_id);

CREATE TABLE thread_cursor (
  conversation_id  TEXT    PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
  thread_id        INTEGER NOT NULL REFERENCES topic_threads (id) ON DELETE CASCADE
) STRICT;

CREATE TABLE group_conversations (
  conversation_id  TEXT    PRIMARY KEY REFERENCES conversations (id) ON DELETE CASCADE,
  -- 'running' (the engine takes turns), 'paused' (stopped by an error, waits for a nudge), 'finished'
  status           TEXT    NOT NULL CHECK (status IN ('running', 'paused', 'finished')),
  max_turns        INTEGER NOT NULL,
  turn_delay_ms    INTEGER NOT NULL,
  status_reason    TEXT,
  updated_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX group_conversations_status ON group_conversations (status);

-- Who was present when: a member witnessed the messages with joined_after < id <= left_after.
CREATE TABLE group_members (
  conversation_id  TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  persona_id       TEXT    NOT NULL,
  joined_after     INTEGER NOT NULL,
  left_after       INTEGER,
  joined_at        INTEGER NOT NULL,
  left_at          INTEGER,
  PRIMARY KEY (conversation_id, persona_id)
) STRICT, WITHOUT ROWID;
`;

export const social = { version: 4, name: 'social', sql };
