/**
 * The shared LLM slots and rate limits against a real redis-server (Debian's package; skipped when it is
 * not installed): the deployment-wide order of the queue, and what a node does when Redis goes away.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findRedisServer, startRedis, type LocalProcess } from '../../../test/helpers/local-services.js';
import type { LlmChatEvent, LlmChatRequest, LlmModel, LlmProvider, LlmStatus } from '../../ports/llm.js';
import { QueuedLlmProvider } from '../llm-queue/queued-provider.js';
import { LocalRateLimits } from '../rate-limits/local-rate-limits.js';
import { RedisConnection } from './connection.js';
import { RedisLlmSlots } from './llm-slots.js';
import { SharedRateLimits } from './shared-rate-limits.js';

const hasRedis = findRedisServer() !== null;
if (!hasRedis) console.warn('Redis sharing tests skipped: Redis is not installed (apt-get install redis-server)');

/** A backend that answers at once. */
const instant: LlmProvider = {
  name: 'instant',
  async *chat(): AsyncGenerator<LlmChatEvent> {
    yield { type: 'done', promptTokens: 1, completionTokens: 1, model: 'm' };
  },
  listModels: async (): Promise<LlmModel[]> => [],
  status: async (): Promise<LlmStatus> => ({ reachable: true, endpoint: 'x', models: [] }) as unknown as LlmStatus,
};
const request: LlmChatRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }] } as LlmChatRequest;

describe.skipIf(!hasRedis)('sharing through Redis', () => {
  let redis: LocalProcess;
  const opened: Array<{ close(): unknown }> = [];

  beforeEach(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    for (const item of opened.splice(0).reverse()) await item.close();
    await redis.stop();
  });

  const connect = async (): Promise<RedisConnection> => {
    const connection = await RedisConnection.open(redis.url, 'test:');
    opened.push(connection);
    return connection;
  };
  const slotsOn = (connection: RedisConnection, limits = { concurrency: 1, maxQueued: 4 }): RedisLlmSlots => {
    const slots = new RedisLlmSlots(connection, { backend: 'ollama', ...limits, pollMs: 50 });
    opened.push(slots);
    return slots;
  };

  it('runs waiting chats of every node in one order: interactive ones ahead of background work', async () => {
    const [one, two] = [slotsOn(await connect()), slotsOn(await connect())];
    const signal = new AbortController().signal;
    const release = await one.acquire({ isBackground: false }, signal);
    const order: string[] = [];
    const background = two.acquire({ isBackground: true }, signal).then((done) => (order.push('background on two'), done));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const interactive = one.acquire({ isBackground: false }, signal).then((done) => (order.push('interactive on one'), done));
    await expect.poll(() => one.stats(), { timeout: 2_000 }).toEqual({ running: 1, queued: 2 });
    release();
    (await interactive)();
    (await background)();
    expect(order).toEqual(['interactive on one', 'background on two']);
    await expect.poll(() => two.stats(), { timeout: 2_000 }).toEqual({ running: 0, queued: 0 });
  });

  it("leases a jobs worker thread the deployment's shared slot, not only this node's", async () => {
    const [one, two] = [slotsOn(await connect()), slotsOn(await connect())];
    const provider = new QueuedLlmProvider(instant, { concurrency: 1, maxQueued: 4, shared: one });
    const signal = new AbortController().signal;
    const onOtherNode = await two.acquire({ isBackground: false }, signal);

    const leased = provider.lease({ isBackground: true, isRequeued: false, isPreemptible: true }, signal, () => {});
    await expect.poll(() => one.stats(), { timeout: 2_000 }).toEqual({ running: 1, queued: 1 });
    onOtherNode();
    const lease = await leased;

    expect(provider.stats()).toMatchObject({ running: 1, queued: 0 });
    lease.release();
    expect(provider.stats()).toMatchObject({ running: 0, queued: 0 });
    await expect.poll(() => two.stats(), { timeout: 2_000 }).toEqual({ running: 0, queued: 0 });
  });

  it("queues a chat on the node's own queue when Redis is down, and says so", async () => {
    const failures: unknown[] = [];
    const provider = new QueuedLlmProvider(instant, { concurrency: 1, maxQueued: 1, shared: slotsOn(await connect()), onSharedFailure: (error) => failures.push(error) });
    const drain = async (): Promise<number> => {
      let events = 0;
      for await (const _ of provider.chat(request, new AbortController().signal)) events += 1;
      return events;
    };
    expect(await drain()).toBe(1);
    expect(failures).toEqual([]);
    await redis.stop();
    expect(await drain()).toBe(1);
    expect(failures).toHaveLength(1);
  });

  it('does not let a Redis that stopped answering hold chats or requests', async () => {
    const connection = await connect();
    const failures: unknown[] = [];
    const provider = new QueuedLlmProvider(instant, { concurrency: 1, maxQueued: 1, shared: slotsOn(connection), onSharedFailure: (error) => failures.push(error) });
    const limits = new SharedRateLimits(connection, { budgets: { perKey: 5, perAddress: 5 }, fallback: new LocalRateLimits({ perKey: 5, perAddress: 5 }, { now: () => Date.now() }) });
    opened.push(limits);
    redis.child.kill('SIGSTOP');
    try {
      const started = Date.now();
      expect(await limits.take({ keyId: 'k', address: '192.0.2.9' }, 1)).toEqual({ allowed: true });
      let events = 0;
      for await (const _ of provider.chat(request, new AbortController().signal)) events += 1;
      expect(events).toBe(1);
      expect(failures).toHaveLength(1);
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      redis.child.kill('SIGCONT');
    }
  });

  it("judges requests by the node's own limits, at once, when Redis is down, and warns once", async () => {
    const connection = await connect();
    const changes: boolean[] = [];
    const clock = { now: () => Date.now() };
    const limits = new SharedRateLimits(connection, {
      budgets: { perKey: 3, perAddress: 0 },
      fallback: new LocalRateLimits({ perKey: 3, perAddress: 0 }, clock),
      onShared: (shared) => changes.push(shared),
    });
    opened.push(limits);
    const subject = { keyId: 'k1', address: '192.0.2.1' };
    for (let i = 0; i < 3; i++) expect(await limits.take(subject, 1)).toEqual({ allowed: true });
    expect(await limits.take(subject, 1)).toMatchObject({ allowed: false, limit: 'key', perSecond: 3 });

    await redis.stop();
    const started = Date.now();
    // The node's own bucket of 3 for this key: served, within the Redis timeout, then limited.
    for (let i = 0; i < 3; i++) expect(await limits.take(subject, 1)).toEqual({ allowed: true });
    expect(await limits.take(subject, 1)).toMatchObject({ allowed: false, limit: 'key' });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(changes).toEqual([false]);
  });
});
