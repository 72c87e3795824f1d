/** Sessions and conversations survive reconnects and restarts; conversation methods. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { makeDataDir, startTestServer } from '../helpers/server.js';
import { rmSync } from 'node:fs';

let ollama: FakeOllama;
const dataDirs: string[] = [];

beforeAll(async () => {
  ollama = await startFakeOllama();
});
afterAll(async () => {
  await ollama.close();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

function freshDataDir(): string {
  const dir = makeDataDir();
  dataDirs.push(dir);
  return dir;
}

describe('sessions', () => {
  it('restores the session, active persona and history after a restart (URL session_id)', async () => {
    const dataDir = freshDataDir();
    const first = await startTestServer({ ollamaUrl: ollama.url, dataDir });
    const client = await first.connect();
    const { session_id } = await client.result('session.info');
    await client.result('persona.switch', { persona_id: 'kira' });
    await client.result('persona.chat', { message: 'Remember the comet.' });
    await first.stop();

    const second = await startTestServer({ ollamaUrl: ollama.url, dataDir });
    try {
      const again = await second.connect(`?session_id=${session_id}`);
      const info = await again.result('session.info');
      expect(info.session_id).toBe(session_id);
      expect(info.active_persona).toEqual({ id: 'kira', name: 'Kira' });
      expect(info.conversations).toHaveLength(1);
      await again.result('persona.chat', { message: 'What did I say?' });
      const sent = ollama.chatAbout('What did I say?').body.messages!.map((message) => message.content);
      expect(sent).toContain('Remember the comet.');
    } finally {
      await second.stop();
    }
  });

  it('re-attaches with session.resume and refuses unknown sessions', async () => {
    const server = await startTestServer({ ollamaUrl: ollama.url, dataDir: freshDataDir() });
    try {
      const first = await server.connect();
      const { session_id } = await first.result('session.info');
      await first.result('persona.switch', { persona_id: 'aria' });
      const second = await server.connect();
      expect((await second.result('session.info')).session_id).not.toBe(session_id);
      const resumed = await second.result('session.resume', { session_id });
      expect(resumed).toMatchObject({ session_id, active_persona: { id: 'aria' } });
      expect((await second.result('persona.status')).persona_id).toBe('aria');
      const unknown = await second.call('session.resume', { session_id: 'ses_doesnotexist' });
      expect(unknown.error.code).toBe(-32004);
    } finally {
      await server.stop();
    }
  });

  it('refuses a malformed session_id on the URL', async () => {
    const server = await startTestServer({ dataDir: freshDataDir() });
    try {
      await expect(server.connect('?session_id=bad!')).rejects.toThrow('400');
    } finally {
      await server.stop();
    }
  });
});

describe('conversations', () => {
  it('starts, reports, pages and ends a conversation', async () => {
    const server = await startTestServer({ ollamaUrl: ollama.url, dataDir: freshDataDir() });
    try {
      const client = await server.connect();
      const started = await client.result('conversation.start', { persona_id: 'aria', context: 'At the tavern, late evening.' });
      expect(started).toMatchObject({ participants: ['aria'], started: true, kind: 'user' });
      for (let turn = 1; turn <= 5; turn += 1) await client.result('persona.chat', { message: `message ${turn}` });
      // The turn's own request (its last message is the user's, word for word): background calls such as the
      // turn appraisal may reach the model after the reply and quote the message inside their own prompt.
      const turn = ollama.requests.findLast((request) => request.body.messages?.at(-1)?.content === 'message 5');
      expect(turn!.body.messages![0]!.content).toContain('At the tavern, late evening.');

      const status = await client.result('conversation.status');
      expect(status).toMatchObject({ active_conversations: 1, current_persona: 'aria', conversation_id: started.conversation_id, turn_count: 5 });
      expect(status.total_tokens).toBeGreaterThan(0);

      const page1 = await client.result('conversation.history', { conversation_id: started.conversation_id, limit: 4 });
      expect(page1.messages.map((message: { content: string }) => message.content)).toEqual([
        'message 4',
        'Aria hears you: message 4',
        'message 5',
        'Aria hears you: message 5',
      ]);
      expect(page1.has_more).toBe(true);
      const page2 = await client.result('conversation.history', { conversation_id: started.conversation_id, limit: 4, before_id: page1.next_before_id });
      expect(page2.messages[0].content).toBe('message 2');
      const page3 = await client.result('conversation.history', { conversation_id: started.conversation_id, limit: 4, before_id: page2.next_before_id });
      expect(page3.messages.map((message: { content: string }) => message.content)).toEqual(['message 1', 'Aria hears you: message 1']);
      expect(page3.has_more).toBe(false);

      const ended = await client.result('conversation.end', { reason: 'bedtime' });
      expect(ended).toMatchObject({ conversation_id: started.conversation_id, ended: true, reason: 'bedtime', final_stats: { turns: 5 } });
      expect((await client.call('conversation.end', { conversation_id: started.conversation_id })).error.code).toBe(-32003);
      expect((await client.result('conversation.status')).active_conversations).toBe(0);

      // The next chat starts a new thread; the old one stays readable.
      await client.result('persona.chat', { message: 'a new evening' });
      const fresh = await client.result('conversation.status');
      expect(fresh.conversation_id).not.toBe(started.conversation_id);
      expect(fresh.turn_count).toBe(1);
    } finally {
      await server.stop();
    }
  });

  it('starts a conversation between two personas (old server form)', async () => {
    const server = await startTestServer({ dataDir: freshDataDir() });
    try {
      const client = await server.connect();
      const started = await client.result('conversation.start', { persona1_id: 'Aria', persona2_id: 'kira', topic: 'ancient songs' });
      expect(started).toMatchObject({ participants: ['aria', 'kira'], topic: 'ancient songs', started: true, kind: 'personas' });
      const same = await client.call('conversation.start', { persona1_id: 'aria', persona2_id: 'aria', topic: 'x' });
      expect(same.error.code).toBe(-32040);
    } finally {
      await server.stop();
    }
  });

  it('answers conversation_not_found for an unknown conversation', async () => {
    const server = await startTestServer({ dataDir: freshDataDir() });
    try {
      const client = await server.connect();
      expect((await client.call('conversation.history', { conversation_id: 'conv_nope' })).error.code).toBe(-32003);
      expect((await client.call('persona.chat', { message: 'hi', conversation_id: 'conv_nope' })).error.code).toBe(-32003);
    } finally {
      await server.stop();
    }
  });
});
