/**
 * What nodes share through Redis beyond turns (issue 20), with the real things: redis-server from
 * Debian's package, the test PostgreSQL and HAProxy, two nodes sharing them.
 * - Scene changes and next-speaker notices made on node A reach a watcher on node B.
 * - One rate budget per API key and per address for both nodes (WebSocket and HTTP alike), the address
 *   being the one HAProxy forwards.
 * - The LLM queue's bound holds across the nodes (the documented busy error), and a node killed with
 *   SIGKILL while holding queue slots does not keep them.
 * Skipped with a message when Redis, PostgreSQL or HAProxy is not installed (.ci/run installs them).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findHaproxy, findRedisServer, startHaproxy, startRedis, type LocalProcess } from '../helpers/local-services.js';
import { freshPostgres, postgresAvailable } from '../helpers/store-backend.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { waitForBanner } from '../helpers/child-server.js';
import { TestClient } from '../helpers/ws-client.js';

const postgres = await postgresAvailable();
const missing = [
  ...(postgres.ok ? [] : [postgres.reason]),
  ...(findRedisServer() === null ? ['Redis is not installed (apt-get install redis-server)'] : []),
  ...(findHaproxy() === null ? ['HAProxy is not installed (apt-get install haproxy)'] : []),
];
const BUILT = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const SOURCE = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const RATE_LIMITED = -32021;
const LLM_BUSY = -32013;

/** A batch of `size` cheap requests; answers the codes of the errors (empty when all passed). */
async function batch(client: TestClient, size: number): Promise<number[]> {
  return (await batchErrors(client, size)).map((error) => error.code as number);
}

async function batchErrors(client: TestClient, size: number): Promise<any[]> {
  const first = 1_000_000 + Math.floor(Math.random() * 1_000_000);
  client.send(Array.from({ length: size }, (_, index) => ({ jsonrpc: '2.0', id: first + index, method: 'session.info' })));
  for (;;) {
    const frame = await client.next(10_000);
    if (Array.isArray(frame)) return frame.filter((answer) => answer.error !== undefined).map((answer) => answer.error);
  }
}
if (missing.length > 0) console.warn(`Redis scale-out test skipped: ${missing.join('; ')}`);

