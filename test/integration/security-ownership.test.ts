/**
 * Issue #12, cases 6 and 8 repeated with API keys: a plain user cannot change or destroy what every user
 * shares, owns the personas they create, and sees only their own relationships and figures.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

let ollama: FakeOllama;
let server: TestServer;
let alice: TestClient;
let bob: TestClient;
let admin: TestClient;

beforeAll(async () => {
  ollama = await startFakeOllama();
  server = await startTestServer({ ollamaUrl: ollama.url, flags: { 'auth.mode': 'required' } });
  const connect = async (name: string, role: 'user' | 'admin' = 'user'): Promise<TestClient> => {
    const { key } = await server.server.auth.createKey({ name, role });
    return TestClient.connect(server.server.websocketUrl, { headers: { authorization: `Bearer ${key}` } });
  };
  alice = await connect('Alice');
  bob = await connect('Bob');
  admin = await connect('Root', 'admin');
});
afterAll(async () => {
  await Promise.all([alice, bob, admin].map((client) => client.close()));
  await server.cleanup();
  await ollama.close();
});

const FORBIDDEN = -32031;

describe("6. a plain user cannot change what every user shares", () => {
  it('refuses changes to the built-in personas and server-wide maintenance, consistently', async () => {
    const attempts: Array<[string, Record<string, unknown>]> = [
      ['persona.update', { persona_id: 'aria', description: 'Defaced.' }],
      ['persona.delete', { persona_id: 'Kira' }],
      ['emotional.update_state', { persona_id: 'aria', mood: 'irritated' }],
      ['memory.decay_force', {}],
      ['memory.prune_all', { force: true }],
      ['memory.prune', { persona_id: 'aria', force: true }],
      ['memory.prune', { force: true }],
      ['config.set', { personas: { aria: { model: 'tiny:1b' } } }],
    ];
    for (const [method, params] of attempts) {
      const answer = await bob.call(method, params);
      expect(answer.error?.code, method).toBe(FORBIDDEN);
    }
    const aria = await admin.result('persona.get', { persona_id: 'aria' });
    expect(aria.description).not.toBe('Defaced.');
    expect((await admin.result('persona.list')).total_count).toBe(2);
    // An admin may.
    expect((await admin.result('emotional.update_state', { persona_id: 'aria', mood: 'cheerful' })).success).toBe(true);
  });

  it('lets a user create a persona they own; others may talk to it but not change it', async () => {
    const created = await alice.result('persona.create', { name: 'Pip', description: 'A hedgehog who keeps lists.' });
    const id = created.persona_id as string;
    expect((await alice.result('persona.update', { persona_id: id, description: 'A hedgehog who keeps long lists.' })).description).toContain('long');
    expect((await alice.result('emotional.update_state', { persona_id: id, mood: 'cheerful' })).success).toBe(true);
    expect((await bob.call('persona.update', { persona_id: id, description: 'Mine now.' })).error).toMatchObject({ code: FORBIDDEN, data: { requires: 'persona_owner' } });
    expect((await bob.call('persona.delete', { persona_id: 'pip' })).error?.code).toBe(FORBIDDEN);
    expect((await bob.result('persona.get', { persona_id: id })).name).toBe('Pip');
    expect((await alice.result('persona.delete', { persona_id: id })).deleted).toBe(true);
  });

  it('imports a card as the user’s own persona, and never replaces a shared one', async () => {
    const { card } = await bob.result('persona.export_card', { persona_id: 'aria', format: 'json' });
    const replaced = await bob.call('persona.import_card', { card, on_conflict: 'replace' });
    expect(replaced.error).toMatchObject({ code: FORBIDDEN, data: { requires: 'persona_owner' } });
    const copy = await bob.result('persona.import_card', { card, on_conflict: 'rename' });
    expect(copy.action).toBe('renamed');
    expect((await bob.result('persona.update', { persona_id: copy.persona.persona_id, description: 'My Aria.' })).description).toBe('My Aria.');
    expect((await alice.call('persona.update', { persona_id: copy.persona.persona_id, description: 'No.' })).error?.code).toBe(FORBIDDEN);
  });
});

describe("8. relationships and figures stay with their user", () => {
  it("keeps alice's relationship rows, history and memories out of bob's reach", async () => {
    await alice.result('relationship.update', { persona1_id: 'aria', interaction_quality: 0.8, context: 'alice brought a lute' });
    await alice.result('memory.store', { persona_id: 'aria', content: 'Alice plays the lute on Sundays.' });

    const list = await bob.result('relationship.list', {});
    expect(list.relationships.some((row: { other_id?: string; persona_id: string; other_persona_id: string | null }) => row.other_persona_id === null)).toBe(false);
    const adminList = await admin.result('relationship.list', {});
    expect(adminList.total_relationships).toBeGreaterThan(list.total_relationships);

    expect((await bob.call('relationship.history', { persona1_id: 'aria', user_id: 'alice' })).error?.code).toBe(FORBIDDEN);
    expect((await bob.call('relationship.get', { persona1_id: 'aria', user_id: 'alice' })).error?.code).toBe(FORBIDDEN);
    expect((await bob.call('relationship.update', { persona1_id: 'aria', user_id: 'alice', interaction_quality: -1 })).error?.code).toBe(FORBIDDEN);
    expect((await bob.call('relationship.update', { persona1_id: 'aria', persona2_id: 'kira', interaction_quality: -1 })).error?.code).toBe(FORBIDDEN);
    // Their own relationship is theirs to record and read.
    await bob.result('relationship.update', { persona1_id: 'aria', interaction_quality: 0.2 });
    expect((await bob.result('relationship.history', { persona1_id: 'aria' })).events).toHaveLength(1);
    const aliceHistory = await admin.result('relationship.history', { persona1_id: 'aria', user_id: 'alice' });
    expect(aliceHistory.events[0].context).toBe('alice brought a lute');

    const bobStats = await bob.result('memory.stats', {});
    const aliceStats = await alice.result('memory.stats', {});
    const allStats = await admin.result('memory.stats', {});
    expect(bobStats.total_memories).toBe(0);
    expect(aliceStats.total_memories).toBe(1);
    expect(allStats.total_memories).toBeGreaterThanOrEqual(1);
    const relationshipStats = await bob.result('relationship.stats', {});
    expect(relationshipStats.relationship_statistics.with_users).toBe(1);
  });
});
