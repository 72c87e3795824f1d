/**
 * The LLM queue's slots shared by every node (src/ports/llm-slots.ts) in Redis, so `llm.concurrency` and
 * `llm.maxQueued` hold for the whole deployment rather than per node, in the same order as one node's
 * queue: first come first served, interactive chats ahead of background work.
 *
 * Per backend name three sorted sets: `waiting` (tickets in queue order), `running` and `expiry` (each
 * ticket's lease end). Every ticket has a lease that its node renews while the chat waits or runs; a node
 * that dies stops renewing, and the next script run by any node drops its expired tickets, so a dead node
 * never keeps slots for longer than one lease. A waiting ticket runs once it is among the first
 * `concurrency − running` tickets of `waiting`; nodes look again when any node releases a slot (pub/sub)
 * and on a short timer (for slots freed by expiry). Times are Redis's own (`TIME`), not the nodes'.
 *
 * No library offers a bounded, ordered semaphore with leases (redis-semaphore polls without order and
 * without a queue bound; BullMQ queues jobs, not streams that run in the caller), hence the scripts.
 */
import type { LlmSlotRequest, LlmSlots, LlmSlotsSnapshot } from '../../ports/llm-slots.js';
import { AppError } from '../../domain/errors.js';
import type { RedisConnection } from './connection.js';

/** Drops expired tickets; leaves `now` (Redis time, ms) set. KEYS: waiting, running, expiry. */
const PURGE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for _, ticket in ipairs(dead) do redis.call('ZREM', KEYS[1], ticket) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
`;

/**
 * KEYS: waiting, running, expiry, sequence. ARGV: ticket, background (0/1), lease ms, concurrency, maxQueued.
 * Returns {state, running, waiting}: state 1 runs now, 0 waits, -1 refused (queue full).
 */
const ENTER = `${PURGE}
local running = redis.call('ZCARD', KEYS[2])
local waiting = redis.call('ZCARD', KEYS[1])
local lease = tonumber(ARGV[3])
if running < tonumber(ARGV[4]) and waiting == 0 then
  redis.call('ZADD', KEYS[2], now + lease, ARGV[1])
  return {1, running + 1, waiting}
end
if waiting >= tonumber(ARGV[5]) then return {-1, running, waiting} end
local order = redis.call('INCR', KEYS[4])
if ARGV[2] == '1' then order = order + 1e13 end
redis.call('ZADD', KEYS[1], order, ARGV[1])
redis.call('ZADD', KEYS[3], now + lease, ARGV[1])
return {0, running, waiting + 1}
`;

/**
 * KEYS: waiting, running, expiry. ARGV: ticket, lease ms, concurrency.
 * Returns {state, running, waiting}: 1 runs now, 0 still waits (lease renewed), -2 the ticket is gone
 * (its lease ran out: the node could not reach Redis for a whole lease).
 */
const POLL = `${PURGE}
local running = redis.call('ZCARD', KEYS[2])
local waiting = redis.call('ZCARD', KEYS[1])
local rank = redis.call('ZRANK', KEYS[1], ARGV[1])
if not rank then return {-2, running, waiting} end
local lease = tonumber(ARGV[2])
if rank < tonumber(ARGV[3]) - running then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('ZADD', KEYS[2], now + lease, ARGV[1])
  return {1, running + 1, waiting - 1}
end
redis.call('ZADD', KEYS[3], 'XX', now + lease, ARGV[1])
return {0, running, waiting}
`;

/** KEYS: waiting, running, expiry. ARGV: lease ms, tickets… Renews the leases of this node's tickets; returns the counts. */
const RENEW = `${PURGE}
local lease = tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[2], 'XX', now + lease, ARGV[i])
  redis.call('ZADD', KEYS[3], 'XX', now + lease, ARGV[i])
end
return {redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[1])}
`;

/** KEYS: waiting, running, expiry. ARGV: ticket. */
const RELEASE = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return {redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[1])}
`;

interface Waiter {
  ticket: string;
  resolve(): void;
  reject(error: Error): void;
  polling: boolean;
  /** When Redis last answered this ticket's poll (node clock: only to notice Redis going away). */
  answeredAt: number;
}

export interface RedisLlmSlotsOptions {
  /** The backend's name: nodes share the slots of backends with the same name. */
  backend: string;
  concurrency: number;
  maxQueued: number;
  /** How long a ticket lives without renewal: the longest a dead node's slots stay taken. */
  leaseMs?: number;
  /** How often waiting tickets look for a free slot besides the release notices. */
  pollMs?: number;
  /** Longest wait for Redis to take a chat into the shared queue before the node's own queue takes it. */
  enterTimeoutMs?: number;
  onError?: (error: unknown, what: string) => void;
}

export class RedisLlmSlots implements LlmSlots {
  private readonly keys: [string, string, string];
  private readonly sequenceKey: string;
  private readonly channel: string;
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly enterTimeoutMs: number;
  /** This node's tickets that wait or run. */
  private readonly mine = new Set<string>();
  private readonly waiters = new Map<string, Waiter>();
  private nextTicket = 1;
  private snapshot: LlmSlotsSnapshot = { running: 0, queued: 0 };
  private readonly renewTimer: NodeJS.Timeout;
  private pollTimer: NodeJS.Timeout | null = null;
  private readonly onMessage: (channel: string) => void;
  private closed = false;