/** Reads frames until one satisfies `wanted` (or the time runs out). */
async function notification(client: TestClient, wanted: (frame: any) => boolean, timeoutMs = 10_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no matching notification within ${timeoutMs} ms`);
    const frame = await client.next(left).catch(() => null);
    if (frame !== null && frame.method !== undefined && wanted(frame)) return frame;
  }
}

describe.skipIf(missing.length > 0)('two nodes sharing PostgreSQL and Redis', () => {
  let ollama: FakeOllama;
  let redis: LocalProcess;
  let nodeA: TestServer;
  let nodeB: TestServer;
  let proxy: LocalProcess;

  beforeAll(async () => {
    ollama = await startFakeOllama({ mode: 'slow', chunkDelayMs: 5 });
    redis = await startRedis();
    const database = await freshPostgres();
    const schema = database.schema;
    const flags: Record<string, unknown> = {
      'database.url': postgres.ok ? postgres.url : '',
      'database.schema': schema,
      'redis.url': redis.url,
      'social.groupTurnDelayMs': 100,
      // Small budgets the test can exhaust; the per-connection bucket out of the way.
      'limits.rateLimitPerKeyPerSecond': 20,
      'limits.rateLimitPerAddressPerSecond': 30,
      'limits.rateLimitPerSecond': 1e6,
      'limits.rateLimitBurst': 1e6,
      'http.trustedProxies': ['loopback'],
    };
    nodeA = await startTestServer({ ollamaUrl: ollama.url, flags });
    nodeB = await startTestServer({ ollamaUrl: ollama.url, flags });
    proxy = await startHaproxy(
      [
        { name: 'a', port: nodeA.server.port },
        { name: 'b', port: nodeB.server.port },
      ],
      { forwardFor: true },
    );
  }, 60_000);

  afterAll(async () => {
    await nodeA?.cleanup();
    await nodeB?.cleanup();
    await proxy?.stop();
    await redis?.stop();
    await ollama?.close();
  });

  it('tells a watcher on node B the scene set on node A, and who speaks next in a group node A runs', async () => {
    const onA = await nodeA.connect();
    const started = await onA.result('conversation.start', { personas: ['aria', 'kira'], topic: 'the lighthouse', max_turns: 2 });
    const conversationId = started.conversation_id;
    const watcher = await nodeB.connect();
    await watcher.result('conversation.subscribe', { conversation_id: conversationId });

    const speaker = await notification(watcher, (frame) => frame.method === 'conversation.speaker' && frame.params.conversation_id === conversationId);
    expect(['aria', 'kira']).toContain(speaker.params.persona_id);
    expect(speaker.params.reason).toEqual(expect.any(String));

    await onA.result('scene.set', { conversation_id: conversationId, location: 'the lighthouse gallery', weather: 'fog' });
    const scene = await notification(watcher, (frame) => frame.method === 'conversation.scene');
    expect(scene.params).toMatchObject({ conversation_id: conversationId, scene: { location: 'the lighthouse gallery', weather: 'fog' } });
  }, 30_000);

  it('gives one API key one request budget on both nodes, over WebSocket and HTTP alike', async () => {
    const { key } = await nodeA.server.auth.createKey({ name: 'budget' });
    const onA = await TestClient.connect(`${nodeA.server.websocketUrl}?token=${key}`);
    const onB = await TestClient.connect(`${nodeB.server.websocketUrl}?token=${key}`);
    try {
      // The key's 20 requests for this second, all through node A…
      expect(await batch(onA, 20)).toEqual([]);
      // …leave nothing on node B, on its WebSocket or its /v1 endpoint.
      const http = await fetch(`${nodeB.server.httpUrl}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
      const [refused] = await batchErrors(onB, 1);
      expect(http.status).toBe(429);
      expect(((await http.json()) as { error: { message: string } }).error.message).toMatch(/limits\.rateLimitPerKeyPerSecond/);
      // A request refused says when to come back; then the key's budget is there again, on either node.
      expect(refused).toMatchObject({ code: RATE_LIMITED, data: { kind: 'rate_limited', limit: 'key' } });
      await new Promise((resolve) => setTimeout(resolve, refused.data.retry_after_ms + 50));
      expect(await batch(onB, 5)).toEqual([]);
    } finally {
      await Promise.all([onA.close(), onB.close()]);
    }
  }, 30_000);

  it('gives one client address one request budget through the proxy, whichever node it reaches', async () => {
    // Round robin: the two connections land on different nodes; HAProxy forwards the client address.
    const headers = { 'x-forwarded-for': '203.0.113.7' };
    const first = await TestClient.connect(`ws://127.0.0.1:${proxy.port}/mcp`, { headers });
    const second = await TestClient.connect(`ws://127.0.0.1:${proxy.port}/mcp`, { headers });
    const other = await TestClient.connect(`ws://127.0.0.1:${proxy.port}/mcp`, { headers: { 'x-forwarded-for': '198.51.100.9' } });
    try {
      const codes = [...(await batch(first, 20)), ...(await batch(second, 20))];
      // 30 per second for the address, not 30 per node: at least 10 of the 40 are refused.
      expect(codes.filter((code) => code === RATE_LIMITED).length).toBeGreaterThanOrEqual(10);
      // Another address has its own budget.
      expect(await batch(other, 20)).toEqual([]);
    } finally {
      await Promise.all([first.close(), second.close(), other.close()]);
    }
  }, 30_000);
});

interface ChildNode {
  child: ChildProcess;
  url: string;
}

