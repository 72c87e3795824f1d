/** Limits, origin checks and metrics on the real server. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient, upgradeStatus } from '../helpers/ws-client.js';

let ollama: FakeOllama;
let server: TestServer;

beforeAll(async () => {
  ollama = await startFakeOllama();
  server = await startTestServer({
    ollamaUrl: ollama.url,
    flags: {
      'limits.maxConnectionsPerIp': 4,
      'limits.maxConcurrentChatsPerSession': 1,
    },
  });
});
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
});

describe('limits', () => {
  it('refuses upgrades beyond the per-IP limit with HTTP 429 and Retry-After, before any WebSocket exists', async () => {
    const open = await Promise.all([server.connect(), server.connect(), server.connect(), server.connect()]);
    try {
      const refused = await upgradeStatus(server.server.websocketUrl);
      expect(refused.status).toBe(429);
      expect(refused.headers['retry-after']).toBe('5');
      expect(refused.body).toContain('limits.maxConnectionsPerIp');
    } finally {
      await Promise.all(open.map((client) => client.close()));
    }
    // A slot is free again once one closed.
    const again = await server.connect();
    expect((await again.result('persona.list')).total_count).toBe(2);
    await again.close();
  });

  it('refuses a second concurrent chat turn in the same session', async () => {
    ollama.setMode('slow');
    ollama.chunkDelayMs = 30;
    try {
      const client = await server.connect();
      await client.result('persona.switch', { persona_id: 'aria' });
      client.send({ jsonrpc: '2.0', id: 1, method: 'persona.chat', params: { message: 'first' } });
      await ollama.waitForTurn('first');
      client.send({ jsonrpc: '2.0', id: 2, method: 'persona.chat', params: { message: 'second' } });
      const first = await client.next();
      expect(first).toMatchObject({ id: 2, error: { code: -32022 } });
      expect(first.error.message).toContain('limits.maxConcurrentChatsPerSession');
      expect((await client.next(10_000)).id).toBe(1);
      await client.close();
    } finally {
      ollama.setMode('normal');
    }
  });
});

/**
 * Backpressure: a connection over its rate, or with too much work pending, is not read until that is
 * over; what it sends meanwhile waits unread. Timed by a clock the test moves, never by the machine.
 */
