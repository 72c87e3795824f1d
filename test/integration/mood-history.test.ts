/**
 * Mood and energy over time (`emotional.history`): samples recorded as turns and mood changes happen,
 * the resting point before a change after a quiet spell, paging and following, clear errors, the
 * retention limit, a restart, MCP, and what a plain user sees with API keys.
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/client/validators/cf-worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { makeDataDir, startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';
import { rmSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';

let ollama: FakeOllama;
let server: TestServer;
let dataDir: string;
/** Real time plus whatever the test adds: rest takes no waiting. */
let offset = 0;
const clock = { now: () => Date.now() + offset };

beforeAll(async () => {
  ollama = await startFakeOllama();
  dataDir = makeDataDir();
  // The clean-up every 0.3 s, so that a retention limit set with config.set shows at once.
  server = await startTestServer({ ollamaUrl: ollama.url, dataDir, clock, flags: { 'retention.intervalMinutes': 0.005, 'mcp.tools': ['chat', 'social', 'admin'] } });
});
afterAll(async () => {
  await server.stop();
  await ollama.close();
  rmSync(dataDir, { recursive: true, force: true });
});

type Sample = { id: number; at: string; cause: string; mood: string; valence: number; social_battery: number; energy_level: number; max_social_energy: number; interaction_fatigue: number };

async function history(client: TestClient, params: Record<string, unknown>): Promise<{ samples: Sample[]; has_more: boolean; next_before_id: number | null; last_id: number | null }> {
  return client.result('emotional.history', params);
}

describe('emotional.history', () => {
  it('records a sample when a reply spends energy and when the message moves the mood, matching the state then', async () => {
    const client = await server.connect();
    expect((await history(client, { persona_id: 'kira' })).samples).toEqual([]);
    await client.result('persona.switch', { persona_id: 'Kira' });
    await client.result('persona.chat', { message: 'Thank you so much, that was wonderful and kind!' });
    // The reply's sample is written as the reply is stored; the mood reaction follows it.
    await expect.poll(async () => (await history(client, {})).samples.map((sample) => sample.cause)).toEqual(['turn', 'chat']);
    const { samples } = await history(client, {});
    const state = (await client.result('emotional.get_state', { persona_id: 'kira' })).emotional_state;
    expect(samples[1]).toMatchObject({ mood: state.mood, valence: state.valence, max_social_energy: 80 });
    expect(samples[1]!.social_battery).toBeCloseTo(state.social_battery, 0);
    expect(samples[0]!.social_battery).toBeLessThan(80);
    expect(samples[0]!.valence).toBeLessThan(samples[1]!.valence); // a kind message cheered her
    await client.close();
  });

  it('records one manual sample for emotional.update_state, and after a quiet spell the resting point first', async () => {
    const client = await server.connect();
    const before = await history(client, { persona_id: 'kira' });
    await client.result('emotional.update_state', { persona_id: 'kira', mood: 'melancholy', energy_level: 0.25 });
    const manual = await history(client, { persona_id: 'kira', after_id: before.last_id });
    expect(manual.samples.map((sample) => [sample.cause, sample.mood, sample.social_battery])).toEqual([['manual', 'melancholy', 20]]);

    offset += 60 * 60_000; // an hour of rest: Kira recovers energy and drifts back towards her baseline
    await client.result('emotional.update_state', { persona_id: 'kira', stress_level: 0.9 });
    const later = await history(client, { persona_id: 'kira', after_id: manual.last_id });
    expect(later.samples.map((sample) => sample.cause)).toEqual(['rest', 'manual']);
    const [rest, stressed] = later.samples;
    expect(rest!.social_battery).toBeGreaterThan(20);
    expect(rest!.valence).toBeGreaterThan(manual.samples[0]!.valence);
    expect(stressed!.social_battery).toBe(rest!.social_battery);
    expect(Date.parse(rest!.at)).toBeGreaterThanOrEqual(Date.parse(manual.samples[0]!.at) + 60 * 60_000);
    await client.close();
  });

  it('keeps no sample of a mood change whose write failed: the change and its sample are written both or neither', async () => {
    const client = await server.connect();
    // A real failure of the mood's own write (its savepoint in the write batch rolls back), not of the sample's.
    const db = new BetterSqlite3(path.join(dataDir, 'persona-mcp.db'));
    try {
      db.exec(`CREATE TRIGGER fail_mood_insert BEFORE INSERT ON emotional_state BEGIN SELECT RAISE(ABORT, 'injected: no mood row'); END;
        CREATE TRIGGER fail_mood_update BEFORE UPDATE ON emotional_state BEGIN SELECT RAISE(ABORT, 'injected: no mood row'); END;`);
      const before = await history(client, { persona_id: 'aria' });
      expect((await client.call('emotional.update_state', { persona_id: 'aria', mood: 'melancholy' })).error).toBeDefined();
      expect(await history(client, { persona_id: 'aria' })).toEqual(before);
      db.exec('DROP TRIGGER fail_mood_insert; DROP TRIGGER fail_mood_update;');
      // written again, the change has its sample again
      await client.result('emotional.update_state', { persona_id: 'aria', mood: 'melancholy' });
      expect((await history(client, { persona_id: 'aria' })).samples.map((sample) => [sample.cause, sample.mood]).slice(before.samples.length)).toEqual([['manual', 'melancholy']]);
    } finally {
      db.close();
      await client.close();
    }
  });

  it('pages back with before_id and only gives what is newer with after_id or since', async () => {
    const client = await server.connect();
    const all = await history(client, { persona_id: 'kira' });
    expect(all.samples.length).toBeGreaterThanOrEqual(4);
    const page = await history(client, { persona_id: 'kira', limit: 2 });
    expect(page.samples).toEqual(all.samples.slice(-2));
    expect(page).toMatchObject({ has_more: true, next_before_id: all.samples.at(-2)!.id, last_id: all.samples.at(-1)!.id });
    const older = await history(client, { persona_id: 'kira', limit: 2, before_id: page.next_before_id });
    expect(older.samples).toEqual(all.samples.slice(-4, -2));
    expect(await history(client, { persona_id: 'kira', after_id: all.last_id })).toMatchObject({ samples: [], last_id: null, has_more: false });
    const since = await history(client, { persona_id: 'kira', since: all.samples.at(-1)!.at });
    expect(since.samples.map((sample) => sample.id)).toContain(all.last_id);
    expect(since.samples.every((sample) => sample.at >= all.samples.at(-1)!.at)).toBe(true);
    // A date means its start (UTC).
    expect((await history(client, { persona_id: 'kira', since: '2020-01-01' })).samples).toEqual(all.samples);
    await client.close();
  });

  it('refuses bad params with -32602 naming the field, and an unknown persona as elsewhere', async () => {
    const client = await server.connect();
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ persona_id: 'kira', limit: 0 }, /limit/],
      [{ persona_id: 'kira', limit: 100_000 }, /limit/],
      [{ persona_id: 'kira', since: 'yesterday' }, /since/],
      [{ persona_id: 'kira', after_id: -1 }, /after_id/],
      [{ persona_id: 'kira', before_id: 'x' }, /before_id/],
      [{ persona_id: '' }, /persona_id/],
    ];
    for (const [params, field] of bad) {
      const answer = await client.call('emotional.history', params);
      if ('since' in params) expect(answer.error?.message).toContain('expected an ISO 8601 time such as');
      expect(answer.error?.code, JSON.stringify(params)).toBe(-32602);
      expect(answer.error?.message).toMatch(field);
    }
    const unknown = await client.call('emotional.history', { persona_id: 'nobody' });
    expect(unknown.error).toMatchObject({ code: -32001, data: { persona_id: 'nobody' } });
    expect(unknown.error.message).toContain('Known personas');
    await client.close();
  });

  it('is served as an MCP tool with the same answer', async () => {
    const client = await server.connect();
    const expected = await history(client, { persona_id: 'kira', limit: 3 });
    // The default tool profile is `chat`; the history is in `social` (and `all`).
    const mcp = new Client({ name: 'history-test', version: '1.0.0' }, { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() });
    await mcp.connect(new StreamableHTTPClientTransport(new URL(server.server.mcpUrl!)));
    const result = await mcp.callTool({ name: 'emotional_history', arguments: { persona_id: 'kira', limit: 3 } });
    await mcp.close();
    expect(result.isError ?? false).toBe(false);
    expect(result.structuredContent).toEqual(expected);
    await client.close();
  });

  it('keeps at most maxMoodSamplesPerPersona after the next clean-up (set live with config.set)', async () => {
    const client = await server.connect();
    await client.result('config.set', { settings: { 'retention.maxMoodSamplesPerPersona': 2 } });
    await expect.poll(async () => (await history(client, { persona_id: 'kira' })).samples.length, { timeout: 5000 }).toBe(2);
    expect((await client.result('config.get', { keys: ['retention.maxMoodSamplesPerPersona'] })).settings).toMatchObject([{ value: 2, source: 'runtime' }]);
    await client.result('config.set', { settings: { 'retention.maxMoodSamplesPerPersona': null } });
    await client.close();
  });

  it('survives a restart', async () => {
    const client = await server.connect();
    const before = await history(client, { persona_id: 'kira' });
    await server.stop();
    server = await startTestServer({ ollamaUrl: ollama.url, dataDir, clock });
    const again = await server.connect();
    expect(await history(again, { persona_id: 'kira' })).toEqual(before);
    await again.close();
  });
});

