/**
 * The `Store` port on PostgreSQL. Same rows and rules as `SqliteStore` (the mappers of `../sqlite/rows.ts`
 * are shared), the same contract tests (test/contract). Composite writes run in one transaction; those
 * that read then write lock what they change with an advisory lock (a session, a persona), since several
 * nodes may write at once where SQLite had one writer.
 */
import { randomBytes } from 'node:crypto';
import type { PersonaDefinition } from '../../domain/persona.js';
import type { SocialEnergyState } from '../../domain/social-energy.js';
import type {
  AssistantTurnInput,
  ConversationRecord,
  ConversationStats,
  ConversationStatus,
  HistoryPage,
  MessageRecord,
  PendingAfterReply,
  PersonaRecord,
  PersonaStateChange,
  RetentionPolicy,
  RetentionResult,
  SessionRecord,
  Store,
  StoreHealth,
  UserTurnInput,
} from '../../ports/store.js';
import {
  conversationConflict,
  conversationNotActive,
  conversationNotFound,
  personaConflict,
  personaNotFound,
} from '../sqlite/errors.js';
import {
  assistantMessage,
  conversationParams,
  messageParams,
  personaParams,
  personaStateParams,
  definitionJson,
  toConversationRecord,
  toMessageRecord,
  toPersonaRecord,
  toPersonaState,
  toSessionRecord,
  userMessage,
  type ConversationRow,
  type MessageRow,
  type PersonaRow,
  type PersonaStateRow,
  type SessionRow,
} from '../sqlite/rows.js';
import { END_REASONS } from '../sqlite/sqlite-store.js';
import { runAfterReply } from '../after-reply-scope.js';
import { repliesOwned } from './after-reply-fence.js';
import { PostgresDatabase, type TransactionClient } from './database.js';
import { goneOwners, nodePresence, OWNER_GONE, type NodePresence } from './node-presence.js';
import { pgWriteBatch } from './write-batch.js';

/**
 * How long a reply's `after_reply_pending` record stays this node's while its node still looks
 * connected: past it, another node may redo the writes (a stuck node, or a host gone before PostgreSQL
 * noticed). Well beyond a write batch's longest window (`database.writeBatchMs`, at most 60 s).
 */
export const AFTER_REPLY_LEASE_MS = 120_000;

type Db = Pick<TransactionClient, 'rows' | 'one' | 'query'>;
type NewConversation = Parameters<Store['startConversation']>[0];

/** The select list giving a `ConversationRow` from `conversations AS c` (persona ids as a JSON array). */
export const PG_CONVERSATION_COLUMNS = `c.id, c.session_id, c.kind, c.topic, c.context, c.status, c.started_at,
  c.ended_at, c.end_reason, c.token_budget,
  (SELECT coalesce(json_agg(cp.persona_id ORDER BY cp.position), '[]'::json)::text FROM conversation_personas cp
    WHERE cp.conversation_id = c.id) AS persona_ids`;

const PERSONA_COLUMNS = 'id, name, definition, is_builtin, created_at, updated_at, owner_user_id';

function newConversationId(): string {
  return `conv_${randomBytes(8).toString('hex')}`;
}

export class PostgresStore implements Store {
  /** This node's presence in the shared store (the owner of its replies' pending after-reply writes). */
  private readonly presence: NodePresence;

  constructor(private readonly db: PostgresDatabase) {
    this.presence = nodePresence(db);
  }

  /** Connects to `url`, creating and migrating the schema when needed. */
  static async open(url: string, options: Parameters<typeof PostgresDatabase.open>[1] = {}): Promise<PostgresStore> {
    return new PostgresStore(await PostgresDatabase.open(url, options));
  }

  /** The pool, for the other PostgreSQL adapters of the same database. */
  get database(): PostgresDatabase {
    return this.db;
  }

  // personas

  async listPersonas(): Promise<PersonaRecord[]> {
    return (await this.db.rows<PersonaRow>(`SELECT ${PERSONA_COLUMNS} FROM personas ORDER BY lower(name)`)).map(toPersonaRecord);
  }

