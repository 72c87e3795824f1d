/**
 * The `Store` port on one SQLite file (better-sqlite3). Calls are synchronous underneath and return
 * settled promises; each composite operation runs in one IMMEDIATE transaction, which takes the write
 * lock up front so that a read-then-write never fails half-way with SQLITE_BUSY under a second process.
 * Every method goes through `read` or `write`, the one place SQLite errors become AppErrors.
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
  PersonaRecord,
  PendingAfterReply,
  PersonaStateChange,
  RetentionPolicy,
  RetentionResult,
  SessionRecord,
  Store,
  StoreHealth,
  UserTurnInput,
} from '../../ports/store.js';
import { runAfterReply } from '../after-reply-scope.js';
import { localProcess, mayStillRun, newOwnerName, ownersRunningHere } from './claim-owner.js';
import { dropCopiedMarks, hasCopiedMarks, holdCopiedMarks } from './copied-marks.js';
import { openDatabase, type Database } from './database.js';
import {
  conversationConflict,
  conversationNotActive,
  conversationNotFound,
  personaConflict,
  personaNotFound,
  translateSqliteError,
} from './errors.js';
import {
  assistantMessage,
  conversationParams,
  definitionJson,
  messageParams,
  personaParams,
  personaStateParams,
  toConversationRecord,
  toMessageRecord,
  toPersonaRecord,
  toPersonaState,
  toSessionRecord,
  userMessage,
} from './rows.js';
import { MessageTails } from './message-tails.js';
import { prepareStatements, type Statements } from './statements.js';
import { immediateTransaction } from './transactions.js';
import { writeBatch } from './write-batch.js';
import { WalCheckpointer, type WalCheckpointerOptions } from './wal-checkpointer.js';

/** `end_reason` values the store writes itself. */
export const END_REASONS = {
  /** A new user conversation with the same persona was started in the session. */
  superseded: 'superseded',
  personaDeleted: 'persona_deleted',
  sessionExpired: 'session_expired',
} as const;

type NewConversation = Parameters<Store['startConversation']>[0];

/** `conv_` + 16 hex characters: 64 random bits, short enough to type, never guessed by accident. */
function newConversationId(): string {
  return `conv_${randomBytes(8).toString('hex')}`;
}

export class SqliteStore implements Store {
  private readonly sql: Statements;
  /** The newest messages of conversations in use: a turn's history without a 200-row read. */
  private readonly tails = new MessageTails();
  /** Messages inserted by the transaction in progress: they join their tails once it commits. */
  private readonly pendingTail: MessageRecord[] = [];

  /**
   * Names this store in the records of its replies' pending after-reply writes (`after_reply_pending.owner`),
   * so another process on the same file leaves them alone while this one is open (`pendingAfterReplies`).
   */
  private readonly owner = newOwnerName();

  /** Runs the WAL's checkpoints off the event loop, for a long-running server (`open`'s option); null otherwise. */
  private checkpointer: WalCheckpointer | null = null;

  /**
   * Opens (creating and migrating when needed) the database file at `path`. With `checkpoints`, a
   * worker thread checkpoints the WAL instead of the commits that would cross SQLite's auto-checkpoint
   * (`wal-checkpointer.ts`): for the server, whose every request waits behind such a commit.
   */
  static open(path: string, options: { checkpoints?: WalCheckpointerOptions } = {}): SqliteStore {
    const store = new SqliteStore(openDatabase(path), path);
    if (options.checkpoints !== undefined && !store.db.memory) store.checkpointer = WalCheckpointer.start(store.db, options.checkpoints);
    return store;
  }

  /** Wraps an already opened and migrated database; `path` is reported by `checkHealth` and in errors. */
  constructor(
    private readonly db: Database,
    private readonly path: string,
  ) {
    try {
      this.sql = prepareStatements(db);
      this.tails.install(db);
      ownersRunningHere.add(this.owner);
    } catch (error) {
      throw translateSqliteError(error, path);
    }
  }

  /** The worker checkpointing the WAL (`open`'s `checkpoints`), or null. */
  get walCheckpointer(): WalCheckpointer | null {
    return this.checkpointer;
  }

  /**
   * The open connection, for the other SQLite adapters of the same database (memory, relationships,
   * jobs, keys): one connection per process keeps WAL writes serialised in one place.
   */
  get database(): Database {
    return this.db;
  }

  /** Path of the database file. */
  get filePath(): string {
    return this.path;
  }

  // personas

  listPersonas(): Promise<PersonaRecord[]> {
    return this.read(() => this.sql.listPersonas.all().map(toPersonaRecord));
  }

