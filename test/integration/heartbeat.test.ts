/**
 * The WebSocket heartbeat pings each connection once per `limits.heartbeatMs`, a slice of the
 * connections at a time (so 10,000 connections are never pinged in one go), and drops a connection that
 * did not answer its previous ping, a full period later.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../helpers/server.js';

const HEARTBEAT_MS = 1_000;
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ flags: { 'limits.heartbeatMs': HEARTBEAT_MS } });
});
afterAll(async () => {
  await server.cleanup();
});

interface Watched {
  socket: WebSocket;
  pings: number[];
  closedAt: number | null;
}

async function open(autoPong: boolean): Promise<Watched> {
  const socket = new WebSocket(`ws://127.0.0.1:${server.server.port}/mcp`, { autoPong });
  const watched: Watched = { socket, pings: [], closedAt: null };
  socket.on('ping', () => watched.pings.push(performance.now()));
  socket.on('close', () => (watched.closedAt = performance.now()));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return watched;
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('WebSocket heartbeat', () => {
  it('pings every connection once a period, in slices spread over it, and drops one that does not answer', async () => {
    const answering = await Promise.all(Array.from({ length: 8 }, () => open(true)));
    const silent = await open(false);
    const started = performance.now();
    await delay(2.8 * HEARTBEAT_MS);

    for (const client of answering) {
      expect(client.closedAt).toBeNull();
      expect(client.pings.length).toBeGreaterThanOrEqual(2);
      // One ping per period, not one per tick of the heartbeat timer.
      for (let index = 1; index < client.pings.length; index += 1) {
        expect(client.pings[index]! - client.pings[index - 1]!).toBeGreaterThan(0.7 * HEARTBEAT_MS);
      }
    }
    // Eight consecutive connections fall into all four 250 ms slices: their first pings are spread over
    // most of the period instead of arriving together.
    const firstPings = answering.map((client) => client.pings[0]!);
    expect(Math.max(...firstPings) - Math.min(...firstPings)).toBeGreaterThan(0.45 * HEARTBEAT_MS);

    // The silent client got its ping, and was dropped when its slice came round again without a pong.
    expect(silent.pings.length).toBeGreaterThanOrEqual(1);
    expect(silent.closedAt).not.toBeNull();
    expect(silent.closedAt! - silent.pings[0]!).toBeGreaterThan(0.7 * HEARTBEAT_MS);
    expect(silent.closedAt! - started).toBeLessThan(2.8 * HEARTBEAT_MS);

    for (const client of answering) client.socket.close();
  });
});