  async getPersona(id: string): Promise<PersonaRecord | null> {
    return personaById(this.db, id);
  }

  insertPersona(definition: PersonaDefinition, now: number, options: { isBuiltin?: boolean; ownerUserId?: string | null } = {}): Promise<PersonaRecord> {
    return this.db.transaction(async (tx) => {
      await tx.lock('personas');
      const clash = (await personaRow(tx, definition.id)) ?? (await personaByName(tx, definition.name));
      if (clash !== null) throw personaConflict(definition, clash);
      return insertPersonaRow(tx, definition, now, options.isBuiltin ?? false, options.ownerUserId ?? null);
    });
  }

  updatePersona(definition: PersonaDefinition, now: number): Promise<PersonaRecord> {
    return this.db.transaction(async (tx) => {
      await tx.lock('personas');
      const clash = await personaByName(tx, definition.name);
      if (clash !== null && clash.id !== definition.id) throw personaConflict(definition, clash);
      const row = await tx.one<PersonaRow>(
        `UPDATE personas SET name = $2, definition = $3, updated_at = $4 WHERE id = $1 RETURNING ${PERSONA_COLUMNS}`,
        [definition.id, definition.name, definitionJson(definition), now],
      );
      if (row === null) throw personaNotFound(definition.id);
      return toPersonaRecord(row);
    });
  }

