/**
 * Every SQL statement the store runs, prepared once when the store opens. Named parameters (`@now`)
 * bind from objects; the row types come from `rows.ts`.
 */
import type { Database } from './database.js';
import {
  CONVERSATION_COLUMNS,
  type ConversationRow,
  type MessageRow,
  type PersonaRow,
  type PersonaStateRow,
  type SessionRow,
} from './rows.js';

type NewMessage = Omit<MessageRow, 'id'>;
interface EndParams {
  now: number;
  reason: string;
}

export type Statements = ReturnType<typeof prepareStatements>;

export function prepareStatements(db: Database) {
  return {
    // personas
    listPersonas: db.prepare<[], PersonaRow>('SELECT * FROM personas ORDER BY lower(name)'),
    addAfterReplyPending: db.prepare<[number, number | null, string, string | null, number, string]>(
      'INSERT INTO after_reply_pending (reply_message_id, user_message_id, session_id, user_id, created_at, owner) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    removeAfterReplyPending: db.prepare<[number]>('DELETE FROM after_reply_pending WHERE reply_message_id = ?'),
    afterReplyPending: db.prepare<
      [string],
      { reply_message_id: number; conversation_id: string; user_message_id: number | null; session_id: string; user_id: string | null; owner: string | null }
    >(
      `SELECT p.reply_message_id, m.conversation_id, p.user_message_id, p.session_id, p.user_id, p.owner
       FROM after_reply_pending p JOIN messages m ON m.id = p.reply_message_id WHERE p.owner IS NOT ? ORDER BY p.reply_message_id`,
    ),
    // only while the row is still the named owner's: two processes taking over one gone owner's rows get each row once
    takeOverAfterReply: db.prepare<{ owner: string; replyMessageId: number; formerOwner: string | null }>(
      'UPDATE after_reply_pending SET owner = @owner WHERE reply_message_id = @replyMessageId AND owner IS @formerOwner',
    ),
    getPersona: db.prepare<[string], PersonaRow>('SELECT * FROM personas WHERE id = ?'),
    findPersonaByName: db.prepare<[string], PersonaRow>('SELECT * FROM personas WHERE lower(name) = lower(?)'),
    insertPersona: db.prepare<PersonaRow, PersonaRow>(
      `INSERT INTO personas (id, name, definition, is_builtin, created_at, updated_at, owner_user_id)
       VALUES (@id, @name, @definition, @is_builtin, @created_at, @updated_at, @owner_user_id) RETURNING *`,
    ),
    updatePersona: db.prepare<{ id: string; name: string; definition: string; now: number }, PersonaRow>(
      'UPDATE personas SET name = @name, definition = @definition, updated_at = @now WHERE id = @id RETURNING *',
    ),
    deletePersona: db.prepare<[string]>('DELETE FROM personas WHERE id = ?'),
    endPersonaConversations: db.prepare<EndParams & { personaId: string }>(
      `UPDATE conversations SET status = 'ended', ended_at = @now, end_reason = @reason
       WHERE status = 'active'
         AND id IN (SELECT conversation_id FROM conversation_personas WHERE persona_id = @personaId)`,
    ),
    isSeeded: db.prepare<[string], 1>('SELECT 1 FROM persona_seeds WHERE id = ?').pluck(),
    recordSeed: db.prepare<[string, number]>('INSERT OR IGNORE INTO persona_seeds (id, seeded_at) VALUES (?, ?)'),
    getPersonaState: db.prepare<[string], PersonaStateRow>(
      'SELECT energy, fatigue, updated_at, cooldown_until FROM persona_state WHERE persona_id = ?',
    ),
    // INSERT ... SELECT FROM personas: a state for a persona that does not exist (any more) changes no row.
    savePersonaState: db.prepare<PersonaStateRow & { personaId: string }>(
      `INSERT INTO persona_state (persona_id, energy, fatigue, updated_at, cooldown_until)
       SELECT id, @energy, @fatigue, @updated_at, @cooldown_until FROM personas WHERE id = @personaId
       ON CONFLICT (persona_id) DO UPDATE SET energy = excluded.energy, fatigue = excluded.fatigue,
         updated_at = excluded.updated_at, cooldown_until = excluded.cooldown_until`,
    ),

    // sessions
    getSession: db.prepare<[string], SessionRow>('SELECT * FROM sessions WHERE id = ?'),
    // A session's owner is set once, when it is created: nothing rewrites it (a session is never taken over).
    claimSession: db.prepare<{ id: string; userId: string | null; now: number }>(
      `INSERT INTO sessions (id, user_id, active_persona_id, created_at, last_seen_at) VALUES (@id, @userId, NULL, @now, @now)
       ON CONFLICT (id) DO NOTHING`,
    ),
    touchSession: db.prepare<{ id: string; now: number; userId: string | null; setsUser: 0 | 1 }, SessionRow>(
      `INSERT INTO sessions (id, user_id, active_persona_id, created_at, last_seen_at)
       VALUES (@id, @userId, NULL, @now, @now)
       ON CONFLICT (id) DO UPDATE SET last_seen_at = excluded.last_seen_at,
         user_id = CASE WHEN @setsUser AND sessions.user_id IS NULL THEN excluded.user_id ELSE sessions.user_id END
       RETURNING *`,
    ),
    setActivePersona: db.prepare<{ id: string; personaId: string | null; now: number }, SessionRow>(
      `INSERT INTO sessions (id, user_id, active_persona_id, created_at, last_seen_at)
       VALUES (@id, NULL, @personaId, @now, @now)
       ON CONFLICT (id) DO UPDATE SET active_persona_id = excluded.active_persona_id,
         last_seen_at = excluded.last_seen_at
       RETURNING *`,
    ),
    ensureSession: db.prepare<[string, number, number]>(
      'INSERT OR IGNORE INTO sessions (id, user_id, active_persona_id, created_at, last_seen_at) VALUES (?, NULL, NULL, ?, ?)',
    ),

    // conversations
    getConversation: db.prepare<[string], ConversationRow>(
      `SELECT ${CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = ?`,
    ),
    // a turn's conversation still open to its persona, checked in the turn's transaction (its record was read at admission)
    isActiveWith: db
      .prepare<{ id: string; personaId: string }, number>(
        `SELECT 1 FROM conversations c
         JOIN conversation_personas member ON member.conversation_id = c.id AND member.persona_id = @personaId
         WHERE c.id = @id AND c.status = 'active'`,
      )
      .pluck(),
    findActiveConversation: db.prepare<{ sessionId: string; personaId: string }, ConversationRow>(
      `SELECT ${CONVERSATION_COLUMNS} FROM conversations c
       JOIN conversation_personas member ON member.conversation_id = c.id AND member.persona_id = @personaId
       WHERE c.session_id = @sessionId AND c.status = 'active' AND c.kind = 'user'
       ORDER BY c.started_at DESC, c.rowid DESC LIMIT 1`,
    ),
    listConversations: db.prepare<{ sessionId: string; limit: number }, ConversationRow>(
      `SELECT ${CONVERSATION_COLUMNS} FROM conversations c WHERE c.session_id = @sessionId
       ORDER BY c.started_at DESC, c.rowid DESC LIMIT @limit`,
    ),
    // Separate from the above so that the (session_id, status, started_at) index also gives the order.
    listConversationsByStatus: db.prepare<{ sessionId: string; status: string; limit: number }, ConversationRow>(
      `SELECT ${CONVERSATION_COLUMNS} FROM conversations c WHERE c.session_id = @sessionId AND c.status = @status
       ORDER BY c.started_at DESC, c.rowid DESC LIMIT @limit`,
    ),
    insertConversation: db.prepare<Omit<ConversationRow, 'persona_ids' | 'status' | 'ended_at' | 'end_reason'>>(
      `INSERT INTO conversations (id, session_id, kind, topic, context, status, started_at, token_budget)
       VALUES (@id, @session_id, @kind, @topic, @context, 'active', @started_at, @token_budget)`,
    ),
    insertParticipant: db.prepare<[string, string, number]>(
      'INSERT INTO conversation_personas (conversation_id, persona_id, position) VALUES (?, ?, ?)',
    ),
    endSessionUserConversations: db.prepare<EndParams & { sessionId: string; personaId: string }>(
      `UPDATE conversations SET status = 'ended', ended_at = @now, end_reason = @reason
       WHERE session_id = @sessionId AND status = 'active' AND kind = 'user'
         AND id IN (SELECT conversation_id FROM conversation_personas WHERE persona_id = @personaId)`,
    ),
    endConversation: db.prepare<EndParams & { id: string }>(
      `UPDATE conversations SET status = 'ended', ended_at = @now, end_reason = @reason
       WHERE id = @id AND status = 'active'`,
    ),
    conversationStats: db.prepare<
      [string],
      { turns: number; tokens_used: number; first_message_at: number | null; last_message_at: number | null }
    >(
      `SELECT count(*) FILTER (WHERE role = 'assistant') AS turns,
              coalesce(sum(tokens), 0) + coalesce(sum(prompt_tokens), 0) AS tokens_used,
              min(created_at) AS first_message_at, max(created_at) AS last_message_at
       FROM messages WHERE conversation_id = ?`,
    ),

    // messages
    // INSERT ... WHERE EXISTS: a message for a missing conversation inserts nothing (and returns no row).
    insertMessage: db.prepare<NewMessage, MessageRow>(
      `INSERT INTO messages (conversation_id, role, persona_id, content, tokens, prompt_tokens, processing_ms, created_at)
       SELECT @conversation_id, @role, @persona_id, @content, @tokens, @prompt_tokens, @processing_ms, @created_at
       WHERE EXISTS (SELECT 1 FROM conversations WHERE id = @conversation_id)
       RETURNING *`,
    ),
    recentMessages: db.prepare<[string, number], MessageRow>(
      `SELECT * FROM (SELECT * FROM messages WHERE conversation_id = ? ORDER BY id DESC LIMIT ?)
       ORDER BY id ASC`,
    ),
    messagesBefore: db.prepare<[string, number, number], MessageRow>(
      'SELECT * FROM messages WHERE conversation_id = ? AND id < ? ORDER BY id DESC LIMIT ?',
    ),

    // retention
    endExpiredSessionConversations: db.prepare<EndParams & { cutoff: number }>(
      `UPDATE conversations SET status = 'ended', ended_at = @now, end_reason = @reason
       WHERE status = 'active' AND session_id IN (SELECT id FROM sessions WHERE last_seen_at < @cutoff)`,
    ),
    deleteExpiredSessions: db.prepare<[number]>('DELETE FROM sessions WHERE last_seen_at < ?'),
    deleteMessagesBefore: db.prepare<[number]>('DELETE FROM messages WHERE created_at < ?'),
    // The per-conversation cap in two steps: which conversations are over it (one pass over the
    // (conversation_id, id) index), then each one's surplus by its index. Ranking every stored message
    // with a window function instead cost 150 ms of CPU at 200k messages and 500 ms at 1M with nothing to
    // delete (7-11x the two steps), on the event loop, 5 s after start and every hour (bench/README.md, round 5).
    conversationsOverCap: db.prepare<[number], { conversation_id: string }>(
      'SELECT conversation_id FROM messages GROUP BY conversation_id HAVING count(*) > ?',
    ),
    deleteConversationMessagesBeyond: db.prepare<{ conversationId: string; keep: number }>(
      `DELETE FROM messages WHERE conversation_id = @conversationId AND id <= (
         SELECT id FROM messages WHERE conversation_id = @conversationId ORDER BY id DESC LIMIT 1 OFFSET @keep)`,
    ),

    // health
    ping: db.prepare<[], number>('SELECT 1').pluck(),
    databaseSize: db
      .prepare<[], number>('SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()')
      .pluck(),
  };
}