  getPersona(id: string): Promise<PersonaRecord | null> {
    return this.read(() => this.personaById(id));
  }

  insertPersona(
    definition: PersonaDefinition,
    now: number,
    options: { isBuiltin?: boolean; ownerUserId?: string | null } = {},
  ): Promise<PersonaRecord> {
    return this.write(() => {
      const clash = this.sql.getPersona.get(definition.id) ?? this.sql.findPersonaByName.get(definition.name);
      if (clash !== undefined) throw personaConflict(definition, clash);
      return this.insertPersonaRow(definition, now, options.isBuiltin ?? false, options.ownerUserId ?? null);
    });
  }

  updatePersona(definition: PersonaDefinition, now: number): Promise<PersonaRecord> {
    return this.write(() => {
      const clash = this.sql.findPersonaByName.get(definition.name);
      if (clash !== undefined && clash.id !== definition.id) throw personaConflict(definition, clash);
      const { id, name } = definition;
      const row = this.sql.updatePersona.get({ id, name, definition: definitionJson(definition), now });
      if (row === undefined) throw personaNotFound(definition.id);
      return toPersonaRecord(row);
    });
  }

  deletePersona(id: string, now: number): Promise<boolean> {
    return this.write(() => {
      if (this.sql.getPersona.get(id) === undefined) return false;
      this.sql.endPersonaConversations.run({ personaId: id, now, reason: END_REASONS.personaDeleted });
      // persona_state goes by cascade; sessions' active_persona_id is cleared by ON DELETE SET NULL.
      this.sql.deletePersona.run(id);
      return true;
    });
  }

  /**
   * A shipped persona whose id or name a user already took is not inserted, but still recorded as
   * seeded: the user's persona wins, now and on every later start.
   */
  seedPersonas(definitions: PersonaDefinition[], now: number): Promise<string[]> {
    return this.write(() => {
      const inserted: string[] = [];
      for (const definition of definitions) {
        if (this.sql.isSeeded.get(definition.id) !== undefined) continue;
        this.sql.recordSeed.run(definition.id, now);
        const taken = this.sql.getPersona.get(definition.id) ?? this.sql.findPersonaByName.get(definition.name);
        if (taken !== undefined) continue;
        this.insertPersonaRow(definition, now, true);
        inserted.push(definition.id);
      }
      return inserted;
    });
  }

  getPersonaState(personaId: string): Promise<SocialEnergyState | null> {
    return this.read(() => {
      const row = this.sql.getPersonaState.get(personaId);
      return row === undefined ? null : toPersonaState(row);
    });
  }

  savePersonaState(personaId: string, state: SocialEnergyState): Promise<void> {
    return this.write(() => {
      if (!this.savePersonaStateRow(personaId, state)) throw personaNotFound(personaId);
    });
  }

  updatePersonaState(personaId: string, change: PersonaStateChange): Promise<SocialEnergyState> {
    return this.write(() => {
      const state = this.changePersonaStateRow(personaId, change);
      if (state === null) throw personaNotFound(personaId);
      return state;
    });
  }

  // sessions

  getSession(id: string): Promise<SessionRecord | null> {
    return this.read(() => {
      const row = this.sql.getSession.get(id);
      return row === undefined ? null : toSessionRecord(row);
    });
  }

  /** `userId` undefined keeps the stored owner; a string or null replaces it. */
  claimSession(id: string, userId: string | null, now: number): Promise<SessionRecord> {
    return this.write(() => {
      this.sql.claimSession.run({ id, userId, now });
      return toSessionRecord(required(this.sql.getSession.get(id)));
    });
  }

  touchSession(id: string, now: number, userId?: string | null): Promise<SessionRecord> {
    return this.write(() => this.touchSessionRow(id, now, userId));
  }

  /** Creates the session when missing (sessions are implicit); a non-null persona must exist. */
  setActivePersona(sessionId: string, personaId: string | null, now: number): Promise<SessionRecord> {
    return this.write(() => {
      if (personaId !== null && this.sql.getPersona.get(personaId) === undefined) throw personaNotFound(personaId);
      return toSessionRecord(required(this.sql.setActivePersona.get({ id: sessionId, personaId, now })));
    });
  }

  // conversations

  getConversation(id: string): Promise<ConversationRecord | null> {
    return this.read(() => this.conversationById(id));
  }

  findActiveConversation(sessionId: string, personaId: string): Promise<ConversationRecord | null> {
    return this.read(() => {
      const row = this.sql.findActiveConversation.get({ sessionId, personaId });
      return row === undefined ? null : toConversationRecord(row);
    });
  }