  deletePersona(id: string, now: number): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      if ((await personaRow(tx, id)) === null) return false;
      await tx.query(
        `UPDATE conversations SET status = 'ended', ended_at = $2, end_reason = $3
         WHERE status = 'active' AND id IN (SELECT conversation_id FROM conversation_personas WHERE persona_id = $1)`,
        [id, now, END_REASONS.personaDeleted],
      );
      await tx.query('DELETE FROM personas WHERE id = $1', [id]);
      return true;
    });
  }

  seedPersonas(definitions: PersonaDefinition[], now: number): Promise<string[]> {
    return this.db.transaction(async (tx) => {
      // Nodes starting together seed once.
      await tx.lock('personas');
      const inserted: string[] = [];
      for (const definition of definitions) {
        const recorded = await tx.query('INSERT INTO persona_seeds (id, seeded_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [definition.id, now]);
        if (recorded.rowCount === 0) continue;
        const taken = (await personaRow(tx, definition.id)) ?? (await personaByName(tx, definition.name));
        if (taken !== null) continue;
        await insertPersonaRow(tx, definition, now, true);
        inserted.push(definition.id);
      }
      return inserted;
    });
  }

  async getPersonaState(personaId: string): Promise<SocialEnergyState | null> {
    const row = await this.db.one<PersonaStateRow>('SELECT energy, fatigue, updated_at, cooldown_until FROM persona_state WHERE persona_id = $1', [personaId]);
    return row === null ? null : toPersonaState(row);
  }

  async savePersonaState(personaId: string, state: SocialEnergyState): Promise<void> {
    if (!(await savePersonaStateRow(this.db, personaId, state))) throw personaNotFound(personaId);
  }

  updatePersonaState(personaId: string, change: PersonaStateChange): Promise<SocialEnergyState> {
    return this.db.transaction(async (tx) => {
      const state = await changePersonaStateRow(tx, personaId, change);
      if (state === null) throw personaNotFound(personaId);
      return state;
    });
  }

  // sessions

  async getSession(id: string): Promise<SessionRecord | null> {
    const row = await this.db.one<SessionRow>('SELECT * FROM sessions WHERE id = $1', [id]);
    return row === null ? null : toSessionRecord(row);
  }

  async claimSession(id: string, userId: string | null, now: number): Promise<SessionRecord> {
    await this.db.query(
      `INSERT INTO sessions (id, user_id, active_persona_id, created_at, last_seen_at) VALUES ($1, $2, NULL, $3, $3)
       ON CONFLICT (id) DO NOTHING`,
      [id, userId, now],
    );
    return toSessionRecord(required(await this.db.one<SessionRow>('SELECT * FROM sessions WHERE id = $1', [id])));
  }

  async touchSession(id: string, now: number, userId?: string | null): Promise<SessionRecord> {
    return touchSessionRow(this.db, id, now, userId);
  }

  setActivePersona(sessionId: string, personaId: string | null, now: number): Promise<SessionRecord> {
    return this.db.transaction(async (tx) => {
      if (personaId !== null && (await personaRow(tx, personaId)) === null) throw personaNotFound(personaId);
      const row = await tx.one<SessionRow>(
        `INSERT INTO sessions (id, user_id, active_persona_id, created_at, last_seen_at) VALUES ($1, NULL, $2, $3, $3)
         ON CONFLICT (id) DO UPDATE SET active_persona_id = excluded.active_persona_id, last_seen_at = excluded.last_seen_at
         RETURNING *`,
        [sessionId, personaId, now],
      );
      return toSessionRecord(required(row));
    });
  }

  // conversations

  async getConversation(id: string): Promise<ConversationRecord | null> {
    return conversationById(this.db, id);
  }

  async findActiveConversation(sessionId: string, personaId: string): Promise<ConversationRecord | null> {
    return activeConversation(this.db, sessionId, personaId);
  }

  async listConversations(sessionId: string, options: { status?: ConversationStatus; limit?: number } = {}): Promise<ConversationRecord[]> {
    const values: unknown[] = [sessionId, options.limit ?? null];
    let where = 'c.session_id = $1';
    if (options.status !== undefined) {
      values.push(options.status);
      where += ' AND c.status = $3';
    }
    const rows = await this.db.rows<ConversationRow>(
      `SELECT ${PG_CONVERSATION_COLUMNS} FROM conversations c WHERE ${where} ORDER BY c.started_at DESC, c.seq DESC LIMIT $2`,
      values,
    );
    return rows.map(toConversationRecord);
  }

  startConversation(input: NewConversation): Promise<ConversationRecord> {
    return this.db.transaction(async (tx) => {
      if (input.sessionId !== null) await tx.lock(`session:${input.sessionId}`);
      return startConversationRows(tx, input);
    });
  }

  endConversation(id: string, reason: string, now: number): Promise<ConversationRecord | null> {
    return this.db.transaction(async (tx) => {
      await tx.query(`UPDATE conversations SET status = 'ended', ended_at = $3, end_reason = $2 WHERE id = $1 AND status = 'active'`, [id, reason, now]);
      return conversationById(tx, id);
    });
  }

  async conversationStats(id: string): Promise<ConversationStats> {
    if ((await conversationById(this.db, id)) === null) throw conversationNotFound(id);
    const row = required(
      await this.db.one<{ turns: number; tokens_used: number; first_message_at: number | null; last_message_at: number | null }>(
        `SELECT count(*) FILTER (WHERE role = 'assistant') AS turns,
                coalesce(sum(tokens), 0) + coalesce(sum(prompt_tokens), 0) AS tokens_used,
                min(created_at) AS first_message_at, max(created_at) AS last_message_at
         FROM messages WHERE conversation_id = $1`,
        [id],
      ),
    );
    return { turns: row.turns, tokensUsed: row.tokens_used, firstMessageAt: row.first_message_at, lastMessageAt: row.last_message_at };
  }

  // messages

  appendUserTurn(input: UserTurnInput): Promise<{ conversation: ConversationRecord; message: MessageRecord }> {
    return this.db.transaction(async (tx) => {
      // One session's turns are serialised across nodes, so two never start two conversations.
      await tx.lock(`session:${input.sessionId}`);
      await touchSessionRow(tx, input.sessionId, input.now, undefined);
      const conversation = await conversationForTurn(tx, input);
      return { conversation, message: await insertMessageRow(tx, userMessage(conversation.id, input)) };
    });
  }

  async appendAssistantTurn(input: AssistantTurnInput): Promise<MessageRecord> {
    const { afterReply } = input;
    // taken once per process (its own connection), before the first reply that needs it
    const ownerKey = afterReply === undefined ? null : await this.presence.ownerKey();
    const message = await this.db.transaction(async (tx) => {
      const message = await insertMessageRow(tx, assistantMessage(input));
      await changePersonaStateRow(tx, input.personaId, input.personaState);
      if (afterReply !== undefined)
        await tx.query(
          `INSERT INTO after_reply_pending (reply_message_id, user_message_id, session_id, user_id, created_at, owner_key, lease_until)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [message.id, afterReply.userMessageId, afterReply.session.id, afterReply.session.userId, input.now, ownerKey, input.now + AFTER_REPLY_LEASE_MS],
        );
      return message;
    });
    if (afterReply !== undefined) repliesOwned(this.db).set(message.id, { ownerKey, isTakenOver: false });
    return message;
  }

  /** The reply's after-reply writes are told apart from others' (done once per reply: after-reply-fence.ts). */
  runAfterReply<T>(replyMessageId: number, work: () => T): T {
    return runAfterReply(replyMessageId, work);
  }

  /**
   * Clears the reply's record once `written` has settled (every after-reply write asked for and
   * committed: on PostgreSQL they follow reads, so they do not all arrive at one moment), in the write
   * batch with whatever else is being written then.
   */
  async afterReplyWritten(replyMessageId: number, written?: Promise<unknown>): Promise<void> {
    await written?.catch(() => undefined);
    const owned = repliesOwned(this.db);
    const owner = owned.get(replyMessageId)?.ownerKey;
    try {
      // Not a record another node has taken over meanwhile (this node's lock was missing a while): that node clears it.
      await pgWriteBatch(this.db).defer((tx) =>
        owner === undefined
          ? tx.query('DELETE FROM after_reply_pending WHERE reply_message_id = $1', [replyMessageId])
          : tx.query('DELETE FROM after_reply_pending WHERE reply_message_id = $1 AND owner_key IS NOT DISTINCT FROM $2::bigint', [replyMessageId, owner]),
      );
    } finally {
      owned.delete(replyMessageId);
    }
  }

  /**
   * Takes over, for this node, the replies whose after-reply writes their node never committed: their
   * owner is gone from the store (its presence lock released, and still released a moment later: the
   * process died, see `goneOwners`) or their lease passed. `FOR UPDATE SKIP LOCKED` and the new owner key
   * make every record one node's: nodes starting or sweeping at once each get different ones, and a live
   * node's records are left to it, also while it takes its lock again after its lock connection dropped.
   */
  async pendingAfterReplies(now: number = Date.now()): Promise<PendingAfterReply[]> {
    const ownerKey = await this.presence.ownerKey();
    const gone = await goneOwners(this.db, 'SELECT owner_key AS key FROM after_reply_pending WHERE lease_until > $1 AND owner_key IS DISTINCT FROM $2::bigint', [
      now,
      ownerKey,
    ]);
    const rows = await this.db.rows<{
      reply_message_id: number;
      conversation_id: string;
      user_message_id: number | null;
      session_id: string;
      user_id: string | null;
    }>(
      `WITH orphaned AS (
         SELECT reply_message_id FROM after_reply_pending p
         WHERE p.lease_until <= $1 OR (p.owner_key = ANY($4::bigint[]) AND ${OWNER_GONE('p.owner_key')})
         ORDER BY reply_message_id
         FOR UPDATE SKIP LOCKED),
       taken AS (
         UPDATE after_reply_pending p SET owner_key = $3, lease_until = $2
         FROM orphaned WHERE p.reply_message_id = orphaned.reply_message_id
         RETURNING p.*)
       SELECT t.reply_message_id, m.conversation_id, t.user_message_id, t.session_id, t.user_id
       FROM taken t JOIN messages m ON m.id = t.reply_message_id ORDER BY t.reply_message_id`,
      [now, now + AFTER_REPLY_LEASE_MS, ownerKey, gone],
    );
    // what the dead node did of each (a look before a write is asked for: `PostgresSocialStore.moodWrittenAlready`)
    const marks =
      rows.length === 0
        ? []
        : await this.db.rows<{ reply_message_id: number; name: string; result: unknown }>(
            'SELECT reply_message_id, name, result FROM after_reply_done WHERE reply_message_id = ANY($1::bigint[])',
            [rows.map((row) => row.reply_message_id)],
          );
    for (const row of rows) {
      const marked = new Map(marks.filter((mark) => Number(mark.reply_message_id) === Number(row.reply_message_id)).map((mark) => [mark.name, mark.result]));
      repliesOwned(this.db).set(row.reply_message_id, { ownerKey, isTakenOver: true, marked });
    }
    return rows.map((row) => ({
      replyMessageId: row.reply_message_id,
      conversationId: row.conversation_id,
      userMessageId: row.user_message_id,
      session: { id: row.session_id, userId: row.user_id },
    }));
  }

  appendMessage(input: Omit<MessageRecord, 'id'>): Promise<MessageRecord> {
    return insertMessageRow(this.db, input);
  }

  async recentMessages(conversationId: string, limit: number): Promise<MessageRecord[]> {
    if (limit <= 0) return [];
    const rows = await this.db.rows<MessageRow>(
      'SELECT * FROM (SELECT * FROM messages WHERE conversation_id = $1 ORDER BY id DESC LIMIT $2) recent ORDER BY id ASC',
      [conversationId, Math.floor(limit)],
    );
    return rows.map(toMessageRecord);
  }

  async historyPage(conversationId: string, options: { limit: number; beforeId?: number }): Promise<HistoryPage> {
    const limit = Math.max(1, Math.floor(options.limit));
    const rows = await this.db.rows<MessageRow>('SELECT * FROM messages WHERE conversation_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3', [
      conversationId,
      options.beforeId ?? Number.MAX_SAFE_INTEGER,
      limit + 1,
    ]);
    const page = rows.slice(0, limit).map(toMessageRecord);
    const last = page.at(-1);
    return { messages: page, nextBeforeId: rows.length > limit && last !== undefined ? last.id : null };
  }

  // housekeeping

  applyRetention(policy: RetentionPolicy, now: number): Promise<RetentionResult> {
    return this.db.transaction(async (tx) => {
      const result: RetentionResult = { sessionsRemoved: 0, conversationsEnded: 0, messagesRemoved: 0 };
      if (policy.sessionIdleMs > 0) {
        const cutoff = now - policy.sessionIdleMs;
        const ended = await tx.query(
          `UPDATE conversations SET status = 'ended', ended_at = $2, end_reason = $3
           WHERE status = 'active' AND session_id IN (SELECT id FROM sessions WHERE last_seen_at < $1)`,
          [cutoff, now, END_REASONS.sessionExpired],
        );
        result.conversationsEnded = ended.rowCount ?? 0;
        result.sessionsRemoved = (await tx.query('DELETE FROM sessions WHERE last_seen_at < $1', [cutoff])).rowCount ?? 0;
      }
      if (policy.messageMaxAgeMs > 0) {
        result.messagesRemoved += (await tx.query('DELETE FROM messages WHERE created_at < $1', [now - policy.messageMaxAgeMs])).rowCount ?? 0;
      }
      if (policy.maxMessagesPerConversation > 0) {
        const removed = await tx.query(
          `DELETE FROM messages WHERE id IN (
             SELECT id FROM (
               SELECT id, row_number() OVER (PARTITION BY conversation_id ORDER BY id DESC) AS newer_than FROM messages) ranked
             WHERE newer_than > $1)`,
          [Math.floor(policy.maxMessagesPerConversation)],
        );
        result.messagesRemoved += removed.rowCount ?? 0;
      }
      return result;
    });
  }

  async checkHealth(): Promise<StoreHealth> {
    const row = required(await this.db.one<{ size: number }>('SELECT pg_database_size(current_database()) AS size'));
    return { ok: true, path: this.db.label, sizeBytes: row.size, vectors: { kind: 'in-memory', pgvector: this.db.pgvector } };
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

// helpers: each takes the pool or a transaction's client

async function personaRow(db: Db, id: string): Promise<PersonaRow | null> {
  return db.one<PersonaRow>(`SELECT ${PERSONA_COLUMNS} FROM personas WHERE id = $1`, [id]);
}

async function personaByName(db: Db, name: string): Promise<PersonaRow | null> {
  return db.one<PersonaRow>(`SELECT ${PERSONA_COLUMNS} FROM personas WHERE lower(name) = lower($1)`, [name]);
}

async function personaById(db: Db, id: string): Promise<PersonaRecord | null> {
  const row = await personaRow(db, id);
  return row === null ? null : toPersonaRecord(row);
}

async function insertPersonaRow(db: Db, definition: PersonaDefinition, now: number, isBuiltin: boolean, ownerUserId: string | null = null): Promise<PersonaRecord> {
  const p = personaParams(definition, now, isBuiltin, ownerUserId);
  const row = await db.one<PersonaRow>(
    `INSERT INTO personas (id, name, definition, is_builtin, created_at, updated_at, owner_user_id) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${PERSONA_COLUMNS}`,
    [p.id, p.name, p.definition, p.is_builtin, p.created_at, p.updated_at, p.owner_user_id],
  );
  return toPersonaRecord(required(row));
}

/**
 * Inside a transaction: a change is applied to the stored state under an advisory lock on the persona's
 * state, so two nodes spending the same persona's energy at once both count (the second waits for the
 * first's commit, then reads its result). Null when the persona does not exist.
 */
async function changePersonaStateRow(tx: TransactionClient, personaId: string, change: SocialEnergyState | PersonaStateChange): Promise<SocialEnergyState | null> {
  let state: SocialEnergyState;
  if (typeof change === 'function') {
    await tx.lock(`persona-state:${personaId}`);
    const row = await tx.one<PersonaStateRow>('SELECT energy, fatigue, updated_at, cooldown_until FROM persona_state WHERE persona_id = $1', [personaId]);
    state = change(row === null ? null : toPersonaState(row));
  } else {
    state = change;
  }
  return (await savePersonaStateRow(tx, personaId, state)) ? state : null;
}

/** False when the persona does not exist (INSERT … SELECT FROM personas changes no row then). */
async function savePersonaStateRow(db: Db, personaId: string, state: SocialEnergyState): Promise<boolean> {
  const p = personaStateParams(personaId, state);
  const result = await db.query(
    `INSERT INTO persona_state (persona_id, energy, fatigue, updated_at, cooldown_until)
     SELECT id, $2, $3, $4, $5 FROM personas WHERE id = $1
     ON CONFLICT (persona_id) DO UPDATE SET energy = excluded.energy, fatigue = excluded.fatigue,
       updated_at = excluded.updated_at, cooldown_until = excluded.cooldown_until`,
    [p.personaId, p.energy, p.fatigue, p.updated_at, p.cooldown_until],
  );
  return (result.rowCount ?? 0) > 0;
}

/** `userId` undefined keeps the stored owner; a string or null sets it when none is stored. */
async function touchSessionRow(db: Db, id: string, now: number, userId: string | null | undefined): Promise<SessionRecord> {
  const row = await db.one<SessionRow>(
    `INSERT INTO sessions (id, user_id, active_persona_id, created_at, last_seen_at) VALUES ($1, $3, NULL, $2, $2)
     ON CONFLICT (id) DO UPDATE SET last_seen_at = excluded.last_seen_at,
       user_id = CASE WHEN $4 AND sessions.user_id IS NULL THEN excluded.user_id ELSE sessions.user_id END
     RETURNING *`,
    [id, now, userId ?? null, userId !== undefined],
  );
  return toSessionRecord(required(row));
}

async function conversationById(db: Db, id: string): Promise<ConversationRecord | null> {
  const row = await db.one<ConversationRow>(`SELECT ${PG_CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = $1`, [id]);
  return row === null ? null : toConversationRecord(row);
}

async function activeConversation(db: Db, sessionId: string, personaId: string): Promise<ConversationRecord | null> {
  const row = await db.one<ConversationRow>(
    `SELECT ${PG_CONVERSATION_COLUMNS} FROM conversations c
     JOIN conversation_personas member ON member.conversation_id = c.id AND member.persona_id = $2
     WHERE c.session_id = $1 AND c.status = 'active' AND c.kind = 'user'
     ORDER BY c.started_at DESC, c.seq DESC LIMIT 1`,
    [sessionId, personaId],
  );
  return row === null ? null : toConversationRecord(row);
}

async function conversationForTurn(db: Db, input: UserTurnInput): Promise<ConversationRecord> {
  if (input.conversationId !== undefined) {
    const named = await conversationById(db, input.conversationId);
    if (named === null || named.status !== 'active' || !named.personaIds.includes(input.personaId)) {
      throw conversationNotActive(input.conversationId, input.personaId);
    }
    return named;
  }
  const active = await activeConversation(db, input.sessionId, input.personaId);
  if (active !== null) return active;
  return startConversationRows(db, {
    sessionId: input.sessionId,
    kind: 'user',
    personaIds: [input.personaId],
    topic: null,
    context: null,
    startedAt: input.now,
    tokenBudget: null,
  });
}

async function startConversationRows(db: Db, input: NewConversation): Promise<ConversationRecord> {
  const id = input.id ?? newConversationId();
  if (input.id !== undefined && (await conversationById(db, id)) !== null) throw conversationConflict(id);
  const personaIds = [...new Set(input.personaIds)];
  if (input.sessionId !== null) {
    await db.query(
      'INSERT INTO sessions (id, user_id, active_persona_id, created_at, last_seen_at) VALUES ($1, NULL, NULL, $2, $2) ON CONFLICT (id) DO NOTHING',
      [input.sessionId, input.startedAt],
    );
    if (input.kind === 'user' && personaIds.length > 0) {
      await db.query(
        `UPDATE conversations SET status = 'ended', ended_at = $3, end_reason = $4
         WHERE session_id = $1 AND status = 'active' AND kind = 'user'
           AND id IN (SELECT conversation_id FROM conversation_personas WHERE persona_id = ANY($2::text[]))`,
        [input.sessionId, personaIds, input.startedAt, END_REASONS.superseded],
      );
    }
  }
  const p = conversationParams(id, input);
  await db.query(
    `INSERT INTO conversations (id, session_id, kind, topic, context, status, started_at, token_budget)
     VALUES ($1, $2, $3, $4, $5, 'active', $6, $7)`,
    [p.id, p.session_id, p.kind, p.topic, p.context, p.started_at, p.token_budget],
  );
  for (const [position, personaId] of personaIds.entries()) {
    await db.query('INSERT INTO conversation_personas (conversation_id, persona_id, position) VALUES ($1, $2, $3)', [id, personaId, position]);
  }
  return required(await conversationById(db, id));
}

async function insertMessageRow(db: Db, message: Omit<MessageRecord, 'id'>): Promise<MessageRecord> {
  const p = messageParams(message);
  const row = await db.one<MessageRow>(
    `INSERT INTO messages (conversation_id, role, persona_id, content, tokens, prompt_tokens, processing_ms, created_at)
     SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM conversations WHERE id = $1)
     RETURNING *`,
    [p.conversation_id, p.role, p.persona_id, p.content, p.tokens, p.prompt_tokens, p.processing_ms, p.created_at],
  );
  if (row === null) throw conversationNotFound(message.conversationId);
  return toMessageRecord(row);
}

function required<T>(value: T | undefined | null): T {
  if (value === undefined || value === null) throw new Error('PostgresStore: expected a row, got none');
  return value;
}
