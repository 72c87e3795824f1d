/**
 * Stepping a group conversation (`conversation.resume {turns}`): it takes exactly that many persona
 * turns and pauses with reason "stepped"; an interjection is heard but does not run it; a plain resume
 * lets it run freely again. Simulations rely on this to place events exactly between turns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/ws-client.js';

let ollama: FakeOllama;
let server: TestServer;

beforeAll(async () => {
  ollama = await startFakeOllama();
  server = await startTestServer({ ollamaUrl: ollama.url, flags: { 'social.groupTurnDelayMs': 0 } });
});
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
});

/** Answers by id; notifications are kept in order. */
async function call(client: TestClient, notifications: any[], method: string, params: Record<string, unknown>): Promise<any> {
  const id = `step-${Math.random()}`;
  client.send({ jsonrpc: '2.0', id, method, params });
  for (;;) {
    const frame = await client.next(10_000);
    if (frame.id === id) {
      if (frame.error) throw new Error(`${method}: ${JSON.stringify(frame.error)}`);
      return frame.result;
    }
    notifications.push(frame);
  }
}

async function until(client: TestClient, notifications: any[], done: () => boolean): Promise<void> {
  while (!done()) notifications.push(await client.next(10_000));
}

describe('conversation.resume with turns', () => {
  it('takes exactly that many turns, then pauses as "stepped"; interjections wait for the next step', async () => {
    const client = await server.connect();
    const notes: any[] = [];
    const turns = (): any[] => notes.filter((frame) => frame.method === 'conversation.turn' && frame.params.message.role === 'assistant');
    const pauses = (): any[] => notes.filter((frame) => frame.method === 'conversation.group_status' && frame.params.status === 'paused');
    const { conversation_id } = await call(client, notes, 'conversation.start', { personas: ['aria', 'kira'], topic: 'maps', auto_run: false, subscribe: true });

    await call(client, notes, 'conversation.resume', { conversation_id, turns: 2 });
    await until(client, notes, () => pauses().length >= 1);
    expect(turns()).toHaveLength(2);
    expect(pauses()[0].params.reason).toBe('stepped');
    expect(await client.quietFor(150)).toBe(true);

    await call(client, notes, 'conversation.interject', { conversation_id, message: 'Kira, any old maps?' });
    await until(client, notes, () => pauses().length >= 2);
    expect(turns()).toHaveLength(2);
    const status = await call(client, notes, 'conversation.group_status', { conversation_id });
    expect(status).toMatchObject({ status: 'paused', status_reason: 'stepped' });

    await call(client, notes, 'conversation.resume', { conversation_id, turns: 1 });
    await until(client, notes, () => pauses().length >= 3);
    expect(turns()).toHaveLength(3);
    expect(ollama.requests.some((request) => request.body.messages!.some((message) => message.content.includes('Kira, any old maps?')))).toBe(true);

    await call(client, notes, 'conversation.resume', { conversation_id });
    await until(client, notes, () => turns().length >= 5);
    await call(client, notes, 'conversation.end', { conversation_id });
    // The job queue shows in system.status, so a client can wait until post-turn work is done.
    const system = await call(client, notes, 'system.status', {});
    expect(system.jobs).toEqual({ pending: expect.any(Number), due: expect.any(Number), running: expect.any(Number), failed: 0 });
  });

  it('refuses a step count out of range with the field named', async () => {
    const client = await server.connect();
    const { conversation_id } = await client.result('conversation.start', { personas: ['aria', 'kira'], auto_run: false });
    const frame = await client.call('conversation.resume', { conversation_id, turns: 0 });
    expect(frame.error?.code).toBe(-32602);
    expect(frame.error?.message).toContain('turns');
  });
});
