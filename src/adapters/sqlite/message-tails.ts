/**
 * The newest messages of the conversations in use, in memory, so that a turn's history (up to
 * `chat.historyMessages`, 200 by default) is not re-read from SQLite on every turn.
 *
 * Kept right by every writer, whoever it is: temporary triggers on `messages` (this connection only)
 * call back into {@link MessageTails.changed} for each row inserted, updated or deleted by anyone —
 * retention, a state import, a cascade, another adapter on the same connection — and that
 * conversation's tail is dropped. The store's own inserts are the exception: it appends them to the
 * tail itself once their transaction has committed (`SqliteStore.write`), so a rolled-back insert
 * leaves no trace. A second process writing the same file is not seen; one process owns a database
 * (docs/architecture.md).
 *
 * Bounded: at most `maxMessages` messages and `maxChars` characters of content in all tails together;
 * the conversation used longest ago goes first. Cached records are frozen: callers share them.
 */
import type { MessageRecord } from '../../ports/store.js';
import type { Database } from './database.js';

interface Tail {
  /** Oldest first, at most `depth` of them. */
  messages: MessageRecord[];
  /** How many messages this tail keeps (the largest `limit` asked of it). */
  depth: number;
  /** True when the tail holds every message of the conversation (it has fewer than `depth`). */
  isComplete: boolean;
  chars: number;
}

export interface MessageTailLimits {
  maxMessages: number;
  maxChars: number;
  /** Deepest tail kept for one conversation; deeper reads go to SQLite. */
  maxDepth: number;
}

export const DEFAULT_TAIL_LIMITS: MessageTailLimits = { maxMessages: 20_000, maxChars: 4_000_000, maxDepth: 1_000 };

/** Name of the SQL function the triggers call. */
const CHANGED_FUNCTION = 'persona_mcp_message_changed';

export class MessageTails {
  /** In least recently used order (a Map iterates in insertion order; a use re-inserts). */
  private readonly tails = new Map<string, Tail>();
  private messageCount = 0;
  private charCount = 0;
  /** Set while the store inserts a message itself: it appends that one after the commit. */
  private isOwnInsert = false;

  constructor(private readonly limits: MessageTailLimits = DEFAULT_TAIL_LIMITS) {}

  /** False until the triggers are in place (a read-only connection cannot create them): nothing is cached then. */
  private isWatching = false;

  /**
   * Installs the triggers that report every change to `messages` on this connection. Where they cannot
   * be created (a read-only or `query_only` connection) nothing is ever cached, and every read goes to SQLite.
   */
  install(db: Database): void {
    try {
      this.createTriggers(db);
      this.isWatching = true;
    } catch {
      this.isWatching = false;
    }
  }

  private createTriggers(db: Database): void {
    db.function(CHANGED_FUNCTION, { deterministic: false, varargs: false }, (conversationId: unknown) => {
      if (typeof conversationId === 'string') this.changed(conversationId);
      return null;
    });
    db.exec(`
      CREATE TEMP TRIGGER IF NOT EXISTS persona_mcp_messages_inserted AFTER INSERT ON main.messages
        BEGIN SELECT ${CHANGED_FUNCTION}(NEW.conversation_id); END;
      CREATE TEMP TRIGGER IF NOT EXISTS persona_mcp_messages_updated AFTER UPDATE ON main.messages
        BEGIN SELECT ${CHANGED_FUNCTION}(OLD.conversation_id); SELECT ${CHANGED_FUNCTION}(NEW.conversation_id); END;
      CREATE TEMP TRIGGER IF NOT EXISTS persona_mcp_messages_deleted AFTER DELETE ON main.messages
        BEGIN SELECT ${CHANGED_FUNCTION}(OLD.conversation_id); END;
    `);
  }

  /** Runs the store's own insert: the trigger leaves the tail alone, the store appends after the commit. */
  ownInsert<T>(insert: () => T): T {
    this.isOwnInsert = true;
    try {
      return insert();
    } finally {
      this.isOwnInsert = false;
    }
  }

  /** A row of `conversationId` changed (the triggers): its tail is no longer known to be right. */
  changed(conversationId: string): void {
    if (!this.isOwnInsert) this.forget(conversationId);
  }

  /** The newest `limit` messages, oldest first, or null when the tail cannot tell (read SQLite, then {@link remember}). */
  read(conversationId: string, limit: number): MessageRecord[] | null {
    const tail = this.tails.get(conversationId);
    if (tail === undefined) return null;
    if (tail.messages.length < limit && !tail.isComplete) return null;
    this.touch(conversationId, tail);
    return tail.messages.slice(-limit);
  }

  /** What SQLite answered to a read of `limit` messages (oldest first). */
  remember(conversationId: string, messages: readonly MessageRecord[], limit: number): void {
    if (!this.isWatching || limit > this.limits.maxDepth) return;
    const current = this.tails.get(conversationId);
    // A shallower read never replaces a deeper tail of the same conversation.
    if (current !== undefined && current.depth >= limit) return;
    this.forget(conversationId);
    const tail: Tail = { messages: messages.map(freeze), depth: limit, isComplete: messages.length < limit, chars: 0 };
    for (const message of tail.messages) tail.chars += message.content.length;
    this.tails.set(conversationId, tail);
    this.messageCount += tail.messages.length;
    this.charCount += tail.chars;
    this.evict();
  }

  /** Messages the store inserted, after their transaction committed. */
  appended(messages: readonly MessageRecord[]): void {
    for (const message of messages) {
      const tail = this.tails.get(message.conversationId);
      if (tail === undefined) continue;
      const last = tail.messages.at(-1);
      if (last !== undefined && last.id >= message.id) {
        this.forget(message.conversationId); // out of order: never guess
        continue;
      }
      tail.messages.push(freeze(message));
      tail.chars += message.content.length;
      this.messageCount += 1;
      this.charCount += message.content.length;
      while (tail.messages.length > tail.depth) {
        const dropped = tail.messages.shift();
        tail.isComplete = false;
        if (dropped === undefined) break;
        tail.chars -= dropped.content.length;
        this.messageCount -= 1;
        this.charCount -= dropped.content.length;
      }
      this.touch(message.conversationId, tail);
    }
    this.evict();
  }

  forget(conversationId: string): void {
    const tail = this.tails.get(conversationId);
    if (tail === undefined) return;
    this.tails.delete(conversationId);
    this.messageCount -= tail.messages.length;
    this.charCount -= tail.chars;
  }

  forgetAll(): void {
    this.tails.clear();
    this.messageCount = 0;
    this.charCount = 0;
  }

  /** Conversations and messages held (tests, diagnostics). */
  get size(): { conversations: number; messages: number; chars: number } {
    return { conversations: this.tails.size, messages: this.messageCount, chars: this.charCount };
  }

  private touch(conversationId: string, tail: Tail): void {
    this.tails.delete(conversationId);
    this.tails.set(conversationId, tail);
  }

  private evict(): void {
    for (const conversationId of this.tails.keys()) {
      if (this.messageCount <= this.limits.maxMessages && this.charCount <= this.limits.maxChars) return;
      this.forget(conversationId);
    }
  }
}

function freeze(message: MessageRecord): MessageRecord {
  return Object.isFrozen(message) ? message : Object.freeze({ ...message });
}
