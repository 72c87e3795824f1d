/**
 * What several nodes share through Redis (`redis.url`, PERSONA_MCP_REDIS_URL), for `app.ts`: the event
 * bus (a subscriber on one node hears turns made on another), group status notifications, group
 * ownership leases (one node runs a group; another takes it over when the owner dies), and cache
 * refreshes (personas created, changed or imported elsewhere). Without Redis: one node, all in process.
 */
import type { Logger } from 'pino';
import { InProcessEventBus } from '../adapters/events/in-process-bus.js';
import { ClusterEventBus } from '../adapters/redis/cluster-event-bus.js';
import { RedisConnection } from '../adapters/redis/connection.js';
import { RedisGroupLeases } from '../adapters/redis/group-leases.js';
import { LocalRateLimits } from '../adapters/rate-limits/local-rate-limits.js';
import { SharedRateLimits } from '../adapters/redis/shared-rate-limits.js';
import { RedisLlmSlots } from '../adapters/redis/llm-slots.js';
import type { LlmSlots } from '../ports/llm-slots.js';
import type { Config } from '../config/schema.js';
import type { Clock } from '../ports/clock.js';
import type { RateBudgets, RequestRateLimits } from '../ports/rate-limits.js';
import type { DomainEvent, EventBus } from '../ports/events.js';
import type { GroupOwnership } from '../ports/group-ownership.js';
import type { GroupStatusChange } from '../services/group/group-conversation-service.js';

/** How often a serving node looks for running groups nobody owns (their node died). */
const TAKEOVER_SWEEP_MS = 1_000;

/** Notifications between nodes: `publish` reaches the other nodes' subscribers, never this node's. */
export interface Relay<T> {
  publish(payload: T): void;
  subscribe(listener: (payload: T) => void): () => void;
}

export interface Cluster {
  events: EventBus;
  /** Present with Redis: which node runs each group. */
  ownership: GroupOwnership | undefined;
  /** The Redis connection, for rate limits and queue depth (null on one node). */
  redis: RedisConnection | null;
  /** Carries group status changes to the other nodes' feeds (none on one node). */
  groupStatus: Relay<GroupStatusChange> | null;
  /**
   * A named channel to the other nodes (null on one node): what a node's feed tells its clients besides
   * stored events (scene changes, next-speaker notices) so that subscribers on every node hear it.
   */
  relay<T>(name: string): Relay<T> | null;
  /**
   * Request rate limits per API key and per address: in Redis (one budget for the deployment) with
   * Redis, else this node's; with Redis unreachable each node falls back to its own, with a warning.
   */
  rateLimits(budgets: RateBudgets, clock: Clock): RequestRateLimits;
  /** With Redis: the LLM queue slots of a backend, shared by the nodes (undefined on one node). */
  llmSlots: ((backend: string, limits: { concurrency: number; maxQueued: number }) => LlmSlots) | undefined;
  /** Hears events published by the other nodes only (cache refreshes); never called on one node. */
  onRemoteEvent(listener: (event: DomainEvent) => void): () => void;
  /** Starts the periodic takeover of orphaned groups (serving nodes only). */
  startTakeover(resume: () => Promise<number>): void;
  close(): Promise<void>;
}

export async function composeCluster(config: Config, logger: Logger): Promise<Cluster> {
  const local = new InProcessEventBus((error, event) => logger.error({ err: error, event: event.type }, 'event listener failed'));
  if (config.redis.url === undefined) {
    return {
      events: local,
      ownership: undefined,
      redis: null,
      groupStatus: null,
      relay: () => null,
      rateLimits: (budgets, clock) => new LocalRateLimits(budgets, clock),
      llmSlots: undefined,
      onRemoteEvent: () => () => {},
      startTakeover() {},
      close: async () => {},
    };
  }
  const redis = await RedisConnection.open(config.redis.url, config.redis.prefix);
  const onError = (error: unknown, what: string): void => logger.warn({ err: error, node: redis.nodeId }, `redis: ${what} failed`);
  const events = new ClusterEventBus(local, redis, onError);
  await events.start();
  logger.info({ redis: redis.label, node: redis.nodeId }, 'sharing events, groups and limits with other nodes through Redis');
  let sweep: NodeJS.Timeout | null = null;
  const slots: RedisLlmSlots[] = [];
  return {
    events,
    ownership: new RedisGroupLeases(redis, 5_000, (error) => onError(error, 'renewing a group lease')),
    redis,
    groupStatus: events.relay<GroupStatusChange>('group-status'),
    relay: <T>(name: string) => events.relay<T>(name),
    rateLimits: (budgets, clock) =>
      new SharedRateLimits(redis, {
        budgets,
        fallback: new LocalRateLimits(budgets, clock),
        onShared: (shared, error) => {
          if (shared) logger.info({ node: redis.nodeId }, 'redis: answering again; rate limits per key and address are shared by the nodes again');
          else logger.warn({ err: error, node: redis.nodeId }, "redis: unreachable; rate limits per key and address are this node's own until it answers");
        },
      }),
    llmSlots: (backend, limits) => {
      const shared = new RedisLlmSlots(redis, { backend, ...limits, onError: (error, what) => onError(error, what) });
      slots.push(shared);
      return shared;
    },
    onRemoteEvent: (listener) => events.subscribeRemote(listener),
    startTakeover(resume) {
      let busy = false;
      sweep = setInterval(() => {
        if (busy) return;
        busy = true;
        resume()
          .then((taken) => {
            logger.debug({ groups: taken }, 'looked for group conversations whose node stopped');
          })
          .catch((error: unknown) => logger.warn({ err: error }, 'could not look for orphaned group conversations'))
          .finally(() => (busy = false));
      }, TAKEOVER_SWEEP_MS);
      sweep.unref();
    },
    async close() {
      if (sweep !== null) clearInterval(sweep);
      for (const shared of slots) shared.close();
      await redis.close();
    },
  };
}
