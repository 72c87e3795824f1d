/**
 * Domain events, published after the change they describe is committed. Transports subscribe to push
 * notifications (MCP list-changed, transcript updates, group-conversation turns). In one process this
 * is an in-memory bus; a Redis pub/sub adapter can carry it across processes later.
 */
import type { MessageRecord } from './store.js';

export type DomainEvent =
  | { type: 'personaChanged'; personaId: string; change: 'created' | 'updated' | 'deleted' }
  /**
   * `isRecovered`: published again at start-up for a message whose after-reply work a crash interrupted
   * (`TurnRunner.recoverAfterReplies`); some of that work (a filing) may have been written before it.
   */
  | { type: 'messageStored'; conversationId: string; message: MessageRecord; isRecovered?: boolean }
  | { type: 'conversationStarted'; conversationId: string; personaIds: string[] }
  | { type: 'conversationEnded'; conversationId: string; reason: string }
  /** A bundle was imported into the live store (`state.load`): caches of the named tables are stale. */
  | { type: 'stateImported'; tables: string[] };

export type DomainEventListener = (event: DomainEvent) => void;

export interface SubscribeOptions {
  /**
   * Also hear events published by other server nodes sharing the store (Redis pub/sub, see
   * src/adapters/redis). For listeners that push to clients or drop caches; never for listeners that
   * write (each node would write once). Ignored with a single node.
   */
  fromOtherNodes?: boolean;
}

export interface EventBus {
  publish(event: DomainEvent): void;
  /** Returns the function that unsubscribes. */
  subscribe(listener: DomainEventListener, options?: SubscribeOptions): () => void;
}
