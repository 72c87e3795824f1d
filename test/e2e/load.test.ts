/**
 * `persona-mcp load`'s engine against a real server, and against a WebSocket server that stalls: the
 * open loop charges the stall to every request scheduled during it (no coordinated omission), the
 * closed loop only to the requests that were waiting.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { parseDuration, parseMix } from '../../src/cli/load.js';
import { mixSequence, runLoad } from '../../src/load/load-generator.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.cleanup();
});

/** Answers every request at once, except that answers are held while `stalled` is true. */
async function stallingServer(): Promise<{ url: string; stall(ms: number): void; close(): Promise<void> }> {
  const http: Server = createServer();
  const wss = new WebSocketServer({ server: http });
  let stalledUntil = 0;
  wss.on('connection', (socket) => {
    socket.on('message', (data) => {
      const id = (JSON.parse(data.toString()) as { id: number }).id;
      const answer = (): void => socket.send(JSON.stringify({ jsonrpc: '2.0', id, result: {} }));
      const wait = stalledUntil - performance.now();
      if (wait > 0) setTimeout(answer, wait);
      else answer();
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`,
    stall: (ms) => (stalledUntil = performance.now() + ms),
    close: () =>
      new Promise((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        http.close(() => resolve());
      }),
  };
}

describe('persona-mcp load', () => {
  it('spreads a weighted mix evenly', () => {
    expect(mixSequence([{ method: 'a', params: {}, weight: 3 }, { method: 'b', params: {}, weight: 1 }])).toEqual([0, 0, 1, 0]);
    expect(parseMix('persona.list=3,persona.status', 'kira', 'hi')).toEqual([
      { method: 'persona.list', params: {}, weight: 3 },
      { method: 'persona.status', params: { persona_id: 'kira' }, weight: 1 },
    ]);
    expect(parseMix('persona.list=0', 'aria', 'hi')).toMatch(/not METHOD or METHOD=WEIGHT/);
    expect([parseDuration('30s'), parseDuration('2m'), parseDuration('250ms'), parseDuration('5'), parseDuration('soon')]).toEqual([30_000, 120_000, 250, 5000, null]);
  });

  it('offers a fixed rate to the real server and answers every request', async () => {
    const result = await runLoad({
      url: server.server.websocketUrl,
      connections: 4,
      durationMs: 600,
      warmupMs: 100,
      mode: 'open',
      ratePerSecond: 200,
      mix: [
        { method: 'persona.list', params: {}, weight: 1 },
        { method: 'persona.status', params: { persona_id: 'aria' }, weight: 1 },
      ],
    });
    expect(result.sent).toBe(120);
    expect(result.completed).toBe(120);
    expect(result.lost).toBe(0);
    expect(result.errors).toEqual({});
    expect(result.perMethod['persona.list']!.latencyMs.count).toBe(60);
    expect(result.latencyMs.p50).toBeGreaterThan(0);
    expect(result.latencyMs.max).toBeGreaterThanOrEqual(result.latencyMs.p99);
  });

  it('counts a stall against every request scheduled during it in the open loop, not in the closed loop', async () => {
    const stalling = await stallingServer();
    try {
      const mix = [{ method: 'x.y', params: {}, weight: 1 }];
      setTimeout(() => stalling.stall(400), 350);
      const open = await runLoad({ url: stalling.url, connections: 2, durationMs: 1000, warmupMs: 100, mode: 'open', ratePerSecond: 200, mix });
      // ~80 of 200 requests were scheduled during the 400 ms stall: their latency runs from their schedule.
      expect(open.latencyMs.p90).toBeGreaterThan(150);
      expect(open.completed).toBe(open.sent);

      setTimeout(() => stalling.stall(400), 350);
      const closed = await runLoad({ url: stalling.url, connections: 2, durationMs: 1000, warmupMs: 100, mode: 'closed', mix });
      // Only the two requests in flight waited; thousands of fast ones hide the stall below p99.
      expect(closed.latencyMs.max).toBeGreaterThan(300);
      expect(closed.latencyMs.p90).toBeLessThan(50);
    } finally {
      await stalling.close();
    }
  });
});