  /** Newest first; all of them unless `limit` is given. */
  listConversations(
    sessionId: string,
    options: { status?: ConversationStatus; limit?: number } = {},
  ): Promise<ConversationRecord[]> {
    return this.read(() => {
      // A negative LIMIT means none in SQLite.
      const limit = options.limit ?? -1;
      const rows =
        options.status === undefined
          ? this.sql.listConversations.all({ sessionId, limit })
          : this.sql.listConversationsByStatus.all({ sessionId, status: options.status, limit });
      return rows.map(toConversationRecord);
    });
  }

  /**
   * Creates the session row when missing. Persona ids are not checked (a conversation may outlive its
   * personas, and membership is history); a repeated id is kept once. A given id already used is a conflict.
   */
  startConversation(input: NewConversation): Promise<ConversationRecord> {
    return this.write(() => this.startConversationRows(input));
  }

  /** Ends an active conversation; an ended one is returned unchanged (its first end reason stays). */
  endConversation(id: string, reason: string, now: number): Promise<ConversationRecord | null> {
    return this.write(() => {
      this.sql.endConversation.run({ id, reason, now });
      return this.conversationById(id);
    });
  }

  /**
   * `turns` counts assistant messages (one reply = one turn). `tokensUsed` is the sum of every
   * message's `tokens` plus every reply's `promptTokens`: what the model read and wrote for this
   * conversation, so a history re-read on each turn is counted each time, like a backend bills it.
   */
  conversationStats(id: string): Promise<ConversationStats> {
    return this.read(() => {
      if (this.sql.getConversation.get(id) === undefined) throw conversationNotFound(id);
      const row = required(this.sql.conversationStats.get(id));
      return {
        turns: row.turns,
        tokensUsed: row.tokens_used,
        firstMessageAt: row.first_message_at,
        lastMessageAt: row.last_message_at,
      };
    });
  }

  // messages

  /**
   * With `conversationId` the conversation must exist, be active and include the persona; it may
   * belong to another (older) session, so a client that reconnects can carry on where it left off.
   */
  appendUserTurn(input: UserTurnInput): Promise<{ conversation: ConversationRecord; message: MessageRecord }> {
    return this.write(() => {
      this.touchSessionRow(input.sessionId, input.now, undefined);
      const conversation = this.conversationForTurn(input);
      return { conversation, message: this.insertMessageRow(userMessage(conversation.id, input)) };
    });
  }

  /**
   * The reply is stored even when the conversation has ended meanwhile; the persona's state is
   * skipped when the persona was deleted while it was answering.
   */
  appendAssistantTurn(input: AssistantTurnInput): Promise<MessageRecord> {
    return this.write(() => {
      const message = this.insertMessageRow(assistantMessage(input));
      this.changePersonaStateRow(input.personaId, input.personaState);
      const { afterReply } = input;
      if (afterReply !== undefined)
        this.sql.addAfterReplyPending.run(message.id, afterReply.userMessageId, afterReply.session.id, afterReply.session.userId, input.now, this.owner);
      return message;
    });
  }

  afterReplyWritten(replyMessageId: number): Promise<void> {
    // the last of the writes of this moment (the reply's filing, mood and enqueues): committed with them now (write-batch.ts)
    return writeBatch(this.db)
      .deferAndCommit(() => {
        this.sql.removeAfterReplyPending.run(replyMessageId);
      })
      .then(() => dropCopiedMarks(this.db, replyMessageId))
      .catch((error: unknown) => {
        throw translateSqliteError(error, this.path);
      });
  }

  /**
   * Takes over the records whose owner is gone (killed, crashed, closed without its writes): its process no
   * longer runs (`claim-owner.ts`), or the record has no owner (written before migration 0048). A record of
   * a process that still runs (a second `serve`, `persona-mcp mcp` on the same data directory) or of another
   * PID namespace is left to it. Each taken record becomes this store's in one conditional write, so two
   * processes looking at once take each record once. A read alone when nothing is to be taken (the server
   * asks every few seconds).
   */
  pendingAfterReplies(): Promise<PendingAfterReply[]> {
    return this.read(() => {
      const here = localProcess();
      const gone = this.sql.afterReplyPending
        .all(this.owner)
        .filter((row) => row.owner === null || !mayStillRun(row.owner, here, (owner) => ownersRunningHere.has(owner)));
      if (gone.length === 0) return [];
      const taken = immediateTransaction(this.db)(() =>
        gone.filter((row) => this.sql.takeOverAfterReply.run({ owner: this.owner, replyMessageId: row.reply_message_id, formerOwner: row.owner }).changes === 1),
      );
      for (const row of taken) holdCopiedMarks(this.db, row.reply_message_id);
      return taken.map((row) => ({
        replyMessageId: row.reply_message_id,
        conversationId: row.conversation_id,
        userMessageId: row.user_message_id,
        session: { id: row.session_id, userId: row.user_id },
      }));
    });
  }

