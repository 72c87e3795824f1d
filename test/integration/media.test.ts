/**
 * Media over the wire: avatars (generated and uploaded), pictures and audio attached to persona.chat
 * (stored by content, reaching the model's request as Ollama `images`, shown in history), the vision
 * check, scenes (stored, in the prompt, announced to subscribers), and how uploads are served.
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeChatBody, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let ollama: FakeOllama;
let server: TestServer;
let png: Buffer;

/** Chat requests of persona turns (memory and relationship jobs also reach the fake). */
function personaRequests(): FakeChatBody[] {
  return ollama.requests.map((request) => request.body).filter((body) => body.messages?.[0]?.content.includes('Stay in character'));
}

/** A minimal PCM WAV: 0.1 s of silence. */
function wav(): Buffer {
  const samples = 800;
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + samples * 2, 4);
  header.write('WAVE', 8);
  header.write('fmt ', 12);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(8000, 24);
  header.writeUInt32LE(16000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(samples * 2, 40);
  return Buffer.concat([header, Buffer.alloc(samples * 2)]);
}

beforeAll(async () => {
  ollama = await startFakeOllama({ models: ['llama3.1:8b', 'nomic-embed-text:latest', 'llava:latest'] });
  server = await startTestServer({ ollamaUrl: ollama.url, flags: { 'social.groupTurnDelayMs': 0 } });
  png = await sharp({ create: { width: 600, height: 400, channels: 3, background: '#c04080' } }).png().toBuffer();
});

afterAll(async () => {
  await server?.cleanup();
  await ollama?.close();
});

const http = (path: string): Promise<Response> => fetch(`${server.server.httpUrl}${path}`);

describe('avatars', () => {
  it('gives every persona a generated avatar, served as a sandboxed SVG', async () => {
    const client = await server.connect();
    const list = await client.result('persona.list');
    const aria = list.personas.find((persona: any) => persona.id === 'aria');
    expect(aria.avatar_url).toBe('/avatars/aria.svg');
    const response = await http(aria.avatar_url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/svg+xml');
    expect(response.headers.get('content-security-policy')).toContain('sandbox');
    expect(await response.text()).toMatch(/^<svg/);
    expect((await http('/avatars/nobody.svg')).status).toBe(404);
  });

  it('stores an uploaded avatar by content and serves it with its real type, a thumbnail, and nosniff', async () => {
    const client = await server.connect();
    const result = await client.result('persona.set_avatar', { persona_id: 'Kira', image: png.toString('base64') });
    const id = createHash('sha256').update(png).digest('hex');
    expect(result).toEqual({ persona_id: 'kira', avatar_url: `/media/${id}`, is_generated: false });
    const detail = await client.result('persona.get', { persona_id: 'kira' });
    expect(detail.avatar_url).toBe(`/media/${id}`);

    const original = await http(`/media/${id}`);
    expect(original.headers.get('content-type')).toBe('image/png');
    expect(original.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await original.arrayBuffer()).equals(png)).toBe(true);
    const thumbnail = await http(`/media/${id}/thumbnail`);
    expect(thumbnail.headers.get('content-type')).toBe('image/webp');
    expect((await sharp(Buffer.from(await thumbnail.arrayBuffer())).metadata()).width).toBe(256);

    // The PNG card carries the avatar as its picture.
    const card = await client.result('persona.export_card', { persona_id: 'kira', format: 'png' });
    const cardImage = await sharp(Buffer.from(card.png, 'base64')).metadata();
    expect([cardImage.width, cardImage.height]).toEqual([600, 400]);

    const cleared = await client.result('persona.set_avatar', { persona_id: 'kira', image: null });
    expect(cleared.avatar_url).toBe('/avatars/kira.svg');
    // Once nothing points at it and it is old enough, the clean-up removes the file.
    const media = server.server.services.media.media;
    expect(await media.pruneUnreferenced(Date.now(), 3_600_000)).toBe(0);
    expect(await media.pruneUnreferenced(Date.now() + 7_200_000, 3_600_000)).toBeGreaterThanOrEqual(1);
    expect((await http(`/media/${id}`)).status).toBe(404);
  });

  it('refuses SVG, HTML dressed as a picture, and bad base64, by content', async () => {
    const client = await server.connect();
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>').toString('base64');
    const html = Buffer.from('<!doctype html><script>alert(1)</script>').toString('base64');
    for (const image of [svg, { data: html, mime_type: 'image/png' }, '***not base64***']) {
      const frame = await client.call('persona.set_avatar', { persona_id: 'aria', image });
      expect(frame.error.code).toBe(-32070);
      expect(frame.error.message).toMatch(/base64|accepted/);
    }
    expect((await client.result('persona.list')).personas.find((persona: any) => persona.id === 'aria').avatar_url).toBe('/avatars/aria.svg');
  });
});

