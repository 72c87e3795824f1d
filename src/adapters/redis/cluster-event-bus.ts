/**
 * The event bus across nodes: events are delivered in this process at once (as with one node) and
 * published on a Redis channel; events from other nodes reach only the listeners that asked for them
 * (`fromOtherNodes`: the conversation feed, caches), so work done per event (filing a message in a topic
 * thread, metrics) still happens once, on the node that made the change. Redis delivers a node's events
 * in the order it published them. Pub/sub keeps nothing: a node that is disconnected misses events of
 * that moment (clients catch up with conversation.history; caches are reloaded from the store).
 */
import type { DomainEvent, DomainEventListener, EventBus, SubscribeOptions } from '../../ports/events.js';
import type { RedisConnection } from './connection.js';

interface Envelope {
  origin: string;
  event: DomainEvent;
}

export class ClusterEventBus implements EventBus {
  private readonly remoteListeners = new Set<DomainEventListener>();
  private readonly channel: string;

  constructor(
    private readonly local: EventBus,
    private readonly redis: RedisConnection,
    private readonly onError: (error: unknown, what: string) => void = () => {},
  ) {
    this.channel = redis.key('events');
  }

  /** Subscribes to the channel; events published before this resolves are not heard from other nodes. */
  async start(): Promise<void> {
    this.redis.subscriber.on('message', (channel: string, text: string) => {
      if (channel !== this.channel) return;
      let envelope: Envelope;
      try {
        envelope = JSON.parse(text) as Envelope;
      } catch (error) {
        this.onError(error, 'an unreadable event from Redis');
        return;
      }
      if (envelope.origin === this.redis.nodeId) return;
      for (const listener of this.remoteListeners) {
        try {
          listener(envelope.event);
        } catch (error) {
          this.onError(error, `a listener of ${envelope.event.type} from another node`);
        }
      }
    });
    await this.redis.subscriber.subscribe(this.channel);
  }

  publish(event: DomainEvent): void {
    this.local.publish(event);
    this.redis.commands
      .publish(this.channel, JSON.stringify({ origin: this.redis.nodeId, event } satisfies Envelope))
      .catch((error: unknown) => this.onError(error, `publishing ${event.type} to other nodes`));
  }

  /**
   * A named channel between nodes for notifications that are not domain events (a group's status):
   * `publish` reaches the other nodes' subscribers, never this node's.
   */
  relay<T>(name: string): { publish(payload: T): void; subscribe(listener: (payload: T) => void): () => void } {
    const channel = this.redis.key(`relay:${name}`);
    const listeners = new Set<(payload: T) => void>();
    let subscribed: Promise<unknown> | null = null;
    this.redis.subscriber.on('message', (from: string, text: string) => {
      if (from !== channel) return;
      let envelope: { origin: string; payload: T };
      try {
        envelope = JSON.parse(text) as { origin: string; payload: T };
      } catch (error) {
        this.onError(error, `an unreadable ${name} message from Redis`);
        return;
      }
      if (envelope.origin === this.redis.nodeId) return;
      for (const listener of listeners) {
        try {
          listener(envelope.payload);
        } catch (error) {
          this.onError(error, `a listener of ${name} from another node`);
        }
      }
    });
    return {
      publish: (payload) => {
        this.redis.commands
          .publish(channel, JSON.stringify({ origin: this.redis.nodeId, payload }))
          .catch((error: unknown) => this.onError(error, `publishing ${name} to other nodes`));
      },
      subscribe: (listener) => {
        subscribed ??= this.redis.subscriber.subscribe(channel).catch((error: unknown) => this.onError(error, `subscribing to ${name}`));
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    };
  }

  /** Events of the other nodes only (not this node's): for refreshing caches of what they changed. */
  subscribeRemote(listener: DomainEventListener): () => void {
    this.remoteListeners.add(listener);
    return () => this.remoteListeners.delete(listener);
  }

  subscribe(listener: DomainEventListener, options: SubscribeOptions = {}): () => void {
    const unsubscribe = this.local.subscribe(listener);
    if (options.fromOtherNodes === true) this.remoteListeners.add(listener);
    return () => {
      unsubscribe();
      this.remoteListeners.delete(listener);
    };
  }
}