  /** Only a reply a PostgreSQL copy brought in with some of its writes marked done is redone in its scope (`copied-marks.ts`). */
  runAfterReply<T>(replyMessageId: number, work: () => T): T {
    return hasCopiedMarks(this.db, replyMessageId) ? runAfterReply(replyMessageId, work) : work();
  }

  appendMessage(input: Omit<MessageRecord, 'id'>): Promise<MessageRecord> {
    return this.write(() => this.insertMessageRow(input));
  }

  recentMessages(conversationId: string, limit: number): Promise<MessageRecord[]> {
    return this.read(() => {
      if (limit <= 0) return [];
      const count = Math.floor(limit);
      const cached = this.tails.read(conversationId, count);
      if (cached !== null) return cached;
      const messages = this.sql.recentMessages.all(conversationId, count).map(toMessageRecord);
      this.tails.remember(conversationId, messages, count);
      return messages;
    });
  }

  historyPage(conversationId: string, options: { limit: number; beforeId?: number }): Promise<HistoryPage> {
    return this.read(() => {
      const limit = Math.max(1, Math.floor(options.limit));
      // One row more than asked tells whether an older page exists.
      const rows = this.sql.messagesBefore.all(conversationId, options.beforeId ?? Number.MAX_SAFE_INTEGER, limit + 1);
      const page = rows.slice(0, limit).map(toMessageRecord);
      const last = page.at(-1);
      return { messages: page, nextBeforeId: rows.length > limit && last !== undefined ? last.id : null };
    });
  }

  // housekeeping

  /** A limit of 0 (or less) switches that rule off, `sessionIdleMs` included. */
  applyRetention(policy: RetentionPolicy, now: number): Promise<RetentionResult> {
    return this.write(() => {
      const result: RetentionResult = { sessionsRemoved: 0, conversationsEnded: 0, messagesRemoved: 0 };
      if (policy.sessionIdleMs > 0) {
        const cutoff = now - policy.sessionIdleMs;
        const ended = this.sql.endExpiredSessionConversations.run({ cutoff, now, reason: END_REASONS.sessionExpired });
        result.conversationsEnded = ended.changes;
        // Their conversations stay, detached (session_id NULL), with their messages.
        result.sessionsRemoved = this.sql.deleteExpiredSessions.run(cutoff).changes;
      }
      if (policy.messageMaxAgeMs > 0) {
        result.messagesRemoved += this.sql.deleteMessagesBefore.run(now - policy.messageMaxAgeMs).changes;
      }
      if (policy.maxMessagesPerConversation > 0) {
        const keep = Math.floor(policy.maxMessagesPerConversation);
        for (const { conversation_id: conversationId } of this.sql.conversationsOverCap.all(keep)) {
          result.messagesRemoved += this.sql.deleteConversationMessagesBeyond.run({ conversationId, keep }).changes;
        }
      }
      return result;
    });
  }

  checkHealth(): Promise<StoreHealth> {
    return this.read(() => {
      this.sql.ping.get();
      return { ok: true as const, path: this.path, sizeBytes: required(this.sql.databaseSize.get()), vectors: { kind: 'in-memory' as const, pgvector: null } };
    });
  }

  /**
   * Lets SQLite refresh its planner statistics, then closes; closing twice is harmless. The connection
   * is closed even when the statistics cannot be written (a full disk); that error is then rethrown.
   */
  async close(): Promise<void> {
    ownersRunningHere.delete(this.owner);
    // the checkpointer's connection closes first: the last one to close checkpoints what is left
    await this.checkpointer?.stop();
    this.checkpointer = null;
    return this.read(() => {
      if (!this.db.open) return;
      // writes waiting for their batch's commit (a reply's filing, mood, enqueues) are written, not dropped
      writeBatch(this.db).flush();
      try {
        if (!this.db.readonly) this.db.pragma('optimize');
      } finally {
        this.db.close();
      }
    });
  }

  // helpers (synchronous, always called inside `read` or `write`)

  private async read<T>(work: () => T): Promise<T> {
    try {
      return work();
    } catch (error) {
      throw translateSqliteError(error, this.path);
    }
  }

