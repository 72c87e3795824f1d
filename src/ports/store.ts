/**
 * The storage port. Services depend on this interface only; `src/adapters/sqlite` implements it today,
 * a PostgreSQL adapter can later. Every method is async so that a networked database fits behind it.
 * Operations that must be atomic (a chat turn's writes) are single methods: the adapter owns the
 * transaction, services never hold one open across an `await`.
 */
import type { PersonaDefinition } from '../domain/persona.js';
import type { SocialEnergyState } from '../domain/social-energy.js';

export interface PersonaRecord extends PersonaDefinition {
  isBuiltin: boolean;
  createdAt: number;
  updatedAt: number;
  /** The user who created it and may change it; null for shared personas (built-in, or made by an admin). */
  ownerUserId: string | null;
}

export interface SessionRecord {
  id: string;
  /** Owner once authentication exists; null for the anonymous local user. */
  userId: string | null;
  activePersonaId: string | null;
  createdAt: number;
  lastSeenAt: number;
}

/** `user`: a session talking with one persona. `personas`: personas talking with each other (a group). */
export type ConversationKind = 'user' | 'personas';
export type ConversationStatus = 'active' | 'ended';

export interface ConversationRecord {
  id: string;
  sessionId: string | null;
  kind: ConversationKind;
  /** Participating personas, in the order given at start. */
  personaIds: string[];
  topic: string | null;
  /** Free-form context given at start (the scene, the user's goal). */
  context: string | null;
  status: ConversationStatus;
  startedAt: number;
  endedAt: number | null;
  endReason: string | null;
  /** Reply cap given at start, used when a turn does not give its own. */
  tokenBudget: number | null;
}

export type MessageRole = 'user' | 'assistant' | 'system';

export interface MessageRecord {
  id: number;
  conversationId: string;
  role: MessageRole;
  /** The speaking persona for assistant messages; null for the user. */
  personaId: string | null;
  content: string;
  /** Tokens of this message: the model's count for replies (eval_count), our estimate for user text. */
  tokens: number;
  /** Prompt tokens the model reported for the turn that produced this reply. */
  promptTokens: number | null;
  /** Wall time spent producing this reply, in milliseconds. */
  processingMs: number | null;
  createdAt: number;
}

export interface ConversationStats {
  turns: number;
  tokensUsed: number;
  firstMessageAt: number | null;
  lastMessageAt: number | null;
}

export interface UserTurnInput {
  sessionId: string;
  personaId: string;
  content: string;
  tokens: number;
  now: number;
  /** Use this conversation instead of the session's active one with the persona. */
  conversationId?: string;
  /**
   * The record of `conversationId` as the turn's admission just read it: a store may check in its
   * transaction that it is still active with the persona, and return it, instead of reading it again.
   */
  admitted?: ConversationRecord;
}

export interface AssistantTurnInput {
  conversationId: string;
  personaId: string;
  content: string;
  tokens: number;
  promptTokens: number | null;
  processingMs: number;
  now: number;
  /**
   * The persona's social energy after the turn, saved in the same transaction: a state, or a change the
   * store applies to the state it holds at that moment (see {@link PersonaStateChange}).
   */
  personaState: SocialEnergyState | PersonaStateChange;
  /**
   * Records, with the reply, that its after-reply writes are still to come (see {@link PendingAfterReply});
   * stores without {@link Store.pendingAfterReplies} ignore it.
   */
  afterReply?: { session: { id: string; userId: string | null }; userMessageId: number | null };
}

/**
 * A reply whose after-reply writes (topic filing, mood, job enqueues) were not committed: recorded with
 * the reply, cleared in the transaction that holds those writes. Left over at start-up, it names a turn a
 * crash took them from.
 */
export interface PendingAfterReply {
  replyMessageId: number;
  conversationId: string;
  /** The person's message the reply answered; null for a group turn. */
  userMessageId: number | null;
  /** The session the turn acted for. */
  session: { id: string; userId: string | null };
}

/**
 * A change of a persona's social energy, applied by the store to the state stored at that moment (null:
 * none stored yet) while it holds that persona's state locked: nodes sharing one store and changing the
 * same persona's energy at once each apply their change on top of the other's instead of overwriting it.
 */
export type PersonaStateChange = (stored: SocialEnergyState | null) => SocialEnergyState;

export interface HistoryPage {
  messages: MessageRecord[];
  /** Pass as `beforeId` to get the next (older) page; null when there is none. */
  nextBeforeId: number | null;
}

export interface RetentionPolicy {
  /** Sessions idle longer than this are removed (with their ended conversations' membership). */
  sessionIdleMs: number;
  /** Messages older than this are deleted; 0 keeps them forever. */
  messageMaxAgeMs: number;
  /** At most this many messages are kept per conversation (oldest deleted first); 0 = unlimited. */
  maxMessagesPerConversation: number;
}

export interface RetentionResult {
  sessionsRemoved: number;
  conversationsEnded: number;
  messagesRemoved: number;
}

/** What `checkHealth` reports (system.status, /readyz, doctor). */
export interface StoreHealth {
  ok: true;
  path: string;
  sizeBytes: number;
  vectors: VectorIndexReport;
}

