/** Every SQL statement of the social store, prepared once when it opens. */
import type { Database } from './database.js';

export interface RelationshipRow {
  subject_id: string;
  other_kind: 'persona' | 'user';
  other_id: string;
  affinity: number;
  trust: number;
  respect: number;
  familiarity: number;
  interaction_count: number;
  total_interaction_ms: number;
  first_meeting: number | null;
  last_interaction: number | null;
}

export interface RelationshipEventRow {
  id: number;
  subject_id: string;
  other_kind: 'persona' | 'user';
  other_id: string;
  at: number;
  quality: number;
  source: string;
  conversation_id: string | null;
  context: string | null;
  affinity: number;
  trust: number;
  respect: number;
  familiarity: number;
  /** The exchange's message (migration 0051); null for interactions that are none. */
  message_id: number | null;
}

export interface MoodRow {
  valence: number;
  arousal: number;
  stress: number;
  curiosity: number;
  updated_at: number;
}

export interface MoodEventRow extends Omit<MoodRow, 'updated_at'> {
  id: number;
  persona_id: string;
  at: number;
  mood: string;
  cause: string;
  conversation_id: string | null;
}

export interface ThreadRow {
  id: number;
  conversation_id: string;
  label: string;
  centroid: string;
  is_branch: number;
  message_count: number;
  created_at: number;
  last_active_at: number;
}

export interface GroupRow {
  conversation_id: string;
  status: 'running' | 'paused' | 'finished';
  max_turns: number;
  turn_delay_ms: number;
  status_reason: string | null;
  updated_at: number;
}

export interface MemberRow {
  conversation_id: string;
  persona_id: string;
  joined_after: number;
  left_after: number | null;
  joined_at: number;
  left_at: number | null;
}

export interface SpeakerRow {
  persona_id: string | null;
  role: 'user' | 'assistant' | 'system';
  messages: number;
  tokens: number;
  characters: number;
  processing_ms_total: number;
  timed_replies: number;
}

type Key = { subject_id: string; other_kind: string; other_id: string };

const SPEAKER_COLUMNS = `persona_id, role, count(*) AS messages, coalesce(sum(tokens), 0) AS tokens,
  coalesce(sum(length(content)), 0) AS characters, coalesce(sum(processing_ms), 0) AS processing_ms_total,
  count(processing_ms) AS timed_replies`;

export type SocialStatements = ReturnType<typeof prepareSocialStatements>;