describe('backpressure', () => {
  let now = 1_700_000_000_000;
  let limited: TestServer;
  beforeAll(async () => {
    limited = await startTestServer({
      ollamaUrl: ollama.url,
      clock: { now: () => now },
      flags: {
        'limits.rateLimitPerSecond': 5,
        'limits.rateLimitBurst': 5,
        'limits.maxPendingRequestsPerConnection': 2,
        'limits.maxConcurrentChatsPerSession': 5,
        // Both held chats reach the model, so the test can see that both were read.
        'llm.concurrency': 2,
      },
    });
  });
  afterAll(async () => {
    now += 60_000;
    await limited.cleanup();
  });
  afterEach(() => {
    ollama.setMode('normal');
    ollama.releaseHung();
  });

  it('refuses a frame over the rate with -32021 and retry_after_ms, then reads nothing until the next token is due', async () => {
    const client = await limited.connect();
    for (let id = 1; id <= 6; id += 1) client.send({ jsonrpc: '2.0', id, method: 'persona.list' });
    // Answers may overtake each other (a refusal goes out at once): compared by id.
    const first = byId(await Promise.all(Array.from({ length: 6 }, () => client.next())));
    expect(first.map((frame) => frame.error?.code ?? 'ok')).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', -32021]);
    expect(first[5]).toMatchObject({ id: 6, error: { data: { kind: 'rate_limited', retry_after_ms: 200 } } });
    expect(first[5].error.message).toContain('5 requests per second');

    // Sent while the connection is held: read once the clock says a token is due, not refused at once.
    for (let id = 7; id <= 12; id += 1) client.send({ jsonrpc: '2.0', id, method: 'persona.list' });
    now += 200;
    const [seventh, eighth] = byId([await client.next(), await client.next()]);
    expect(seventh).toMatchObject({ id: 7, result: { total_count: 2 } });
    expect(eighth).toMatchObject({ id: 8, error: { code: -32021 } });
    now += 1_000;
    const rest = byId(await Promise.all(Array.from({ length: 4 }, () => client.next())));
    expect(rest.map((frame) => [frame.id, frame.error?.code ?? 'ok'])).toEqual([[9, 'ok'], [10, 'ok'], [11, 'ok'], [12, 'ok']]);

    // One token left: a batch costs its size and is refused whole, one error per request id.
    client.send([
      { jsonrpc: '2.0', id: 'a', method: 'persona.list' },
      { jsonrpc: '2.0', method: 'persona.list' },
      { jsonrpc: '2.0', id: 'b', method: 'persona.list' },
    ]);
    const batch = await client.next();
    expect(batch.map((frame: { id: string }) => frame.id)).toEqual(['a', 'b']);
    expect(batch.every((frame: { error?: { code: number; data: { retry_after_ms: number } } }) => frame.error?.code === -32021 && frame.error.data.retry_after_ms === 400)).toBe(true);
    now += 60_000;
    await client.close();
  });

  it('answers a batch over limits.maxBatchSize with one -32600, even one larger than the rate burst', async () => {
    const client = await limited.connect();
    client.send(Array.from({ length: 101 }, (_, id) => ({ jsonrpc: '2.0', id, method: 'persona.list' })));
    expect(await client.next()).toMatchObject({ id: null, error: { code: -32600, data: { kind: 'limit_exceeded', limit: 100 } } });
    // It ran nothing, so it took one token of five: the next requests are served.
    client.send({ jsonrpc: '2.0', id: 'after', method: 'persona.list' });
    expect(await client.next()).toMatchObject({ id: 'after', result: { total_count: 2 } });
    now += 60_000;
    await client.close();
  });

  it('reads no more frames of a connection while limits.maxPendingRequestsPerConnection of its requests are unanswered', async () => {
    const client = await limited.connect();
    ollama.setMode('hang');
    try {
      // Two personas, two conversations: a conversation's turns take their turn, these run side by side.
      client.send({ jsonrpc: '2.0', id: 1, method: 'persona.chat', params: { message: 'held one', persona_id: 'aria' } });
      client.send({ jsonrpc: '2.0', id: 2, method: 'persona.chat', params: { message: 'held two', persona_id: 'kira' } });
      client.send({ jsonrpc: '2.0', id: 3, method: 'persona.list' });
      await ollama.waitForTurn('held one', 0);
      await ollama.waitForTurn('held two', 0);
    } finally {
      ollama.setMode('normal');
      ollama.releaseHung();
    }
    // Unheld, persona.list would have been answered at once, before either chat.
    const answers = [await client.next(10_000), await client.next(10_000), await client.next(10_000)];
    expect(answers[0].id).not.toBe(3);
    expect(answers.map((frame) => frame.id).sort()).toEqual([1, 2, 3]);
    expect(answers.every((frame) => frame.error === undefined)).toBe(true);
    now += 60_000;
    await client.close();
  });
});

function byId(frames: any[]): any[] {
  return [...frames].sort((a, b) => Number(a.id) - Number(b.id));
}

describe('origin checks', () => {
  it('refuses a WebSocket from a foreign page with 403 and accepts the own origin', async () => {
    await expect(TestClient.connect(server.server.websocketUrl, { origin: 'https://evil.example' })).rejects.toThrow('403');
    const own = await TestClient.connect(server.server.websocketUrl, { origin: server.server.httpUrl });
    expect((await own.result('persona.list')).total_count).toBe(2);
    await own.close();
  });
});

describe('metrics', () => {
  it('serves Prometheus metrics with requests, connections and chat tokens', async () => {
    const client = await server.connect();
    await client.result('persona.switch', { persona_id: 'kira' });
    await client.result('persona.chat', { message: 'count my tokens' });
    const response = await fetch(`${server.server.httpUrl}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toMatch(/persona_mcp_requests_total\{method="persona.switch",outcome="ok"\} \d+/);
    expect(text).toMatch(/persona_mcp_connections [1-9]/);
    expect(text).toMatch(/persona_mcp_llm_tokens_total\{kind="completion"\} [1-9]/);
    expect(text).toMatch(/persona_mcp_database_size_bytes [1-9]/);
    expect(text).toContain('persona_mcp_llm_queue{state="queued"} 0');
    await client.close();
  });

  it('labels unknown methods as "unknown"', async () => {
    const client = await server.connect();
    await client.call('made.up.method');
    const text = await (await fetch(`${server.server.httpUrl}/metrics`)).text();
    expect(text).toContain('method="unknown",outcome="method_not_found"');
    expect(text).not.toContain('made.up.method');
    await client.close();
  });
});