/** How memory vectors are kept and searched. */
export interface VectorIndexReport {
  /**
   * `in-memory`: the vectors are stored in the database and each process (node) keeps its own
   * approximate nearest-neighbour index of them in memory, catching up with other nodes' writes
   * before each search.
   */
  kind: 'in-memory';
  /**
   * PostgreSQL's pgvector extension: `installed` in this database, `available` on the server (not
   * created), `absent`; null on SQLite. Reported for operators; the in-memory index is used either way.
   */
  pgvector: 'installed' | 'available' | 'absent' | null;
}

export interface Store {
  // personas
  listPersonas(): Promise<PersonaRecord[]>;
  getPersona(id: string): Promise<PersonaRecord | null>;
  /** Fails with a `conflict` AppError when the id is taken. */
  insertPersona(definition: PersonaDefinition, now: number, options?: { isBuiltin?: boolean; ownerUserId?: string | null }): Promise<PersonaRecord>;
  updatePersona(definition: PersonaDefinition, now: number): Promise<PersonaRecord>;
  /** Removes the persona and its runtime state, ends its active conversations; messages stay. */
  deletePersona(id: string, now: number): Promise<boolean>;
  /**
   * Inserts the shipped personas that were never seeded before (so one a user deleted stays deleted).
   * Returns the ids inserted.
   */
  seedPersonas(definitions: PersonaDefinition[], now: number): Promise<string[]>;
  getPersonaState(personaId: string): Promise<SocialEnergyState | null>;
  savePersonaState(personaId: string, state: SocialEnergyState): Promise<void>;
  /** Applies `change` to the stored state atomically and returns the state saved; `persona_not_found` when there is no such persona. */
  updatePersonaState(personaId: string, change: PersonaStateChange): Promise<SocialEnergyState>;

  // sessions
  getSession(id: string): Promise<SessionRecord | null>;
  /** Creates the session when missing, then sets `lastSeenAt`. */
  touchSession(id: string, now: number, userId?: string | null): Promise<SessionRecord>;
  /**
   * Creates the session owned by `userId` unless it exists; returns the stored session either way (its
   * owner may be someone else). Atomic: of two callers claiming one new id, the second sees the first's.
   */
  claimSession(id: string, userId: string | null, now: number): Promise<SessionRecord>;
  setActivePersona(sessionId: string, personaId: string | null, now: number): Promise<SessionRecord>;

  // conversations
  getConversation(id: string): Promise<ConversationRecord | null>;
  /** The session's active user conversation with the persona, if any. */
  findActiveConversation(sessionId: string, personaId: string): Promise<ConversationRecord | null>;
  listConversations(sessionId: string, options?: { status?: ConversationStatus; limit?: number }): Promise<ConversationRecord[]>;
  /**
   * Starts a conversation; for kind `user` it ends the session's previous active one with that persona.
   * Without `id` the store generates one (`conv_` + 16 hex characters).
   */
  startConversation(
    input: Omit<ConversationRecord, 'id' | 'status' | 'endedAt' | 'endReason'> & { id?: string },
  ): Promise<ConversationRecord>;
  endConversation(id: string, reason: string, now: number): Promise<ConversationRecord | null>;
  conversationStats(id: string): Promise<ConversationStats>;

  // messages
  /** One transaction: touch the session, find or start the active conversation, append the user message. */
  appendUserTurn(input: UserTurnInput): Promise<{ conversation: ConversationRecord; message: MessageRecord }>;
  /** One transaction: append the reply and save the persona's state. */
  appendAssistantTurn(input: AssistantTurnInput): Promise<MessageRecord>;
  /**
   * The reply's after-reply writes have been asked for (it is called after them): its
   * {@link PendingAfterReply} goes in the same transaction as they do (the write batch; the embedded
   * store commits it with them at once). `written` settles once every
   * one of them is committed: a store whose writes do not all arrive at one moment (PostgreSQL, where
   * they follow reads over the network) clears the record only after it. Optional: a store without it
   * keeps no record.
   */
  afterReplyWritten?(replyMessageId: number, written?: Promise<unknown>): Promise<void>;
  /**
   * Replies whose after-reply writes never committed (a crash), oldest first, taken over by this process
   * (a store shared by several nodes hands each record to one node, never a live node's). Optional, as above.
   */
  pendingAfterReplies?(now?: number): Promise<PendingAfterReply[]>;
  /**
   * Runs a reply's after-reply work (and what it sets off) so that the store can tell that reply's writes
   * apart: a store whose after-reply writes commit in several transactions (PostgreSQL) does each once for
   * the reply, even when another node redoes it. Optional: `work` is simply run.
   */
  runAfterReply?<T>(replyMessageId: number, work: () => T): T;
  /** Appends any message (system notes, persona-to-persona turns). */
  appendMessage(input: Omit<MessageRecord, 'id'>): Promise<MessageRecord>;
  /** The newest `limit` messages, returned oldest first. */
  recentMessages(conversationId: string, limit: number): Promise<MessageRecord[]>;
  /** Newest first, `limit` per page, older than `beforeId` when given. */
  historyPage(conversationId: string, options: { limit: number; beforeId?: number }): Promise<HistoryPage>;

  // housekeeping
  applyRetention(policy: RetentionPolicy, now: number): Promise<RetentionResult>;
  /** Cheap liveness probe for /readyz: throws when the database cannot be read. */
  checkHealth(): Promise<StoreHealth>;
  close(): Promise<void>;
}
