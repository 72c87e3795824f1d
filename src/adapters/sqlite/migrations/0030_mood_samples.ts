/**
 * 0030 — the history of each persona's mood and social energy (docs/social.md, "Mood and energy over
 * time"): a sample whenever either changes, read by `emotional.history` and pruned by the retention
 * clean-up. No user, session or conversation ids: a sample is as public as the persona's current mood.
 * (Numbered 0030 so parallel features do not collide; versions may have gaps.)
 */
const sql = /* sql */ `
CREATE TABLE mood_samples (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  persona_id  TEXT    NOT NULL REFERENCES personas (id) ON DELETE CASCADE,
  at          INTEGER NOT NULL,
  cause       TEXT    NOT NULL CHECK (cause IN ('turn', 'chat', 'group', 'manual', 'rest')),
  mood        TEXT    NOT NULL,
  valence     REAL    NOT NULL,
  arousal     REAL    NOT NULL,
  stress      REAL    NOT NULL,
  curiosity   REAL    NOT NULL,
  energy      REAL    NOT NULL,
  max_energy  REAL    NOT NULL,
  fatigue     REAL    NOT NULL
) STRICT;
CREATE INDEX mood_samples_persona ON mood_samples (persona_id, id);
CREATE INDEX mood_samples_at ON mood_samples (at);
`;

export const moodSamples = { version: 30, name: 'mood_samples', sql } as const;
