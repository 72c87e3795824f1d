/** Character Card V2/V3 import and export over the WebSocket API, as JSON and PNG, against sample cards. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCardTexts } from '../../src/adapters/cards/png.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/ws-client.js';

const fixture = (name: string): Buffer => readFileSync(path.resolve('test/fixtures/cards', name));
const json = (name: string): Record<string, any> => JSON.parse(fixture(name).toString('utf8'));

let server: TestServer;
let client: TestClient;

beforeAll(async () => {
  server = await startTestServer();
  client = await server.connect();
});
afterAll(async () => server.cleanup());

describe('character cards', () => {
  it('imports a V2 JSON card, mapping its fields to a persona', async () => {
    const result = await client.result('persona.import_card', { card: json('seraphina-v2.json') });
    expect(result).toMatchObject({ action: 'created', spec: 'chara_card_v2', persona: { persona_id: 'seraphina', name: 'Seraphina' } });
    const persona = await client.result('persona.get', { persona_id: 'seraphina' });
    expect(persona.personality_traits).toEqual({ caring: 70, protective: 70, calm: 70, wise: 70 });
    expect(persona.backstory).toMatch(/mossy glade/);
    expect(persona.example_lines).toEqual(['In my glade, safe from the shadows of the forest.', 'Rest now. The herbs need time to work.']);
    expect(persona.topic_preferences).toEqual({ fantasy: 70, healer: 70 });
  });

  it('exports it back as V2 with every unknown field and extension intact', async () => {
    const original = json('seraphina-v2.json');
    const { card } = await client.result('persona.export_card', { persona_id: 'Seraphina', spec: 'v2' });
    const { persona_mcp: ours, ...extensions } = card.data.extensions;
    expect(extensions).toEqual(original.data.extensions);
    expect(ours).toMatchObject({ id: 'seraphina', name: 'Seraphina' });
    const { extensions: _left, ...rest } = card.data;
    const { extensions: _right, ...expected } = original.data;
    expect(rest).toEqual(expected);
    expect(card).toMatchObject({ spec: 'chara_card_v2', spec_version: '2.0' });
  });

  it('exports the persona as V3 JSON, with edits made here winning over the stored card', async () => {
    await client.result('persona.update', { persona_id: 'seraphina', description: 'Guardian of the glade.' });
    const { card } = await client.result('persona.export_card', { persona_id: 'seraphina', spec: 'v3' });
    expect(card).toMatchObject({ spec: 'chara_card_v3', spec_version: '3.0' });
    expect(card.data.description).toBe('Guardian of the glade.');
    expect(card.data.character_book).toEqual(json('seraphina-v2.json').data.character_book);
    expect(card.data.group_only_greetings).toEqual([]);
  });

  it('imports a V3 PNG card (ccv3 chunk) and exports it as PNG with the same image and both chunks', async () => {
    const result = await client.result('persona.import_card', { png: fixture('captain-v3.png').toString('base64') });
    expect(result).toMatchObject({ action: 'created', spec: 'chara_card_v3', persona: { persona_id: 'captain-mirela' } });
    const persona = await client.result('persona.get', { persona_id: 'captain-mirela' });
    expect(persona.personality_traits).toEqual({ bold: 90, loyal: 85, impatient: 60 });
    expect(persona.system_prompt_template).toBe('You are {{char}}, an airship captain. Keep replies short.');

    const exported = await client.result('persona.export_card', { persona_id: 'captain-mirela', spec: 'v3', format: 'png' });
    const png = Buffer.from(exported.png, 'base64');
    const texts = readCardTexts(png);
    const v3 = JSON.parse(texts.ccv3 as string);
    const original = json('captain-v3.json');
    expect(v3.data.extensions.risu_app).toEqual(original.data.extensions.risu_app);
    expect(v3.data.assets).toEqual(original.data.assets);
    expect(v3.data.nickname).toBe('Cap');
    expect(v3.data.creator_notes_multilingual).toEqual(original.data.creator_notes_multilingual);
    expect(JSON.parse(texts.chara as string).spec).toBe('chara_card_v2');
    // The image itself (everything but the card chunks) is the one that came in.
    expect(png.subarray(0, 33)).toEqual(fixture('captain-v3.png').subarray(0, 33));
  });

  it('round-trips a V2 PNG card through export and re-import into the same persona', async () => {
    const first = await client.result('persona.import_card', { png: fixture('seraphina-v2.png').toString('base64'), on_conflict: 'rename' });
    expect(first).toMatchObject({ action: 'renamed', persona: { persona_id: 'seraphina-2', name: 'Seraphina (2)' } });
    const exported = await client.result('persona.export_card', { persona_id: 'seraphina-2', spec: 'v2', format: 'png' });
    const before = await client.result('persona.get', { persona_id: 'seraphina-2' });
    await client.result('persona.delete', { persona_id: 'seraphina-2' });
    const again = await client.result('persona.import_card', { png: exported.png });
    expect(again.persona.persona_id).toBe('seraphina-2');
    const after = await client.result('persona.get', { persona_id: 'seraphina-2' });
    expect({ ...after, created_at: null, updated_at: null }).toEqual({ ...before, created_at: null, updated_at: null });
  });

  it('exports a persona that never was a card (Aria) and imports it back as the same definition', async () => {
    const exported = await client.result('persona.export_card', { persona_id: 'aria', spec: 'v3', format: 'png' });
    const aria = await client.result('persona.get', { persona_id: 'aria' });
    const copy = await client.result('persona.import_card', { png: exported.png, on_conflict: 'rename' });
    const imported = await client.result('persona.get', { persona_id: copy.persona.persona_id });
    const strip = (persona: Record<string, unknown>) => ({ ...persona, id: null, persona_id: null, name: null, avatar_url: null, is_builtin: null, created_at: null, updated_at: null });
    expect(strip(imported)).toEqual(strip(aria));
  });

  it('keeps a renamed card\'s new name when only its id clashes (a card exported here and edited by hand)', async () => {
    const exported = await client.result('persona.export_card', { persona_id: 'kira', spec: 'v3', format: 'json' });
    exported.card.data.name = 'Dropped Scholar';
    const imported = await client.result('persona.import_card', { card: exported.card, on_conflict: 'rename' });
    expect(imported).toMatchObject({ action: 'renamed', persona: { persona_id: 'kira-2', name: 'Dropped Scholar' } });
  });

  it('refuses a conflict without a policy, and a file that is not a card', async () => {
    const conflict = await client.call('persona.import_card', { card: json('seraphina-v2.json') });
    expect(conflict.error).toMatchObject({ code: -32040 });
    const skipped = await client.result('persona.import_card', { card: json('seraphina-v2.json'), on_conflict: 'skip' });
    expect(skipped.action).toBe('skipped');
    const notCard = await client.call('persona.import_card', { card: { hello: 'world' } });
    expect(notCard.error).toMatchObject({ code: -32051, data: { reason: 'unsupported_format' } });
    const damaged = fixture('captain-v3.png');
    damaged[40] = (damaged[40] ?? 0) ^ 0xff;
    const broken = await client.call('persona.import_card', { png: damaged.toString('base64') });
    expect(broken.error).toMatchObject({ code: -32051, data: { reason: 'corrupt' } });
  });
});