describe('attachments on persona.chat', () => {
  it('passes a picture to a vision model as Ollama images and shows it in history', async () => {
    const client = await server.connect();
    await client.result('persona.create', { name: 'Iris', description: 'A painter who looks closely.', model: 'llava' });
    const before = personaRequests().length;
    const reply = await client.result('persona.chat', { persona_id: 'iris', message: 'What colour is this?', images: [{ data: png.toString('base64'), mime_type: 'image/png' }] });
    expect(reply.attachments).toHaveLength(1);
    const request = personaRequests().slice(before).at(-1)!;
    const last = request.messages!.at(-1)!;
    expect(last.content).toBe('What colour is this?');
    expect(last.images).toEqual([png.toString('base64')]);

    const history = await client.result('conversation.history', { persona_id: 'iris' });
    const userMessage = history.messages.find((message: any) => message.role === 'user');
    expect(userMessage.attachments[0]).toMatchObject({ kind: 'image', mime_type: 'image/png', width: 600, height: 400, url: `/media/${reply.attachments[0].id}` });
  });

  it('answers model_cannot_see for a model without vision, keeping the message, and never calls the model', async () => {
    const client = await server.connect();
    const before = personaRequests().length;
    const frame = await client.call('persona.chat', { persona_id: 'aria', message: 'Look at my drawing', images: [png.toString('base64')] });
    expect(frame.error.code).toBe(-32071);
    expect(frame.error.message).toMatch(/cannot look at pictures.*llava/);
    expect(personaRequests().length).toBe(before);
    const history = await client.result('conversation.history', { persona_id: 'aria' });
    expect(history.messages.at(-1)).toMatchObject({ role: 'user', content: 'Look at my drawing' });
    expect(history.messages.at(-1).attachments).toHaveLength(1);
  });

  it('stores audio, serves it playable, and tells the model it is there', async () => {
    const client = await server.connect();
    const reply = await client.result('persona.chat', { persona_id: 'aria', message: 'Listen to this', audio: [wav().toString('base64')] });
    expect(reply.attachments[0]).toMatchObject({ kind: 'audio', mime_type: 'audio/wav', thumbnail_url: null });
    const last = personaRequests().at(-1)!.messages!.at(-1)!;
    expect(last.content).toMatch(/^Listen to this\n\n\[The visitor also sent an audio clip \(audio\/wav/);
    const served = await http(reply.attachments[0].url);
    expect(served.headers.get('content-type')).toBe('audio/wav');
  });

  it('refuses a picture sent as audio, too many files, and files over the size limit', async () => {
    const client = await server.connect();
    expect((await client.call('persona.chat', { persona_id: 'aria', message: 'x', audio: [png.toString('base64')] })).error.code).toBe(-32070);
    const five = Array.from({ length: 5 }, () => png.toString('base64'));
    expect((await client.call('persona.chat', { persona_id: 'aria', message: 'x', images: five })).error.code).toBe(-32602);
  });
});

describe('scenes', () => {
  it('stores a scene, tells subscribers, and puts it in the prompt of the next turn', async () => {
    const client = await server.connect();
    const watcher = await server.connect();
    const first = await client.result('persona.chat', { persona_id: 'kira', message: 'Hello there' });
    const conversationId = first.conversation_id;
    expect(await client.result('scene.get', { conversation_id: conversationId })).toMatchObject({ location: null, present: [], updated_at: null });
    expect((await watcher.call('scene.get', { conversation_id: 'conv_unknown' })).error.code).toBe(-32003);
    await watcher.result('conversation.subscribe', { conversation_id: conversationId });

    const scene = await client.result('scene.set', {
      conversation_id: conversationId,
      location: 'the Silver Stag tavern',
      time_of_day: 'late evening',
      weather: 'rain on the windows',
      present: ['Aria', 'an old sailor'],
    });
    expect(scene).toMatchObject({ location: 'the Silver Stag tavern', present: ['Aria', 'an old sailor'] });
    const notification = await watcher.next();
    expect(notification).toMatchObject({ method: 'conversation.scene', params: { conversation_id: conversationId, scene: { weather: 'rain on the windows' } } });

    await client.result('persona.chat', { conversation_id: conversationId, message: 'Where are we?' });
    const system = personaRequests().at(-1)!.messages![0]!.content;
    expect(system).toContain('The scene: the Silver Stag tavern, late evening; the weather: rain on the windows. Present: Aria and an old sailor.');

    // Only the fields given change; null clears one. The old visual.update sets the same scene.
    const updated = await client.result('visual.update', { type: 'scene', data: { conversation_id: conversationId, weather: null, description: 'The fire is low' } });
    expect(updated.scene).toMatchObject({ location: 'the Silver Stag tavern', weather: null, description: 'The fire is low' });
    expect((await client.call('scene.set', { conversation_id: conversationId, location: 'x'.repeat(201) })).error.message).toMatch(/at most 200/);
  });

  it('enters the prompt of every participant of a group', async () => {
    const client = await server.connect();
    const started = await client.result('conversation.start', { personas: ['aria', 'kira'], topic: 'maps', auto_run: false, max_turns: 2 });
    await client.result('scene.set', { conversation_id: started.conversation_id, location: 'a ship at sea' });
    const before = personaRequests().length;
    await client.result('conversation.resume', { conversation_id: started.conversation_id });
    await server.server.services.groups.whenIdle(started.conversation_id);
    const prompts = personaRequests().slice(before).map((body) => body.messages![0]!.content);
    expect(prompts.length).toBeGreaterThan(0);
    for (const prompt of prompts) expect(prompt).toContain('The scene: a ship at sea.');
  });
});

describe('the web app', () => {
  it('is served at / under a strict Content-Security-Policy without inline script', async () => {
    const response = await http('/');
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await response.text();
    expect(html).toMatch(/<script type="module" crossorigin src="\/assets\/index-[\w-]+\.js"><\/script>/);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect((await fetch(`${server.server.httpUrl}/`, { method: 'POST' })).status).toBe(405);
    expect((await http('/assets/../../package.json')).status).toBe(404);
  });
});
