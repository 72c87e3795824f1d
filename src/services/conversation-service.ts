/**
 * Conversations: a session's thread with one persona (`user`), or personas talking with each other
 * (`personas`). Each persona keeps its own thread with a session, so switching Aria → Kira → Aria picks
 * Aria's thread up where it was.
 */
import { randomBytes } from 'node:crypto';
import { AppError } from '../domain/errors.js';
import type { Clock } from '../ports/clock.js';
import type { EventBus } from '../ports/events.js';
import { estimateTokens } from '../domain/tokens.js';
import type { ConversationRecord, ConversationStats, HistoryPage, MessageRecord, PersonaRecord, Store } from '../ports/store.js';
import type { SessionBinding } from './session-binding.js';
import type { SessionService } from './session-service.js';

export function newConversationId(): string {
  return `conv_${randomBytes(8).toString('hex')}`;
}

export class ConversationService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly events: EventBus,
    /** Owns the session row's user and active persona (and their cache): every write goes through it. */
    private readonly sessions: SessionService,
  ) {}

  /** Stores the persona's opening line (a Character Card greeting) as the conversation's first message. */
  async addGreeting(conversation: ConversationRecord, persona: PersonaRecord, text: string): Promise<MessageRecord> {
    const message = await this.store.appendMessage({
      conversationId: conversation.id,
      role: 'assistant',
      personaId: persona.id,
      content: text,
      tokens: estimateTokens(text),
      promptTokens: null,
      processingMs: null,
      createdAt: this.clock.now(),
    });
    this.events.publish({ type: 'messageStored', conversationId: conversation.id, message });
    return message;
  }

  /** `topic` and `context` (the scene or purpose) are kept apart: both enter every prompt of the conversation. */
  async startWithUser(
    binding: SessionBinding,
    persona: PersonaRecord,
    options: { context: string | null; topic?: string | null; tokenBudget: number | null },
  ): Promise<ConversationRecord> {
    const now = this.clock.now();
    await this.sessions.touch(binding, now);
    const conversation = await this.store.startConversation({
      id: newConversationId(),
      sessionId: binding.id,
      kind: 'user',
      personaIds: [persona.id],
      topic: options.topic ?? null,
      context: options.context,
      startedAt: now,
      tokenBudget: options.tokenBudget,
    });
    await this.sessions.storeActivePersona(binding, persona.id, now);
    this.events.publish({ type: 'conversationStarted', conversationId: conversation.id, personaIds: conversation.personaIds });
    return conversation;
  }

  async startBetweenPersonas(
    binding: SessionBinding,
    personas: PersonaRecord[],
    options: { topic: string | null; context?: string | null; tokenBudget: number | null },
  ): Promise<ConversationRecord> {
    const ids = [...new Set(personas.map((persona) => persona.id))];
    if (ids.length < 2) {
      throw new AppError('conflict', 'A conversation between personas needs at least two different personas.', { data: { personas: ids } });
    }
    const now = this.clock.now();
    await this.sessions.touch(binding, now);
    const conversation = await this.store.startConversation({
      id: newConversationId(),
      sessionId: binding.id,
      kind: 'personas',
      personaIds: ids,
      topic: options.topic,
      context: options.context ?? null,
      startedAt: now,
      tokenBudget: options.tokenBudget,
    });
    this.events.publish({ type: 'conversationStarted', conversationId: conversation.id, personaIds: conversation.personaIds });
    return conversation;
  }

  /** A conversation the binding's user may see, or `conversation_not_found`. */
  async accessible(binding: SessionBinding, conversationId: string): Promise<ConversationRecord> {
    const conversation = await this.store.getConversation(conversationId);
    if (conversation !== null) {
      const owner = conversation.sessionId === null ? null : await this.store.getSession(conversation.sessionId);
      const ownerUser = owner?.userId ?? null;
      if (ownerUser === binding.userId) return conversation;
    }
    throw new AppError('conversation_not_found', `No conversation "${conversationId}". Start one with conversation.start.`, {
      data: { conversation_id: conversationId },
    });
  }

  /** How long a conversation ran: to its end, or until now while it is active (the clock port's now). */
  durationMs(conversation: ConversationRecord): number {
    return (conversation.endedAt ?? this.clock.now()) - conversation.startedAt;
  }

  /** The personas taking part in a conversation (none when it does not exist); for notifications, not for callers. */
  async participants(conversationId: string): Promise<string[]> {
    return (await this.store.getConversation(conversationId))?.personaIds ?? [];
  }

  /**
   * The session a conversation belongs to when that session is the user's own, else null: a stateless
   * request naming its conversation acts in that conversation's session (MCP over HTTP).
   */
  async sessionOwnedBy(conversationId: string, userId: string | null): Promise<string | null> {
    const conversation = await this.store.getConversation(conversationId);
    const session = conversation?.sessionId ? await this.store.getSession(conversation.sessionId) : null;
    return session !== null && session.userId === userId ? session.id : null;
  }

  /** The session's active thread with the persona, if any. */
  async activeWith(binding: SessionBinding, personaId: string): Promise<ConversationRecord | null> {
    return this.store.findActiveConversation(binding.id, personaId);
  }

  /** The active thread with the persona, else the newest ended one (for history after an end). */
  async latestWith(binding: SessionBinding, personaId: string): Promise<ConversationRecord | null> {
    const active = await this.activeWith(binding, personaId);
    if (active !== null) return active;
    const all = await this.store.listConversations(binding.id, { limit: 100 });
    return all.find((conversation) => conversation.personaIds.includes(personaId)) ?? null;
  }

  list(binding: SessionBinding, limit = 50): Promise<ConversationRecord[]> {
    return this.store.listConversations(binding.id, { limit });
  }

  stats(conversationId: string): Promise<ConversationStats> {
    return this.store.conversationStats(conversationId);
  }

  async end(conversation: ConversationRecord, reason: string): Promise<{ conversation: ConversationRecord; stats: ConversationStats }> {
    if (conversation.status === 'ended') {
      throw new AppError('conversation_not_found', `Conversation "${conversation.id}" has already ended (${conversation.endReason ?? 'no reason given'}).`, {
        data: { conversation_id: conversation.id },
      });
    }
    const ended = await this.store.endConversation(conversation.id, reason, this.clock.now());
    if (ended === null) throw new AppError('conversation_not_found', `No conversation "${conversation.id}".`);
    this.events.publish({ type: 'conversationEnded', conversationId: ended.id, reason });
    return { conversation: ended, stats: await this.store.conversationStats(ended.id) };
  }

  historyPage(conversationId: string, limit: number, beforeId?: number): Promise<HistoryPage> {
    return this.store.historyPage(conversationId, beforeId === undefined ? { limit } : { limit, beforeId });
  }
}