describe('emotional.history with API keys', () => {
  let keyed: TestServer;
  beforeAll(async () => {
    keyed = await startTestServer({ ollamaUrl: ollama.url, flags: { 'auth.mode': 'required' } });
  });
  afterAll(async () => keyed.cleanup());

  it("lets a plain user read a shared persona's series, which names no user or conversation", async () => {
    const connect = async (name: string, role: 'user' | 'admin' = 'user'): Promise<TestClient> => {
      const { key } = await keyed.server.auth.createKey({ name, role });
      return TestClient.connect(keyed.server.websocketUrl, { headers: { authorization: `Bearer ${key}` } });
    };
    const alice = await connect('Alice');
    const bob = await connect('Bob');
    await alice.result('persona.chat', { persona_id: 'aria', message: 'Good morning Aria, I live at 12 Lantern Street.' });
    await expect.poll(async () => (await bob.result('emotional.history', { persona_id: 'aria' })).samples.length).toBe(2);
    const seen = await bob.result('emotional.history', { persona_id: 'aria' });
    const text = JSON.stringify(seen);
    expect(text).not.toMatch(/conv_|alice|Lantern|session/i);
    expect(Object.keys(seen.samples[0]).sort()).toEqual(
      ['id', 'at', 'cause', 'mood', 'valence', 'arousal', 'stress_level', 'curiosity', 'social_battery', 'max_social_energy', 'energy_level', 'interaction_fatigue'].sort(),
    );
    await Promise.all([alice.close(), bob.close()]);
  });
});
