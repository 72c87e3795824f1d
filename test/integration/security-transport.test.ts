/**
 * The adversarial review's transport and parsing cases (issue #12), repeated against the real server:
 * each is refused, bounded, or answered with a clear error, and the server stays up.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { readdirSync } from 'node:fs';
import os from 'node:os';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient, upgradeStatus } from '../helpers/ws-client.js';
import { unpack, repack } from '../helpers/state-fixtures.js';
import { AuthService } from '../../src/services/auth-service.js';
import { SqliteApiKeyStore } from '../../src/adapters/sqlite/api-key-store.js';
import { SqliteStore } from '../../src/adapters/sqlite/sqlite-store.js';
import { systemClock } from '../../src/ports/clock.js';
import path from 'node:path';
import { DATABASE_FILE_NAME } from '../../src/app/app.js';

let ollama: FakeOllama;
let server: TestServer;
let port: number;

beforeAll(async () => {
  ollama = await startFakeOllama();
  server = await startTestServer({
    ollamaUrl: ollama.url,
    flags: { maxBundleLineBytes: 1024 * 1024, 'limits.maxQueuedBytesPerConnection': 64 * 1024, 'limits.heartbeatMs': 300, 'limits.rateLimitPerSecond': 1e6, 'limits.rateLimitBurst': 1e6 },
  });
  port = server.server.port;
});
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
});

/** Status of a plain HTTP request with the given headers. */
function httpStatus(pathname: string, headers: Record<string, string>, method = 'GET', body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: '127.0.0.1', port, path: pathname, method, headers }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
    request.end(body);
  });
}

/** A WebSocket client made by hand on a raw TCP socket: it answers no pings and reads only when told. */
async function rawWebSocket(port: number): Promise<{ socket: Socket; sendText(text: string): boolean; closed: Promise<void> }> {
  const socket = netConnect(port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(
    `GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  await new Promise<void>((resolve) => {
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  const sendText = (text: string): boolean => {
    const payload = Buffer.from(text);
    const mask = Buffer.from([1, 2, 3, 4]);
    const length = payload.length;
    const header =
      length < 126
        ? Buffer.from([0x81, 0x80 | length])
        : length < 65_536
          ? Buffer.from([0x81, 0x80 | 126, length >> 8, length & 0xff])
          : Buffer.concat([Buffer.from([0x81, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(length)); return b; })()]);
    const masked = Buffer.from(payload.map((byte, index) => byte ^ (mask[index % 4] as number)));
    return socket.write(Buffer.concat([header, mask, masked]));
  };
  return { socket, sendText, closed };
}

describe('1. DNS rebinding and Origin', () => {
  it('refuses an upgrade whose Host and Origin name another site with 403, without a WebSocket', async () => {
    const rebound = await upgradeStatus(server.server.websocketUrl, { host: `attacker.example:${port}`, origin: `http://attacker.example:${port}` });
    expect(rebound.status).toBe(403);
    expect(rebound.body).toContain('DNS rebinding');
  });

  it('refuses plain HTTP with a foreign Host on every path (MCP, health, metrics)', async () => {
    for (const pathname of ['/mcp', '/healthz', '/readyz', '/metrics', '/nothing']) {
      expect(await httpStatus(pathname, { host: `attacker.example:${port}` })).toBe(403);
    }
    expect(await httpStatus('/mcp', { host: `attacker.example:${port}`, origin: `http://attacker.example:${port}`, 'content-type': 'application/json' }, 'POST', '{}')).toBe(403);
    expect(await httpStatus('/healthz', { host: `localhost:${port}` })).toBe(200);
    expect(await httpStatus('/healthz', { host: `[::1]:${port}` })).toBe(200);
  });

  it("accepts the server's own origin and refuses others, including null", async () => {
    expect((await upgradeStatus(server.server.websocketUrl, { origin: `http://127.0.0.1:${port}` })).status).toBe(101);
    expect((await upgradeStatus(server.server.websocketUrl, { host: `localhost:${port}`, origin: `http://localhost:${port}` })).status).toBe(101);
    expect((await upgradeStatus(server.server.websocketUrl, { origin: 'null' })).status).toBe(403);
    expect((await upgradeStatus(server.server.websocketUrl, { origin: `http://localhost:${port + 1}` })).status).toBe(403);
  });

  it('accepts a Host named in http.allowedHosts', async () => {
    const named = await startTestServer({ ollamaUrl: ollama.url, flags: { 'http.allowedHosts': ['personas.lan'] } });
    try {
      const status = await upgradeStatus(named.server.websocketUrl, { host: `personas.lan:${named.server.port}`, origin: `http://personas.lan:${named.server.port}` });
      expect(status.status).toBe(101);
      expect((await upgradeStatus(named.server.websocketUrl, { host: 'other.lan' })).status).toBe(403);
    } finally {
      await named.cleanup();
    }
  });
});

