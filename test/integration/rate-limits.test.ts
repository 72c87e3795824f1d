/**
 * Request budgets per API key and per address on one node (no Redis: counted in process, timed by the
 * clock port), over WebSocket and HTTP; `X-Forwarded-For` believed only from `http.trustedProxies`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/app/app.js';
import { createLogger } from '../../src/logger.js';
import { makeDataDir, startTestServer, testConfig, type TestServer } from '../helpers/server.js';
import { rmSync } from 'node:fs';
import { EventEmitter, once } from 'node:events';
import { connect as connectTcp, type Socket } from 'node:net';
import { TestClient } from '../helpers/ws-client.js';

const RATE_LIMITED = -32021;
const servers: TestServer[] = [];
const clients: TestClient[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  // A refused connection is not read again until its next token is due by the clock: let it come.
  frozenAt += 60_000;
  await Promise.all(clients.splice(0).map((client) => client.close().catch(() => undefined)));
  await Promise.all(servers.splice(0).map((server) => server.cleanup()));
});

/**
 * A clock frozen during each test: budgets never refill while it runs, so counts are exact whatever the
 * machine does. Moved on after each test, so that the connections held for their rate are read again.
 */
let frozenAt = 1_700_000_000_000;
const frozen = { now: () => frozenAt };

async function start(flags: Record<string, unknown>): Promise<TestServer> {
  const server = await startTestServer({ clock: frozen, flags: { 'limits.rateLimitPerSecond': 1e6, 'limits.rateLimitBurst': 1e6, ...flags } });
  servers.push(server);
  return server;
}

async function connect(url: string, headers: Record<string, string> = {}): Promise<TestClient> {
  const client = await TestClient.connect(url, { headers });
  clients.push(client);
  return client;
}

/** Sends a batch of `size` session.info requests; answers the error codes. */
async function batch(client: TestClient, size: number): Promise<number[]> {
  client.send(Array.from({ length: size }, (_, index) => ({ jsonrpc: '2.0', id: index + 1, method: 'session.info' })));
  const answers = (await client.next()) as Array<{ error?: { code: number } }>;
  return answers.filter((answer) => answer.error !== undefined).map((answer) => answer.error!.code);
}

