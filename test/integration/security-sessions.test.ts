/**
 * Issue #12, cases 2 and 9 repeated on the real server: a session belongs to whoever created it, and
 * one user cannot take every MCP session or connection slot.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient, upgradeStatus } from '../helpers/ws-client.js';

let ollama: FakeOllama;
let server: TestServer;
let aliceKey: string;
let bobKey: string;

beforeAll(async () => {
  ollama = await startFakeOllama();
  server = await startTestServer({
    ollamaUrl: ollama.url,
    flags: { 'auth.mode': 'required', 'mcp.maxSessionsPerUser': 3, 'limits.maxConnectionsPerUser': 3 },
  });
  aliceKey = (await server.server.auth.createKey({ name: 'Alice' })).key;
  bobKey = (await server.server.auth.createKey({ name: 'Bob' })).key;
});
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
});

function connectAs(key: string, query = ''): Promise<TestClient> {
  return TestClient.connect(`${server.server.websocketUrl}${query}`, { headers: { authorization: `Bearer ${key}` } });
}

/** A 2025-11-25 `initialize` over MCP HTTP: the status and the session id it opened. */
async function initializeMcp(key: string): Promise<{ status: number; sessionId: string | null; body: string }> {
  const response = await fetch(server.server.mcpUrl!, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${key}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'probe', version: '1.0.0' } },
    }),
  });
  return { status: response.status, sessionId: response.headers.get('mcp-session-id'), body: await response.text() };
}

describe('2. sessions are bound to their creator', () => {
  it('gives a stable client-chosen session id to whoever used it first; the other user is refused with 403', async () => {
    const stableId = 'bot-stable-session-0001';
    // B first, with A's bot's stable id: B now owns it, at once (before writing anything).
    const bob = await connectAs(bobKey, `?session_id=${stableId}`);
    expect((await bob.result('session.info')).session_id).toBe(stableId);
    const refused = await upgradeStatus(`${server.server.websocketUrl}?session_id=${stableId}`, { authorization: `Bearer ${aliceKey}` });
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('belongs to another user');
    // Bob's session keeps working, and stays his.
    await bob.result('persona.switch', { persona_id: 'aria' });
    expect((await bob.result('session.info')).session_id).toBe(stableId);
    await bob.close();
  });

  it("never rewrites another user's session, not even through session.resume", async () => {
    const alice = await connectAs(aliceKey);
    await alice.result('persona.switch', { persona_id: 'kira' });
    const aliceSession = (await alice.result('session.info')).session_id as string;
    const bob = await connectAs(bobKey);
    const resumed = await bob.call('session.resume', { session_id: aliceSession });
    expect(resumed.error).toMatchObject({ data: { kind: 'session_not_found' } });
    expect((await upgradeStatus(`${server.server.websocketUrl}?session_id=${aliceSession}`, { authorization: `Bearer ${bobKey}` })).status).toBe(403);
    const row = await server.server.store.getSession(aliceSession);
    expect(row?.userId).toBe('alice');
    expect(row?.activePersonaId).toBe('kira');
    await alice.close();
    await bob.close();
  });

  it('lets two connections of one user share a chosen session id', async () => {
    const first = await connectAs(aliceKey, '?session_id=alice-shared-0001');
    const second = await connectAs(aliceKey, '?session_id=alice-shared-0001');
    await first.result('persona.switch', { persona_id: 'aria' });
    expect((await second.result('persona.status')).persona_id).toBe('aria');
    await first.close();
    await second.close();
  });
});

describe('9. per-user caps', () => {
  it('refuses a fourth MCP session of one user with 429 while another user still gets one', async () => {
    const opened: string[] = [];
    for (let index = 0; index < 3; index += 1) {
      const session = await initializeMcp(aliceKey);
      expect(session.status).toBe(200);
      opened.push(session.sessionId!);
    }
    const fourth = await initializeMcp(aliceKey);
    expect(fourth.status).toBe(429);
    expect(fourth.body).toContain('mcp.maxSessionsPerUser');
    expect((await initializeMcp(bobKey)).status).toBe(200);
    // Ending one frees a slot.
    await fetch(server.server.mcpUrl!, { method: 'DELETE', headers: { authorization: `Bearer ${aliceKey}`, 'mcp-session-id': opened[0]! } });
    expect((await initializeMcp(aliceKey)).status).toBe(200);
  });

  it('refuses a fourth WebSocket of one user with 429 while another user still connects', async () => {
    const open = await Promise.all([connectAs(aliceKey), connectAs(aliceKey), connectAs(aliceKey)]);
    try {
      const refused = await upgradeStatus(server.server.websocketUrl, { authorization: `Bearer ${aliceKey}` });
      expect(refused.status).toBe(429);
      expect(refused.body).toContain('limits.maxConnectionsPerUser');
      const bob = await connectAs(bobKey);
      expect((await bob.result('persona.list')).total_count).toBe(2);
      await bob.close();
    } finally {
      await Promise.all(open.map((client) => client.close()));
    }
  });
});