describe('3. a client that never reads', () => {
  it('is cut off once too much waits for it, and the server goes on serving', async () => {
    // A long heartbeat: what ends this client must be the cap on bytes waiting for it.
    const slow = await startTestServer({
      ollamaUrl: ollama.url,
      flags: { 'limits.maxQueuedBytesPerConnection': 64 * 1024, 'limits.slowClientGraceMs': 1_000, 'limits.heartbeatMs': 60_000, 'limits.rateLimitPerSecond': 1e6, 'limits.rateLimitBurst': 1e6 },
    });
    const raw = await rawWebSocket(slow.server.port);
    raw.socket.pause(); // never read again
    const batch = JSON.stringify(Array.from({ length: 20 }, (_, index) => ({ jsonrpc: '2.0', id: index, method: 'rpc.discover' })));
    let sent = 0;
    const started = Date.now();
    const sending = setInterval(() => {
      if (!raw.socket.destroyed) raw.sendText(batch);
      sent += 1;
    }, 20);
    expect(slow.server.stats.activeConnections).toBe(1);
    // Each batch answers 20 OpenRPC documents (~2.6 MB); the server lets go of the client long before memory matters.
    while (slow.server.stats.activeConnections > 0 && Date.now() - started < 8_000) await new Promise((resolve) => setTimeout(resolve, 50));
    clearInterval(sending);
    expect(slow.server.stats.activeConnections).toBe(0);
    expect(sent).toBeGreaterThan(0);
    raw.socket.destroy();
    const client = await slow.connect();
    expect((await client.result('persona.list')).total_count).toBe(2);
    await slow.cleanup();
  });

  it('drops a connection that sends frames but answers no pings (frames are not pongs)', async () => {
    const raw = await rawWebSocket(port);
    raw.socket.resume();
    const sending = setInterval(() => raw.sendText(JSON.stringify({ jsonrpc: '2.0', method: 'persona.list' })), 50);
    const started = Date.now();
    await raw.closed;
    clearInterval(sending);
    // Heartbeat 300 ms: gone after the second ping at the latest.
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it('keeps a client that reads, however large its answers', async () => {
    const client = await server.connect();
    client.send(Array.from({ length: 20 }, (_, index) => ({ jsonrpc: '2.0', id: index, method: 'rpc.discover' })));
    const answers = await client.next(10_000);
    expect(answers).toHaveLength(20);
    await new Promise((resolve) => setTimeout(resolve, 700)); // two heartbeats: the ws client answers pings
    expect((await client.result('persona.list')).total_count).toBe(2);
    await client.close();
  });
});

describe('4. bundle rows beyond any we write', () => {
  it('refuses a line longer than maxBundleLineBytes with a clear error, removes its temp dir and stays up', async () => {
    const client = await server.connect();
    const saved = await client.result('state.save', {});
    const entries = await unpack(Buffer.from(saved.state, 'base64'));
    entries.set('tables/messages.jsonl', Buffer.concat([Buffer.alloc(3 * 1024 * 1024, 0x61), Buffer.from('\n')]));
    const bundle = await repack(entries);
    expect(bundle.length).toBeLessThan(1_000_000);
    const before = new Set(readdirSync(os.tmpdir()).filter((name) => name.startsWith('persona-mcp-import-')));
    const answer = await client.call('state.load', { state: bundle.toString('base64'), dry_run: true });
    expect(answer.error).toMatchObject({ data: { kind: 'invalid_bundle', reason: 'too_large' } });
    expect(answer.error.message).toContain('tables/messages.jsonl: row 1 is longer than');
    // Other test files import bundles in parallel and share the temp folder: a directory of theirs may exist
    // for a moment, so wait for the new ones to go. One this import leaked would stay.
    const left = () => readdirSync(os.tmpdir()).filter((name) => name.startsWith('persona-mcp-import-') && !before.has(name));
    await vi.waitFor(() => expect(left()).toEqual([]), { timeout: 10_000, interval: 200 });
    expect((await client.result('persona.list')).total_count).toBe(2);
    await client.close();
  });
});

describe('5. PNG chunks that claim more than the file holds', () => {
  it('refuses a 61-byte card claiming a 1 GiB tEXt chunk at once', async () => {
    const png = Buffer.alloc(61);
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(png, 0);
    png.writeUInt32BE(13, 8);
    png.write('IHDR', 12, 'latin1');
    png.writeUInt32BE(1024 ** 3, 33);
    png.write('tEXt', 37, 'latin1');
    const client = await server.connect();
    const started = performance.now();
    const answer = await client.call('persona.import_card', { png: png.toString('base64') });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(answer.error).toMatchObject({ data: { kind: 'invalid_bundle', reason: 'corrupt' } });
    expect(answer.error.message).toContain('claims 1073741824 bytes');
    await client.close();
  });
});

describe('7. key revocation on open connections', () => {
  it('closes a connection within a second of its key being revoked by another process', async () => {
    const secured = await startTestServer({ ollamaUrl: ollama.url, flags: { 'auth.mode': 'required' } });
    try {
      const { key, record } = await secured.server.auth.createKey({ name: 'Mallory' });
      const kept = await secured.server.auth.createKey({ name: 'Alice' });
      const doomed = await TestClient.connect(secured.server.websocketUrl, { headers: { authorization: `Bearer ${key}` } });
      const other = await TestClient.connect(secured.server.websocketUrl, { headers: { authorization: `Bearer ${kept.key}` } });
      expect((await doomed.result('persona.list')).total_count).toBe(2);
      // `persona-mcp keys revoke` runs in another process: a second connection to the same database.
      const store = SqliteStore.open(path.join(secured.dataDir, DATABASE_FILE_NAME));
      await new AuthService(new SqliteApiKeyStore(store.database, secured.dataDir), systemClock, true).revoke(record.id);
      await store.close();
      const started = Date.now();
      const closed = await doomed.closed;
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(closed).toEqual({ code: 1008, reason: 'API key revoked' });
      expect((await other.result('persona.list')).total_count).toBe(2);
      await expect(TestClient.connect(secured.server.websocketUrl, { headers: { authorization: `Bearer ${key}` } })).rejects.toThrow('401');
      await other.close();
    } finally {
      await secured.cleanup();
    }
  });
});

describe('11. smaller ones', () => {
  it('answers params nested 1,000 and 5,000 deep with -32602, not an internal error', async () => {
    const client = await server.connect();
    for (const depth of [1_000, 5_000]) {
      const card = `${'{"nested":'.repeat(depth)}"deep"${'}'.repeat(depth)}`;
      client.sendRaw(`{"jsonrpc":"2.0","id":${depth},"method":"persona.import_card","params":{"card":${card}}}`);
      const answer = await client.next();
      expect(answer).toMatchObject({ id: depth, error: { code: -32602 } });
      expect(answer.error.message).toContain('nests more than 64 levels');
    }
    await client.close();
  });

  it('echoes id 9007199254740993 exactly (the raw text, not the nearest double)', async () => {
    const client = await server.connect();
    const texts: string[] = [];
    client.socket.on('message', (data) => texts.push(data.toString()));
    client.sendRaw('{"jsonrpc":"2.0","id":9007199254740993,"method":"persona.list"}');
    await client.next();
    client.sendRaw('[{"jsonrpc":"2.0","id":12345678901234567890,"method":"session.info"},{"jsonrpc":"2.0","id":1.50,"method":"session.info"},{"jsonrpc":"2.0","id":7,"method":"session.info"}]');
    await client.next();
    expect(texts[0]).toMatch(/^\{"jsonrpc":"2\.0","id":9007199254740993,"result":/);
    expect(texts[1]).toContain('"id":12345678901234567890,');
    expect(texts[1]).toContain('"id":1.50,');
    expect(texts[1]).toContain('"id":7,');
    await client.close();
  });

  it('echoes such ids exactly over MCP HTTP too, in JSON answers and in SSE streams, both revisions', async () => {
    const post = async (body: string, headers: Record<string, string> = {}): Promise<{ text: string; session: string | null }> => {
      const response = await fetch(server.server.mcpUrl!, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body,
      });
      return { text: await response.text(), session: response.headers.get('mcp-session-id') };
    };
    const init = await post('{"jsonrpc":"2.0","id":9007199254740993,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}');
    expect(init.text).toContain('"id":9007199254740993');
    const legacy = { 'mcp-session-id': init.session!, 'mcp-protocol-version': '2025-11-25' };
    await post('{"jsonrpc":"2.0","method":"notifications/initialized"}', legacy);
    const call = await post('{"jsonrpc":"2.0","id":1.50,"method":"tools/call","params":{"name":"persona_list","arguments":{}}}', legacy);
    expect(call.text).toContain('"id":1.50');
    expect(call.text).toContain('Aria');
    // 2026-07-28: stateless requests with the per-request envelope.
    const modern = await post(
      '{"jsonrpc":"2.0","id":12345678901234567890123,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}',
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list' },
    );
    expect(modern.text).toContain('"id":12345678901234567890123');
    expect(modern.text).toContain('persona_list');
    const plain = await post('{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"persona_list","arguments":{}}}', legacy);
    expect(plain.text).toContain('"id":8');
  });

  it('refuses upgrades beyond the server-wide limit with HTTP 503 (not an accepted socket closed with 1013)', async () => {
    const full = await startTestServer({ ollamaUrl: ollama.url, flags: { 'limits.maxConnections': 1 } });
    try {
      const first = await full.connect();
      const refused = await upgradeStatus(full.server.websocketUrl);
      expect(refused.status).toBe(503);
      expect(refused.body).toContain('limits.maxConnections');
      await first.close();
    } finally {
      await full.cleanup();
    }
  });
});
