/** Limits, origin checks and metrics on the real server. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
      'limits.rateLimitPerSecond': 5,
      'limits.rateLimitBurst': 5,
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
  it('rate-limits a connection with -32021 and retry_after_ms, per request id', async () => {
    const client = await server.connect();
    for (let id = 1; id <= 6; id += 1) client.send({ jsonrpc: '2.0', id, method: 'persona.list' });
    const frames = await Promise.all(Array.from({ length: 6 }, () => client.next()));
    const limited = frames.filter((frame) => frame.error?.code === -32021);
    expect(limited).toHaveLength(1);
    expect(limited[0].id).toBe(6);
    expect(limited[0].error.data.retry_after_ms).toBeGreaterThan(0);
    expect(limited[0].error.message).toContain('5 requests per second');

    client.send([
      { jsonrpc: '2.0', id: 'a', method: 'persona.list' },
      { jsonrpc: '2.0', method: 'persona.list' },
      { jsonrpc: '2.0', id: 'b', method: 'persona.list' },
    ]);
    const batch = await client.next();
    expect(batch.map((frame: { id: string }) => frame.id)).toEqual(['a', 'b']);
    expect(batch.every((frame: { error?: { code: number } }) => frame.error?.code === -32021)).toBe(true);
    await client.close();
  });

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
