import type { DomainEvent, DomainEventListener, EventBus } from '../../ports/events.js';

/**
 * Delivers events synchronously to listeners in this process. A listener that throws is reported to
 * `onListenerError` and does not stop delivery to the others.
 */
export class InProcessEventBus implements EventBus {
  private readonly listeners = new Set<DomainEventListener>();
  private readonly onListenerError: (error: unknown, event: DomainEvent) => void;

  constructor(onListenerError: (error: unknown, event: DomainEvent) => void = () => {}) {
    this.onListenerError = onListenerError;
  }

  publish(event: DomainEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.onListenerError(error, event);
      }
    }
  }

  subscribe(listener: DomainEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