  constructor(
    private readonly redis: RedisConnection,
    private readonly options: RedisLlmSlotsOptions,
  ) {
    const base = redis.key(`llm:${options.backend}:`);
    this.keys = [`${base}waiting`, `${base}running`, `${base}expiry`];
    this.sequenceKey = `${base}sequence`;
    this.channel = `${base}released`;
    this.leaseMs = options.leaseMs ?? 5_000;
    this.pollMs = options.pollMs ?? 250;
    this.enterTimeoutMs = options.enterTimeoutMs ?? 1_000;
    // Renews this node's leases (and refreshes the deployment-wide counts) three times per lease.
    this.renewTimer = setInterval(() => void this.renew(), Math.max(50, Math.floor(this.leaseMs / 3)));
    this.renewTimer.unref();
    this.onMessage = (channel) => {
      if (channel === this.channel) this.pollAll();
    };
    redis.subscriber.on('message', this.onMessage);
    redis.subscriber.subscribe(this.channel).catch((error: unknown) => this.fail(error, 'subscribing to slot releases'));
  }

  /** The deployment's queue as last seen (refreshed at least three times per lease). */
  stats(): LlmSlotsSnapshot {
    return { ...this.snapshot };
  }

  async acquire(request: LlmSlotRequest, signal: AbortSignal): Promise<() => void> {
    // Reconnecting: the node's own queue answers at once rather than after ioredis' retries.
    if (this.redis.commands.status !== 'ready') throw new Error(`Redis is not connected (${this.redis.commands.status})`);
    const ticket = `${this.redis.nodeId}:${this.nextTicket++}`;
    // A Redis that stopped answering (yet still connected) must not hold the chat: after `enterTimeoutMs`
    // the node's own queue takes it; a ticket written meanwhile is never renewed and runs out.
    const [state, running, waiting] = (await withTimeout(this.enterTimeoutMs, this.redis.commands.eval(
      ENTER,
      4,
      ...this.keys,
      this.sequenceKey,
      ticket,
      request.isBackground ? '1' : '0',
      this.leaseMs,
      this.options.concurrency,
      this.options.maxQueued,
    ))) as [number, number, number];
    this.snapshot = { running, queued: waiting };
    if (state === -1) {
      throw new AppError(
        'llm_busy',
        `All ${this.options.concurrency} chat slots of "${this.options.backend}" are busy and ${waiting} requests are waiting across the nodes; try again in a moment.`,
        { data: { concurrency: this.options.concurrency, queued: waiting, scope: 'cluster' } },
      );
    }
    this.mine.add(ticket);
    const release = this.releaser(ticket);
    if (state === 1) return release;
    try {
      await this.wait(ticket, signal);
    } catch (error) {
      release();
      throw error;
    }
    return release;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.renewTimer);
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    this.redis.subscriber.off('message', this.onMessage);
    for (const waiter of this.waiters.values()) waiter.reject(new AppError('cancelled', 'The server is shutting down.'));
    this.waiters.clear();
  }

  private wait(ticket: string, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiters.delete(ticket);
        reject(new AppError('cancelled', 'The chat was cancelled while it waited for the model.'));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      const done = (): void => {
        signal.removeEventListener('abort', onAbort);
        this.waiters.delete(ticket);
      };
      this.waiters.set(ticket, {
        ticket,
        polling: false,
        answeredAt: Date.now(),
        resolve: () => {
          done();
          resolve();
        },
        reject: (error) => {
          done();
          reject(error);
        },
      });
      this.pollTimer ??= setInterval(() => this.pollAll(), this.pollMs);
      this.pollTimer.unref();
    });
  }

  private pollAll(): void {
    if (this.waiters.size === 0) {
      if (this.pollTimer !== null) clearInterval(this.pollTimer);
      this.pollTimer = null;
      return;
    }
    for (const waiter of this.waiters.values()) void this.poll(waiter);
  }

  private async poll(waiter: Waiter): Promise<void> {
    if (waiter.polling) return;
    waiter.polling = true;
    try {
      const [state, running, waiting] = (await this.redis.commands.eval(POLL, 3, ...this.keys, waiter.ticket, this.leaseMs, this.options.concurrency)) as [
        number,
        number,
        number,
      ];
      this.snapshot = { running, queued: waiting };
      waiter.answeredAt = Date.now();
      if (!this.waiters.has(waiter.ticket)) {
        // Cancelled meanwhile: a slot just granted goes back at once (the releaser removes the ticket).
        if (state === 1) this.releaser(waiter.ticket)();
        return;
      }
      if (state === 1) waiter.resolve();
      else if (state === -2)
        waiter.reject(new AppError('llm_unavailable', 'Lost the place in the model queue (Redis was unreachable for too long); send the message again.'));
    } catch (error) {
      this.fail(error, 'looking for a free model slot');
      // Unanswered for a whole lease: the ticket is gone from Redis anyway; the node's own queue takes over.
      if (Date.now() - waiter.answeredAt > this.leaseMs) waiter.reject(new Error('Redis did not answer for a whole lease'));
    } finally {
      waiter.polling = false;
    }
  }

  private releaser(ticket: string): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.mine.delete(ticket);
      this.redis.commands
        .eval(RELEASE, 3, ...this.keys, ticket)
        .then((counts) => {
          const [running, waiting] = counts as [number, number];
          this.snapshot = { running, queued: waiting };
          return this.redis.commands.publish(this.channel, '1');
        })
        .catch((error: unknown) => this.fail(error, 'releasing a model slot (its lease will run out)'));
    };
  }

  private async renew(): Promise<void> {
    if (this.closed) return;
    try {
      const [running, waiting] = (await this.redis.commands.eval(RENEW, 3, ...this.keys, this.leaseMs, ...this.mine)) as [number, number];
      this.snapshot = { running, queued: waiting };
    } catch (error) {
      this.fail(error, 'renewing model slot leases');
    }
  }

  private fail(error: unknown, what: string): void {
    this.options.onError?.(error, what);
  }
}

function withTimeout<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