/** A node in its own process (SQLite in its data dir, the shared Redis), so it can be killed with SIGKILL. */
async function startChildNode(dataDir: string, config: Record<string, unknown>): Promise<ChildNode> {
  const args = existsSync(BUILT) ? [BUILT] : ['--import', 'tsx', SOURCE];
  const configFile = path.join(dataDir, 'node.config.json');
  writeFileSync(configFile, JSON.stringify({ logLevel: 'warn', ...config }));
  const child = spawn(process.execPath, [...args, 'serve', '--port', '0', '--data-dir', dataDir, '--config', configFile], {
    env: { ...process.env, PERSONA_MCP_DATABASE_URL: '', PERSONA_MCP_REDIS_URL: '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const { url } = await waitForBanner(child, 'the node');
  return { child, url };
}

describe.skipIf(missing.length > 0)("the LLM queue's bound shared by the nodes through Redis", () => {
  let hanging: FakeOllama;
  let answering: FakeOllama;
  let redis: LocalProcess;
  const servers: TestServer[] = [];
  const children: ChildProcess[] = [];
  const clients: TestClient[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    // A model that never answers holds its slots until the clients leave.
    hanging = await startFakeOllama({ mode: 'hang' });
    answering = await startFakeOllama();
    redis = await startRedis();
  }, 30_000);

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(servers.map((server) => server.cleanup()));
    await redis?.stop();
    await hanging?.close();
    await answering?.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  const node = async (ollamaUrl: string, prefix: string): Promise<TestServer> => {
    const server = await startTestServer({ ollamaUrl, flags: { 'redis.url': redis.url, 'redis.prefix': prefix, 'llm.concurrency': 1, 'llm.maxQueued': 1 } });
    servers.push(server);
    return server;
  };
  const client = async (server: TestServer): Promise<TestClient> => {
    const connected = await server.connect();
    clients.push(connected);
    return connected;
  };
  const queueOf = async (server: TestServer): Promise<any> => (await (await client(server)).result('system.status')).llm.queue;

  it('refuses a chat with the busy error when the queue is full across the nodes, and reports the deployment-wide depth', async () => {
    const [a, b] = await Promise.all([node(hanging.url, 'busy:'), node(hanging.url, 'busy:')]);
    const running = await client(a);
    running.send({ jsonrpc: '2.0', id: 1, method: 'persona.chat', params: { persona_id: 'aria', message: 'Tell me about the sea.' } });
    await expect.poll(async () => (await queueOf(b)).cluster, { timeout: 5_000 }).toEqual({ running: 1, queued: 0 });
    const waiting = await client(b);
    waiting.send({ jsonrpc: '2.0', id: 2, method: 'persona.chat', params: { persona_id: 'kira', message: 'And the harbour?' } });
    await expect.poll(async () => (await queueOf(a)).cluster, { timeout: 5_000 }).toEqual({ running: 1, queued: 1 });
    // One slot (running on A) and one place in the queue (taken on B): node A's next chat is refused.
    const refused = await (await client(a)).call('persona.chat', { persona_id: 'aria', message: 'One more?' });
    expect(refused.error).toMatchObject({ code: LLM_BUSY });
    expect(refused.error.message).toMatch(/across the nodes/);
    // Clients that leave give their slots back to the deployment.
    await Promise.all([running.close(), waiting.close()]);
    await expect.poll(async () => (await queueOf(a)).cluster, { timeout: 5_000 }).toEqual({ running: 0, queued: 0 });
  }, 30_000);

  it('frees the slots of a node killed with SIGKILL within a lease, so the other node chats again', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-killed-'));
    dirs.push(dir);
    const [doomed, survivor] = await Promise.all([
      startChildNode(dir, { redis: { url: redis.url }, llm: { ollamaHost: hanging.url, concurrency: 1, maxQueued: 1 } }),
      node(answering.url, 'persona-mcp:'),
    ]);
    children.push(doomed.child);
    const onDoomed = await TestClient.connect(doomed.url);
    clients.push(onDoomed);
    onDoomed.send({ jsonrpc: '2.0', id: 1, method: 'persona.chat', params: { persona_id: 'aria', message: 'Hold the slot.' } });
    await expect.poll(async () => (await queueOf(survivor)).cluster?.running, { timeout: 5_000 }).toBe(1);
    const exited = once(doomed.child, 'exit');
    doomed.child.kill('SIGKILL');
    await exited;
    // The survivor's chat waits for the dead node's slot, then gets it once the lease (5 s) runs out.
    const started = Date.now();
    const asking = await client(survivor);
    asking.send({ jsonrpc: '2.0', id: 1, method: 'persona.chat', params: { persona_id: 'kira', message: 'Is anyone there?' } });
    // The reply comes after the lease, ~5 s: longer than `call`'s 5 s wait for a frame, which it raced.
    const reply = await asking.next(15_000);
    expect(reply.id).toBe(1);
    expect(reply.error).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(9_000);
    await expect.poll(async () => (await queueOf(survivor)).cluster, { timeout: 5_000 }).toEqual({ running: 0, queued: 0 });
  }, 40_000);
});

describe.skipIf(missing.length === 0)('two nodes sharing PostgreSQL and Redis', () => {
  it.skip(`skipped: ${missing.join('; ')}`, () => {});
});
