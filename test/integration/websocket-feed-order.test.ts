/**
 * A subscriber hears a conversation's feed only after the answer to its own subscribe: clients (and the
 * old server's) read the next frame after a request as its answer. Driven by a real WebSocket transport
 * on an ephemeral port whose subscribe method publishes to the topic before it returns, so the feed
 * frame is ready before the answer every time (it raced in scale-out tests before).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { silentLogger } from '../../src/logger.js';
import { JsonRpcEngine } from '../../src/rpc/jsonrpc.js';
import { defineMethod, MethodRegistry } from '../../src/rpc/registry.js';
import { standaloneTransport } from '../helpers/transport.js';
import { TestClient } from '../helpers/ws-client.js';
import type { WebSocketTransport } from '../../src/transports/websocket.js';

let transport: WebSocketTransport;
let http: Server;
let url: string;
const shutdown = new AbortController();

const registry = new MethodRegistry([
  defineMethod({
    name: 'feed.subscribe',
    summary: 'subscribes, and the feed publishes before the answer is sent',
    requires: 'user',
    params: z.object({ topic: z.string(), publish_before_answer: z.number().int() }),
    result: z.object({ subscribed: z.boolean() }),
    handler: async ({ topic, publish_before_answer }, context) => {
      const subscribed = context.subscribe?.(topic) ?? false;
      for (let n = 1; n <= publish_before_answer; n += 1) transport.publish(topic, 'feed.update', { n });
      return { subscribed };
    },
  }),
  defineMethod({
    name: 'feed.unsubscribe',
    summary: 'unsubscribes',
    requires: 'user',
    params: z.object({ topic: z.string() }),
    result: z.object({ unsubscribed: z.boolean() }),
    handler: async ({ topic }, context) => ({ unsubscribed: context.unsubscribe?.(topic) ?? false }),
  }),
]);

beforeAll(async () => {
  transport = standaloneTransport(new JsonRpcEngine(registry, { logger: silentLogger(), validateResults: true, maxBatchSize: 10 }), silentLogger(), shutdown.signal);
  http = createServer();
  http.on('upgrade', (request, socket, head) => void transport.handleUpgrade(request, socket, head, new URL(request.url ?? '/', 'http://localhost')));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
});

afterAll(async () => {
  shutdown.abort();
  await transport.close(100);
  await new Promise((resolve) => http.close(resolve));
});

describe('WebSocket feed order', () => {
  it('answers the subscribe first, then delivers what was published meanwhile, in order', async () => {
    const client = await TestClient.connect(url);
    client.socket.send(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'feed.subscribe', params: { topic: 'conversation:a', publish_before_answer: 2 } }));
    expect(await client.next()).toEqual({ jsonrpc: '2.0', id: 7, result: { subscribed: true } });
    expect(await client.next()).toMatchObject({ method: 'feed.update', params: { n: 1 } });
    expect(await client.next()).toMatchObject({ method: 'feed.update', params: { n: 2 } });
    // Once answered, the feed goes straight through.
    transport.publish('conversation:a', 'feed.update', { n: 3 });
    expect(await client.next()).toMatchObject({ params: { n: 3 } });
    await client.close();
  });

  it('holds per subscription: a batch answers both, then both feeds follow', async () => {
    const client = await TestClient.connect(url);
    client.socket.send(JSON.stringify([
      { jsonrpc: '2.0', id: 1, method: 'feed.subscribe', params: { topic: 'conversation:b', publish_before_answer: 1 } },
      { jsonrpc: '2.0', id: 2, method: 'feed.subscribe', params: { topic: 'conversation:c', publish_before_answer: 1 } },
    ]));
    const answers = await client.next();
    expect(Array.isArray(answers) && answers.map((answer: { id: number }) => answer.id).sort()).toEqual([1, 2]);
    const feed = [await client.next(), await client.next()];
    expect(feed.every((frame) => frame.method === 'feed.update')).toBe(true);
    await client.close();
  });

  it('holds nothing for a subscribe sent as a notification (no answer is coming), and stops after unsubscribe', async () => {
    const client = await TestClient.connect(url);
    client.socket.send(JSON.stringify({ jsonrpc: '2.0', method: 'feed.subscribe', params: { topic: 'conversation:d', publish_before_answer: 1 } }));
    expect(await client.next()).toMatchObject({ method: 'feed.update', params: { n: 1 } });
    expect(await client.result('feed.unsubscribe', { topic: 'conversation:d' })).toEqual({ unsubscribed: true });
    transport.publish('conversation:d', 'feed.update', { n: 2 });
    expect(await client.quietFor(150)).toBe(true);
    await client.close();
  });
});
