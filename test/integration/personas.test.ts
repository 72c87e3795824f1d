/** Persona methods over the real WebSocket API: catalogue, switching by id or name, runtime edits. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/ws-client.js';

let server: TestServer;
let client: TestClient;

beforeAll(async () => {
  server = await startTestServer();
  client = await server.connect();
});
afterAll(async () => server.cleanup());

describe('persona methods', () => {
  it('lists Aria and Kira with the old server fields', async () => {
    const result = await client.result('persona.list');
    expect(result.total_count).toBe(2);
    expect(result.available_count).toBe(2);
    const aria = result.personas.find((persona: { id: string }) => persona.id === 'aria');
    expect(aria).toMatchObject({ name: 'Aria', available: true, social_energy: 150, current_priority: 'social', cooldown_remaining: 0 });
    const kira = result.personas.find((persona: { id: string }) => persona.id === 'kira');
    expect(kira).toMatchObject({ name: 'Kira', social_energy: 80, current_priority: 'academic' });
  });

  it.each(['aria', 'Aria', 'ARIA', ' aria '])('switches by id or name, case-insensitively (%j)', async (given) => {
    const result = await client.result('persona.switch', { persona_id: given });
    expect(result).toMatchObject({ persona_id: 'aria', name: 'Aria', status: 'active', social_energy: 150, available_time: 600, current_priority: 'social' });
  });

  it('reports the active persona in persona.status without params', async () => {
    await client.result('persona.switch', { persona_id: 'Kira' });
    const status = await client.result('persona.status');
    expect(status).toMatchObject({ persona_id: 'kira', is_active: true, is_available: true, social_energy: 80, available_time: 300, interaction_fatigue: 0 });
  });

  it('answers an unknown persona with -32001 naming the known ones', async () => {
    const frame = await client.call('persona.switch', { persona_id: 'gandalf' });
    expect(frame.error.code).toBe(-32001);
    expect(frame.error.message).toContain('aria');
    expect(frame.error.data.kind).toBe('persona_not_found');
  });

  it('answers persona.status with no active persona and no id with -32002', async () => {
    const fresh = await server.connect();
    const frame = await fresh.call('persona.status');
    expect(frame.error.code).toBe(-32002);
  });

  it('creates, updates and deletes a persona at runtime', async () => {
    const created = await client.result('persona.create', {
      name: 'Sir Tobias',
      description: 'A retired knight who tends bees.',
      personality_traits: ['gruff', 'kind'],
      topic_preferences: { bees: 95, war: 10 },
    });
    expect(created).toMatchObject({ persona_id: 'sir-tobias', name: 'Sir Tobias', personality_traits: { gruff: 70, kind: 70 }, is_builtin: false });

    const listed = await client.result('persona.list');
    expect(listed.total_count).toBe(3);

    const updated = await client.result('persona.update', { persona_id: 'Sir Tobias', description: 'A retired knight.', social_energy: { max_energy: 60 } });
    expect(updated.description).toBe('A retired knight.');
    expect(updated.social_energy_profile.max_energy).toBe(60);
    expect(updated.topic_preferences).toEqual({ bees: 95, war: 10 });

    const duplicate = await client.call('persona.create', { name: 'sir tobias', description: 'again' });
    expect(duplicate.error.code).toBe(-32040);

    expect(await client.result('persona.delete', { persona_id: 'sir-tobias' })).toEqual({ deleted: true, persona_id: 'sir-tobias' });
    expect((await client.call('persona.status', { persona_id: 'sir-tobias' })).error.code).toBe(-32001);
  });

  it('forgets a deleted persona that was active in another session (persona.status then gives -32002)', async () => {
    await client.result('persona.create', { name: 'Brother Ash', description: 'A monk who keeps the orchard.' });
    const other = await server.connect();
    await other.result('persona.switch', { persona_id: 'brother-ash' });
    expect((await other.result('persona.status')).persona_id).toBe('brother-ash');

    await client.result('persona.delete', { persona_id: 'brother-ash' });
    const frame = await other.call('persona.status');
    expect(frame.error.code).toBe(-32002);
  });

  it('validates persona.create input with -32602', async () => {
    const frame = await client.call('persona.create', { name: 'X', topic_preferences: { music: 300 } });
    expect(frame.error.code).toBe(-32602);
    expect(frame.error.message).toContain('topic_preferences');
  });

  it('returns the full definition with persona.get', async () => {
    const aria = await client.result('persona.get', { persona_id: 'aria' });
    expect(aria.personality_traits).toMatchObject({ extroverted: 90, creative: 85, empathetic: 80, curious: 75, optimistic: 85 });
    expect(aria.attributes).toEqual({ charisma: 18, intelligence: 14 });
    expect(aria.example_lines.length).toBeGreaterThan(3);
  });

  it('answers persona.memory and persona.relationship honestly empty', async () => {
    const memory = await client.result('persona.memory', { query: 'music', persona_id: 'aria' });
    expect(memory).toMatchObject({ memories: [], total_results: 0 });
    expect(memory).not.toHaveProperty('note'); // real search since long-term memory landed (docs/memory.md)
    const relationship = await client.result('persona.relationship', { persona_id: 'aria', other_id: 'kira' });
    expect(relationship).toMatchObject({ persona_id: 'aria', other_id: 'kira', other_kind: 'persona', relationship: null, exists: false });
    expect(relationship.note).toMatch(/has not interacted/);
  });

  it('answers persona.list and persona.status afresh once something in them changed (shared answers are never stale)', async () => {
    const other = await server.connect();
    const before = await other.result('persona.status', { persona_id: 'aria' });
    expect(await other.result('persona.status', { persona_id: 'aria' })).toEqual(before);
    await other.result('emotional.update_state', { persona_id: 'aria', mood: 'melancholy', stress_level: 0.9 });
    const moody = await other.result('persona.status', { persona_id: 'aria' });
    expect(moody).toMatchObject({ mood: 'melancholy', is_active: false });
    expect(moody.mood_description).toContain('stressed');
    await other.result('persona.switch', { persona_id: 'aria' });
    expect(await other.result('persona.status', { persona_id: 'aria' })).toMatchObject({ mood: 'melancholy', is_active: true });
    // Another session sees aria as not its active persona, with the same mood.
    expect(await client.result('persona.status', { persona_id: 'aria' })).toMatchObject({ mood: 'melancholy' });
    // Energy and fatigue set on the wire show at once, in both calls (they are read from memory without a promise).
    await other.result('emotional.update_state', { persona_id: 'aria', social_battery: 12, interaction_fatigue: 0.4 });
    expect(await other.result('persona.status', { persona_id: 'aria' })).toMatchObject({ social_energy: 12, interaction_fatigue: 0.4 });
    const tired = (await other.result('persona.list')).personas.find((persona: { id: string }) => persona.id === 'aria');
    expect(tired.social_energy).toBe(12);
    await other.result('emotional.update_state', { persona_id: 'aria', energy_level: 1 });
    expect(await other.result('persona.status', { persona_id: 'aria' })).toMatchObject({ interaction_fatigue: 0, is_available: true });

    const listed = await other.result('persona.list');
    await other.result('persona.create', { name: 'Dame Vera', description: 'Keeps the lighthouse.' });
    const grown = await other.result('persona.list');
    expect(grown.total_count).toBe(listed.total_count + 1);
    expect(grown.personas.map((persona: { id: string }) => persona.id)).toContain('dame-vera');
    await other.result('persona.delete', { persona_id: 'dame-vera' });
    expect((await other.result('persona.list')).total_count).toBe(listed.total_count);

    // What the answers are made from is compared, not the answers (SharedResults.lookup): a persona changed
    // on the wire and a new default model both show in the very next answers.
    await other.result('persona.update', { persona_id: 'kira', name: 'Kira Vale' });
    const renamed = (await other.result('persona.list')).personas.find((persona: { id: string }) => persona.id === 'kira');
    expect(renamed.name).toBe('Kira Vale');
    expect(await other.result('persona.status', { persona_id: 'kira' })).toMatchObject({ name: 'Kira Vale' });
    const modelBefore = renamed.model;
    await other.result('config.set', { settings: { 'llm.model': 'tiny:1b' } });
    const models = (await other.result('persona.list')).personas.map((persona: { model: string }) => persona.model);
    expect(models).toContain('tiny:1b');
    await other.result('config.set', { settings: { 'llm.model': null } });
    expect((await other.result('persona.list')).personas.find((persona: { id: string }) => persona.id === 'kira').model).toBe(modelBefore);
    await other.close();
  });
});