  private write<T>(work: () => T): Promise<T> {
    return this.read(() => {
      try {
        const result = immediateTransaction(this.db)(work);
        // Committed: the messages it inserted join their conversations' tails (a rollback drops them).
        if (this.pendingTail.length > 0) this.tails.appended(this.pendingTail);
        return result;
      } finally {
        this.pendingTail.length = 0;
      }
    });
  }

  private personaById(id: string): PersonaRecord | null {
    const row = this.sql.getPersona.get(id);
    return row === undefined ? null : toPersonaRecord(row);
  }

  private conversationById(id: string): ConversationRecord | null {
    const row = this.sql.getConversation.get(id);
    return row === undefined ? null : toConversationRecord(row);
  }

  /** The conversation a user turn goes to: the one named, else the active one, else a new one. */
  private conversationForTurn(input: UserTurnInput): ConversationRecord {
    const { admitted } = input;
    if (admitted !== undefined && admitted.id === input.conversationId) {
      if (this.sql.isActiveWith.get({ id: admitted.id, personaId: input.personaId }) === undefined) throw conversationNotActive(admitted.id, input.personaId);
      return admitted;
    }
    if (input.conversationId !== undefined) {
      const named = this.conversationById(input.conversationId);
      if (named === null || named.status !== 'active' || !named.personaIds.includes(input.personaId)) {
        throw conversationNotActive(input.conversationId, input.personaId);
      }
      return named;
    }
    const active = this.sql.findActiveConversation.get({ sessionId: input.sessionId, personaId: input.personaId });
    if (active !== undefined) return toConversationRecord(active);
    const { sessionId, personaId, now: startedAt } = input;
    return this.startConversationRows({
      sessionId,
      kind: 'user',
      personaIds: [personaId],
      topic: null,
      context: null,
      startedAt,
      tokenBudget: null,
    });
  }

  private insertPersonaRow(definition: PersonaDefinition, now: number, isBuiltin: boolean, ownerUserId: string | null = null): PersonaRecord {
    return toPersonaRecord(required(this.sql.insertPersona.get(personaParams(definition, now, isBuiltin, ownerUserId))));
  }

  /** False when the persona does not exist. */
  /** Inside a write transaction (SQLite's single writer: nothing changes the row between read and write); null when there is no such persona. */
  private changePersonaStateRow(personaId: string, change: SocialEnergyState | PersonaStateChange): SocialEnergyState | null {
    let state: SocialEnergyState;
    if (typeof change === 'function') {
      const row = this.sql.getPersonaState.get(personaId);
      state = change(row === undefined ? null : toPersonaState(row));
    } else {
      state = change;
    }
    return this.savePersonaStateRow(personaId, state) ? state : null;
  }

  private savePersonaStateRow(personaId: string, state: SocialEnergyState): boolean {
    return this.sql.savePersonaState.run(personaStateParams(personaId, state)).changes > 0;
  }

  private touchSessionRow(id: string, now: number, userId: string | null | undefined): SessionRecord {
    const row = this.sql.touchSession.get({ id, now, userId: userId ?? null, setsUser: userId === undefined ? 0 : 1 });
    return toSessionRecord(required(row));
  }

  private startConversationRows(input: NewConversation): ConversationRecord {
    const id = input.id ?? newConversationId();
    if (input.id !== undefined && this.sql.getConversation.get(id) !== undefined) throw conversationConflict(id);
    const personaIds = [...new Set(input.personaIds)];
    if (input.sessionId !== null) {
      this.sql.ensureSession.run(input.sessionId, input.startedAt, input.startedAt);
      if (input.kind === 'user') {
        for (const personaId of personaIds) {
          this.sql.endSessionUserConversations.run({
            sessionId: input.sessionId,
            personaId,
            now: input.startedAt,
            reason: END_REASONS.superseded,
          });
        }
      }
    }
    this.sql.insertConversation.run(conversationParams(id, input));
    personaIds.forEach((personaId, position) => this.sql.insertParticipant.run(id, personaId, position));
    return required(this.conversationById(id));
  }

  private insertMessageRow(message: Omit<MessageRecord, 'id'>): MessageRecord {
    const row = this.tails.ownInsert(() => this.sql.insertMessage.get(messageParams(message)));
    if (row === undefined) throw conversationNotFound(message.conversationId);
    const record = toMessageRecord(row);
    this.pendingTail.push(record);
    return record;
  }
}

/** For rows that exist by construction (RETURNING after a successful insert, an aggregate). */
function required<T>(value: T | undefined | null): T {
  if (value === undefined || value === null) throw new Error('SqliteStore: expected a row, got none');
  return value;
}