describe('rate limits per API key and per address, one node', () => {
  it("counts all of a key's connections and HTTP calls against one budget; another key has its own", async () => {
    const server = await start({ 'limits.rateLimitPerKeyPerSecond': 10, 'limits.rateLimitPerAddressPerSecond': 0, 'auth.mode': 'required' });
    const alice = (await server.server.auth.createKey({ name: 'Alice' })).key;
    const bob = (await server.server.auth.createKey({ name: 'Bob' })).key;
    const [first, second] = [await connect(`${server.server.websocketUrl}?token=${alice}`), await connect(`${server.server.websocketUrl}?token=${alice}`)];
    expect(await batch(first, 6)).toEqual([]);
    expect(await batch(second, 4)).toEqual([]);
    // A batch costs its size: refused whole when the budget has less.
    expect(await batch(second, 2)).toEqual([RATE_LIMITED, RATE_LIMITED]);
    const http = await fetch(`${server.server.httpUrl}/v1/models`, { headers: { authorization: `Bearer ${alice}` } });
    expect(http.status).toBe(429);
    expect(http.headers.get('retry-after')).not.toBeNull();
    const mcp = await fetch(`${server.server.httpUrl}/mcp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(mcp.status).toBe(429);
    expect(((await mcp.json()) as { error: { code: number; data: { limit: string } } }).error).toMatchObject({ code: RATE_LIMITED, data: { limit: 'key' } });
    expect(await batch(await connect(`${server.server.websocketUrl}?token=${bob}`), 10)).toEqual([]);
  });

  it('counts an address over its connections, and believes X-Forwarded-For only from a trusted proxy', async () => {
    const direct = await start({ 'limits.rateLimitPerKeyPerSecond': 0, 'limits.rateLimitPerAddressPerSecond': 10 });
    // Not trusted: a client cannot pick a fresh address per connection with the header.
    const spoofing = [await connect(direct.server.websocketUrl, { 'x-forwarded-for': '192.0.2.1' }), await connect(direct.server.websocketUrl, { 'x-forwarded-for': '192.0.2.2' })];
    expect(await batch(spoofing[0]!, 8)).toEqual([]);
    expect(await batch(spoofing[1]!, 2)).toEqual([]);
    expect(await batch(spoofing[1]!, 1)).toEqual([RATE_LIMITED]);

    const proxied = await start({ 'limits.rateLimitPerKeyPerSecond': 0, 'limits.rateLimitPerAddressPerSecond': 10, 'http.trustedProxies': ['loopback'] });
    // Behind a trusted proxy (loopback here) each forwarded client has its own budget.
    const one = await connect(proxied.server.websocketUrl, { 'x-forwarded-for': '192.0.2.1' });
    const two = await connect(proxied.server.websocketUrl, { 'x-forwarded-for': '192.0.2.2' });
    expect(await batch(one, 10)).toEqual([]);
    expect(await batch(two, 10)).toEqual([]);
    expect(await batch(one, 1)).toEqual([RATE_LIMITED]);
  });

  // A GET with no body (/v1) and a POST whose body the refusal leaves unread (MCP): Node reads and drops
  // that body after the answer, resuming the socket, which the hold must outlast.
  it.each([
    ['/v1', (host: string) => `GET /v1/models HTTP/1.1\r\nHost: ${host}\r\n\r\n`],
    [
      'MCP Streamable HTTP',
      (host: string) => {
        const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
        return `POST /mcp HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      },
    ],
  ])('does not read a %s connection refused with 429 again until its Retry-After has passed', async (_name, requestText) => {
    const server = await start({ 'limits.rateLimitPerKeyPerSecond': 0, 'limits.rateLimitPerAddressPerSecond': 2 });
    const url = new URL(server.server.httpUrl);
    const socket = connectTcp(Number(url.port), url.hostname);
    sockets.push(socket);
    await once(socket, 'connect');
    let received = '';
    const changed = new EventEmitter();
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      received += text;
      changed.emit('change');
    });
    // 429 or not (a bare MCP ping without a session is a 400: answered, not refused for the rate).
    const statuses = (): string[] => [...received.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((match) => (match[1] === '429' ? '429' : 'answered'));
    const answered = async (count: number): Promise<string[]> => {
      while (statuses().length < count) await once(changed, 'change');
      return statuses();
    };
    const request = (): void => void socket.write(requestText(url.host));
    for (let count = 1; count <= 3; count += 1) {
      request();
      await answered(count);
    }
    expect(statuses()).toEqual(['answered', 'answered', '429']);
    // Sent on the held connection: not read (a round trip on another connection later, still no answer),
    // then read once the clock says the budget has room, so allowed.
    request();
    expect((await fetch(`${server.server.httpUrl}/healthz`)).status).toBe(200);
    expect(statuses()).toHaveLength(3);
    frozenAt += 1_000;
    expect(await answered(4)).toEqual(['answered', 'answered', '429', 'answered']);
  });

  it("logs an address's refusals once, not once for each of its connections", async () => {
    const lines: Array<{ msg: string; limit?: string }> = [];
    const logger = createLogger('warn', { write: (text: string) => void lines.push(JSON.parse(text) as { msg: string; limit?: string }) });
    const dataDir = makeDataDir();
    let running: RunningServer | undefined;
    try {
      running = await startServer(
        testConfig(dataDir, { 'limits.rateLimitPerSecond': 1e6, 'limits.rateLimitBurst': 1e6, 'limits.rateLimitPerKeyPerSecond': 0, 'limits.rateLimitPerAddressPerSecond': 10 }),
        { logger, clock: frozen },
      );
      const connections = await Promise.all(Array.from({ length: 5 }, () => connect(running!.websocketUrl)));
      expect(await batch(connections[0]!, 10)).toEqual([]);
      for (const connection of connections) expect(await batch(connection, 1)).toEqual([RATE_LIMITED]);
      expect(lines.filter((line) => line.msg === 'rate-limited per address')).toHaveLength(1);
    } finally {
      frozenAt += 60_000;
      await Promise.all(clients.splice(0).map((client) => client.close().catch(() => undefined)));
      await running?.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('logs a connection that keeps sending over its rate once a second, not once per burst of refusals', async () => {
    const lines: Array<{ msg: string }> = [];
    const logger = createLogger('warn', { write: (text: string) => void lines.push(JSON.parse(text) as { msg: string }) });
    const dataDir = makeDataDir();
    let now = 1_700_000_000_000;
    let running: RunningServer | undefined;
    try {
      // One request per 20 ms, no burst: each step of the clock lets exactly one more through.
      running = await startServer(testConfig(dataDir, { 'limits.rateLimitPerSecond': 50, 'limits.rateLimitBurst': 1, 'limits.rateLimitPerKeyPerSecond': 0, 'limits.rateLimitPerAddressPerSecond': 0 }), {
        logger,
        clock: { now: () => now },
      });
      const client = await connect(running.websocketUrl);
      const warnings = (): number => lines.filter((line) => line.msg === 'connection rate-limited').length;
      for (let burst = 0; burst < 5; burst++) {
        expect(await batch(client, 1)).toEqual([]);
        expect(await batch(client, 1)).toEqual([RATE_LIMITED]);
        now += 20;
      }
      expect(warnings()).toBe(1);
      now += 1_000;
      expect(await batch(client, 1)).toEqual([]);
      expect(await batch(client, 1)).toEqual([RATE_LIMITED]);
      expect(warnings()).toBe(2);
    } finally {
      now += 60_000;
      await Promise.all(clients.splice(0).map((client) => client.close().catch(() => undefined)));
      await running?.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
