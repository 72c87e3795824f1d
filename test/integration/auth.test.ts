/** API keys and multi-user isolation on the real server. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

let ollama: FakeOllama;
let server: TestServer;
let aliceKey: string;
let bobKey: string;

beforeAll(async () => {
  ollama = await startFakeOllama();
  server = await startTestServer({ ollamaUrl: ollama.url, flags: { 'auth.mode': 'required' } });
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

describe('authentication', () => {
  it('refuses connections without a key, or with a wrong one, with 401', async () => {
    await expect(TestClient.connect(server.server.websocketUrl)).rejects.toThrow('401');
    await expect(connectAs('pmk_wrong')).rejects.toThrow('401');
  });

  it('accepts a key as Bearer header or as ?token= (browsers)', async () => {
    const byHeader = await connectAs(aliceKey);
    expect((await byHeader.result('persona.list')).total_count).toBe(2);
    await byHeader.close();
    const byToken = await TestClient.connect(`${server.server.websocketUrl}?token=${aliceKey}`);
    expect((await byToken.result('persona.list')).total_count).toBe(2);
    await byToken.close();
  });

  it('refuses a revoked key', async () => {
    const { key, record } = await server.server.auth.createKey({ name: 'Temp' });
    await (await connectAs(key)).close();
    await server.server.auth.revoke(record.id);
    await expect(connectAs(key)).rejects.toThrow('401');
  });

  it('stores only a hash of each key', async () => {
    const listed = await server.server.auth.list();
    expect(listed.length).toBeGreaterThanOrEqual(2);
    const dump = JSON.stringify(listed);
    expect(dump).not.toContain(aliceKey);
    expect(listed.every((record) => aliceKey.startsWith(record.keyPrefix) || bobKey.startsWith(record.keyPrefix) || record.name === 'Temp')).toBe(true);
  });
});

describe('isolation between users', () => {
  it("never lets one user see or attach to another user's session and conversations", async () => {
    const alice = await connectAs(aliceKey);
    await alice.result('persona.switch', { persona_id: 'aria' });
    const reply = await alice.result('persona.chat', { message: 'My secret is 42.' });
    const { session_id } = await alice.result('session.info');

    const bob = await connectAs(bobKey);
    expect((await bob.call('session.resume', { session_id })).error.code).toBe(-32004);
    expect((await bob.call('conversation.history', { conversation_id: reply.conversation_id })).error.code).toBe(-32003);
    expect((await bob.call('persona.chat', { message: 'hi', conversation_id: reply.conversation_id })).error.code).toBe(-32003);
    await expect(connectAs(bobKey, `?session_id=${session_id}`)).rejects.toThrow('403');
    expect((await bob.result('conversation.status')).active_conversations).toBe(0);
    // naming her conversation does not report his own instead: it is unknown to him
    expect((await bob.call('conversation.status', { conversation_id: reply.conversation_id })).error.code).toBe(-32003);
    expect(await alice.result('conversation.status', { conversation_id: reply.conversation_id })).toMatchObject({
      conversation_id: reply.conversation_id,
      turn_count: 1,
    });

    // Server-wide analytics add up every user: admin only. Her own conversation's figures are hers.
    expect((await bob.call('conversation.analytics', {})).error.code).toBe(-32031);
    expect((await bob.call('conversation.analytics', { conversation_id: reply.conversation_id })).error.code).toBe(-32003);
    expect((await alice.result('conversation.analytics', { conversation_id: reply.conversation_id })).scope).toBe('conversation');

    // Alice herself gets it all back on a new connection.
    const again = await connectAs(aliceKey, `?session_id=${session_id}`);
    const history = await again.result('conversation.history', { conversation_id: reply.conversation_id });
    expect(history.messages[0].content).toBe('My secret is 42.');
    await Promise.all([alice.close(), bob.close(), again.close()]);
  });
});

describe('metrics behind authentication', () => {
  it('answers /metrics 401 without a key and 200 with one', async () => {
    expect((await fetch(`${server.server.httpUrl}/metrics`)).status).toBe(401);
    const response = await fetch(`${server.server.httpUrl}/metrics`, { headers: { authorization: `Bearer ${aliceKey}` } });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('persona_mcp_requests_total');
  });
});