export function prepareSocialStatements(db: Database) {
  return {
    getRelationship: db.prepare<Key, RelationshipRow>(
      'SELECT * FROM relationships WHERE subject_id = @subject_id AND other_kind = @other_kind AND other_id = @other_id',
    ),
    listRelationships: db.prepare<[], RelationshipRow>('SELECT * FROM relationships ORDER BY subject_id, other_kind, other_id'),
    listRelationshipsOf: db.prepare<[string], RelationshipRow>(
      'SELECT * FROM relationships WHERE subject_id = ? ORDER BY other_kind, other_id',
    ),
    // INSERT ... SELECT FROM personas: a relationship of a persona that no longer exists changes nothing.
    upsertRelationship: db.prepare<RelationshipRow>(
      `INSERT INTO relationships (subject_id, other_kind, other_id, affinity, trust, respect, familiarity, interaction_count,
         total_interaction_ms, first_meeting, last_interaction)
       SELECT id, @other_kind, @other_id, @affinity, @trust, @respect, @familiarity, @interaction_count, @total_interaction_ms,
         @first_meeting, @last_interaction FROM personas WHERE id = @subject_id
       ON CONFLICT (subject_id, other_kind, other_id) DO UPDATE SET affinity = excluded.affinity, trust = excluded.trust,
         respect = excluded.respect, familiarity = excluded.familiarity, interaction_count = excluded.interaction_count,
         total_interaction_ms = excluded.total_interaction_ms, first_meeting = excluded.first_meeting,
         last_interaction = excluded.last_interaction`,
    ),
    insertRelationshipEvent: db.prepare<Omit<RelationshipEventRow, 'id'>, RelationshipEventRow>(
      `INSERT INTO relationship_events (subject_id, other_kind, other_id, at, quality, source, conversation_id, context,
         affinity, trust, respect, familiarity, message_id)
       SELECT @subject_id, @other_kind, @other_id, @at, @quality, @source, @conversation_id, @context, @affinity, @trust,
         @respect, @familiarity, @message_id WHERE EXISTS (SELECT 1 FROM personas WHERE id = @subject_id)
       RETURNING *`,
    ),
    // The event an exchange was recorded with (relationship_events_exchange): a job run again finds it.
    exchangeEvent: db.prepare<Key & { message_id: number }, RelationshipEventRow>(
      `SELECT * FROM relationship_events
       WHERE message_id = @message_id AND subject_id = @subject_id AND other_kind = @other_kind AND other_id = @other_id`,
    ),
    relationshipHistory: db.prepare<Key & { before_id: number; limit: number }, RelationshipEventRow>(
      `SELECT * FROM relationship_events
       WHERE subject_id = @subject_id AND other_kind = @other_kind AND other_id = @other_id AND id < @before_id
       ORDER BY id DESC LIMIT @limit`,
    ),
    relationshipEventsOf: db.prepare<[string], RelationshipEventRow>(
      'SELECT * FROM relationship_events WHERE conversation_id = ? ORDER BY id',
    ),

    getMood: db.prepare<[string], MoodRow>(
      'SELECT valence, arousal, stress, curiosity, updated_at FROM emotional_state WHERE persona_id = ?',
    ),
    saveMood: db.prepare<MoodRow & { persona_id: string }>(
      `INSERT INTO emotional_state (persona_id, valence, arousal, stress, curiosity, updated_at)
       SELECT id, @valence, @arousal, @stress, @curiosity, @updated_at FROM personas WHERE id = @persona_id
       ON CONFLICT (persona_id) DO UPDATE SET valence = excluded.valence, arousal = excluded.arousal, stress = excluded.stress,
         curiosity = excluded.curiosity, updated_at = excluded.updated_at`,
    ),
    insertMoodEvent: db.prepare<Omit<MoodEventRow, 'id'>>(
      `INSERT INTO mood_events (persona_id, at, valence, arousal, stress, curiosity, mood, cause, conversation_id)
       SELECT @persona_id, @at, @valence, @arousal, @stress, @curiosity, @mood, @cause, @conversation_id
       WHERE EXISTS (SELECT 1 FROM personas WHERE id = @persona_id)`,
    ),
    moodEventsOfPersona: db.prepare<[string, number], MoodEventRow>(
      'SELECT * FROM (SELECT * FROM mood_events WHERE persona_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id',
    ),
    moodEventsOfConversation: db.prepare<[string, number], MoodEventRow>(
      'SELECT * FROM (SELECT * FROM mood_events WHERE conversation_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id',
    ),
    moodEventsAll: db.prepare<[number], MoodEventRow>('SELECT * FROM (SELECT * FROM mood_events ORDER BY id DESC LIMIT ?) ORDER BY id'),

    listThreads: db.prepare<[string], ThreadRow>('SELECT * FROM topic_threads WHERE conversation_id = ? ORDER BY id'),
    currentThread: db.prepare<[string], number>('SELECT thread_id FROM thread_cursor WHERE conversation_id = ?').pluck(),
    insertThread: db.prepare<Omit<ThreadRow, 'id' | 'message_count'>, ThreadRow>(
      `INSERT INTO topic_threads (conversation_id, label, centroid, is_branch, message_count, created_at, last_active_at)
       VALUES (@conversation_id, @label, @centroid, @is_branch, 0, @created_at, @last_active_at) RETURNING *`,
    ),
    setCursor: db.prepare<[string, number]>(
      'INSERT INTO thread_cursor (conversation_id, thread_id) VALUES (?, ?) ON CONFLICT (conversation_id) DO UPDATE SET thread_id = excluded.thread_id',
    ),
    setCursorToThread: db.prepare<[number]>(
      `INSERT INTO thread_cursor (conversation_id, thread_id) SELECT conversation_id, id FROM topic_threads WHERE id = ?
       ON CONFLICT (conversation_id) DO UPDATE SET thread_id = excluded.thread_id`,
    ),
    fileMessage: db.prepare<[number, number]>(
      'INSERT OR REPLACE INTO message_threads (message_id, thread_id) SELECT id, ? FROM messages WHERE id = ?',
    ),
    updateThread: db
      .prepare<{ id: number; centroid: string; label: string; now: number }, number>(
        `UPDATE topic_threads SET centroid = @centroid, label = @label, last_active_at = @now,
           message_count = (SELECT count(*) FROM message_threads WHERE thread_id = @id) WHERE id = @id RETURNING message_count`,
      )
      .pluck(),
    threadOfMessages: db.prepare<[string], { message_id: number; thread_id: number }>(
      `SELECT mt.message_id, mt.thread_id FROM message_threads mt JOIN topic_threads t ON t.id = mt.thread_id
       WHERE t.conversation_id = ?`,
    ),

    threadsOfMessages: db.prepare<[string], { message_id: number; thread_id: number }>(
      'SELECT message_id, thread_id FROM message_threads WHERE message_id IN (SELECT value FROM json_each(?))',
    ),
    newestMessageOfThreads: db.prepare<[string], { thread_id: number; message_id: number }>(
      `SELECT thread_id, max(message_id) AS message_id FROM message_threads
       WHERE thread_id IN (SELECT value FROM json_each(?)) GROUP BY thread_id`,
    ),

    saveGroup: db.prepare<GroupRow>(
      `INSERT INTO group_conversations (conversation_id, status, max_turns, turn_delay_ms, status_reason, updated_at)
       VALUES (@conversation_id, @status, @max_turns, @turn_delay_ms, @status_reason, @updated_at)
       ON CONFLICT (conversation_id) DO UPDATE SET status = excluded.status, max_turns = excluded.max_turns,
         turn_delay_ms = excluded.turn_delay_ms, status_reason = excluded.status_reason, updated_at = excluded.updated_at`,
    ),
    getGroup: db.prepare<[string], GroupRow>('SELECT * FROM group_conversations WHERE conversation_id = ?'),
    listGroups: db.prepare<[string], GroupRow>('SELECT * FROM group_conversations WHERE status = ? ORDER BY updated_at'),
    addMember: db.prepare<MemberRow>(
      `INSERT INTO group_members (conversation_id, persona_id, joined_after, left_after, joined_at, left_at)
       VALUES (@conversation_id, @persona_id, @joined_after, @left_after, @joined_at, @left_at)
       ON CONFLICT (conversation_id, persona_id) DO UPDATE SET joined_after = excluded.joined_after,
         left_after = NULL, joined_at = excluded.joined_at, left_at = NULL`,
    ),
    // A persona that joins later becomes a participant too (conversation.personaIds, per-persona analytics).
    addParticipant: db.prepare<{ conversation_id: string; persona_id: string }>(
      `INSERT OR IGNORE INTO conversation_personas (conversation_id, persona_id, position)
       SELECT @conversation_id, @persona_id, coalesce(max(position) + 1, 0) FROM conversation_personas WHERE conversation_id = @conversation_id`,
    ),
    markLeft: db.prepare<{ conversation_id: string; persona_id: string; left_after: number; now: number }>(
      `UPDATE group_members SET left_after = @left_after, left_at = @now
       WHERE conversation_id = @conversation_id AND persona_id = @persona_id AND left_after IS NULL`,
    ),
    members: db.prepare<[string], MemberRow>('SELECT * FROM group_members WHERE conversation_id = ? ORDER BY joined_at, persona_id'),
    lastMessageId: db.prepare<[string], number>('SELECT coalesce(max(id), 0) FROM messages WHERE conversation_id = ?').pluck(),

    speakersOfConversation: db.prepare<[string], SpeakerRow>(
      `SELECT ${SPEAKER_COLUMNS} FROM messages WHERE conversation_id = ? GROUP BY role, persona_id ORDER BY role, persona_id`,
    ),
    speakersOfPersona: db.prepare<[string], SpeakerRow>(
      `SELECT ${SPEAKER_COLUMNS} FROM messages
       WHERE conversation_id IN (SELECT conversation_id FROM conversation_personas WHERE persona_id = ?)
       GROUP BY role, persona_id ORDER BY role, persona_id`,
    ),
    speakersAll: db.prepare<[], SpeakerRow>(`SELECT ${SPEAKER_COLUMNS} FROM messages GROUP BY role, persona_id ORDER BY role, persona_id`),
    conversationCountAll: db.prepare<[], { total: number; active: number; groups: number }>(
      `SELECT count(*) AS total, count(*) FILTER (WHERE status = 'active') AS active, count(*) FILTER (WHERE kind = 'personas') AS groups
       FROM conversations`,
    ),
    conversationCountOf: db.prepare<[string], { total: number; active: number; groups: number }>(
      `SELECT count(*) AS total, count(*) FILTER (WHERE status = 'active') AS active, count(*) FILTER (WHERE kind = 'personas') AS groups
       FROM conversations WHERE id IN (SELECT conversation_id FROM conversation_personas WHERE persona_id = ?)`,
    ),
  };
}
