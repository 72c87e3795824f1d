/**
 * When several turns' background jobs are due at once (turns came faster than their jobs ran), memory
 * formation runs them in one pass: one embedding request with every new memory, one appraisal call for
 * the conversation's exchanges (each exchange keeps its own tone and ratings, the relationship jobs use
 * them without a call of their own), one write. A lone turn's jobs run at once, as before.
 *
 * The backlog is made by stopping the server's job worker while three chats are answered (their jobs are
 * written, not run), then starting it: no timing is involved.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchangesOf } from '../fakes/appraisal-reply.js';
import { startFakeOllama, type FakeChatBody, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let ollama: FakeOllama;
let server: TestServer;
/** What the fake answers to an appraisal of several exchanges: 'follow' the prompt, or something else. */
let batchAnswer: 'follow' | 'wrong length' = 'follow';

/** Per exchange: a tone by its words, a rating per memory by its words. */
function appraise(exchange: string): { tone: number; poignancy: number[] } {
  const [said = '', memories = ''] = exchange.split(/\n\n?Memories [^\n]*:\n/);
  const tone = /Oslo/.test(said) ? 0.8 : /rude/.test(said) ? -0.5 : 0.2;
  const poignancy = [...memories.matchAll(/^\d+\. (.*)$/gm)].map((match) => (/sister/.test(match[1]!) ? 9 : 4));
  return { tone, poignancy };
}

function reply(body: FakeChatBody): string {
  const system = body.messages?.[0]?.content ?? '';
  if (!system.startsWith('You appraise exchanges')) return 'How lovely to hear.';
  const user = body.messages?.at(-1)?.content ?? '';
  if (!system.includes('JSON array')) return JSON.stringify(appraise(user));
  const all = exchangesOf(user).map(appraise);
  return JSON.stringify(batchAnswer === 'follow' ? all : all.slice(1));
}

const isAppraisal = (body: FakeChatBody): boolean => body.messages?.[0]?.content.startsWith('You appraise exchanges') === true;

beforeAll(async () => {
  ollama = await startFakeOllama({ reply, models: ['llama3.1:8b', 'nomic-embed-text:latest'] });
  server = await startTestServer({ ollamaUrl: ollama.url, flags: { 'memory.doc2query': false, 'memory.decayOnStart': false } });
});
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
});

const MESSAGES = ['My sister Maud lives in Oslo.', 'I work as a carpenter in Bergen.', 'I was rude to a waiter yesterday and I regret it.'];

/** Chats the three messages to a new persona with the job worker stopped, then starts it and waits for the jobs. */
async function backlogOfThree(name: string): Promise<{ personaId: string; chatsFrom: number; embedsFrom: number; client: Awaited<ReturnType<TestServer['connect']>> }> {
  const jobs = server.server.services.memory.jobs;
  const client = await server.connect();
  const persona = await client.result('persona.create', { name, description: 'A lighthouse keeper.' });
  await jobs.drain(10_000);
  await jobs.stop();
  for (const message of MESSAGES) await client.result('persona.chat', { persona_id: persona.id, message });
  // The observers' enqueues are written a moment after each reply: wait until all six jobs are rows.
  for (;;) {
    const stats = await jobs.stats();
    if (stats.pending >= 6) break;
    await new Promise((resolve) => setImmediate(resolve));
  }
  const chatsFrom = ollama.requests.length;
  const embedsFrom = ollama.embedRequests.length;
  jobs.start();
  await jobs.drain(20_000);
  return { personaId: persona.id, chatsFrom, embedsFrom, client };
}

describe('background jobs due together', () => {
  it('form three turns’ memories with one embedding request and one appraisal call, each exchange keeping its own answer', async () => {
    const { personaId, chatsFrom, embedsFrom, client } = await backlogOfThree('Wren');

    const appraisals = ollama.requests.slice(chatsFrom).filter((request) => isAppraisal(request.body));
    expect(appraisals).toHaveLength(1);
    expect(appraisals[0]!.body.messages?.[0]?.content).toContain('There are 3 numbered exchanges');
    const embeds = ollama.embedRequests.slice(embedsFrom);
    expect(embeds).toHaveLength(1);
    const input = (embeds[0]!.body as unknown as { input: string[] }).input;
    for (const message of MESSAGES) expect(input.some((text) => text.includes(message.slice(3, 20)))).toBe(true);

    const { memories } = await client.result('memory.list', { persona_id: personaId, limit: 50 });
    const about = (words: string): Array<{ importance: number; importance_source: string }> => memories.filter((memory: { content: string }) => memory.content.includes(words));
    expect(about('Maud').length).toBeGreaterThan(0);
    for (const memory of about('Maud')) expect(memory).toMatchObject({ importance: 0.9, importance_source: 'llm' });
    expect(about('carpenter').length).toBeGreaterThan(0);
    for (const memory of about('carpenter')) expect(memory).toMatchObject({ importance: 0.4, importance_source: 'llm' });

    // Each relationship job used its own exchange's tone, with no call of its own.
    const history = await client.result('relationship.history', { persona1_id: personaId, limit: 10 });
    expect(history.events.map((event: { source: string; quality: number }) => [event.source, event.quality]).sort()).toEqual([
      ['llm', -0.5],
      ['llm', 0.2],
      ['llm', 0.8],
    ]);
  });

  it('keep the heuristics for every exchange when the answer does not have one object per exchange', async () => {
    batchAnswer = 'wrong length';
    try {
      const { personaId, chatsFrom, client } = await backlogOfThree('Tamsin');
      expect(ollama.requests.slice(chatsFrom).filter((request) => isAppraisal(request.body))).toHaveLength(1);
      const { memories } = await client.result('memory.list', { persona_id: personaId, limit: 50 });
      expect(memories.length).toBeGreaterThan(0);
      for (const memory of memories) expect(memory.importance_source).toBe('heuristic');
      const history = await client.result('relationship.history', { persona1_id: personaId, limit: 10 });
      expect(history.events.map((event: { source: string }) => event.source)).toEqual(['chat', 'chat', 'chat']);
    } finally {
      batchAnswer = 'follow';
    }
  });

  it('run a lone turn’s jobs at once, with the single-exchange appraisal', async () => {
    const client = await server.connect();
    const persona = await client.result('persona.create', { name: 'Isolde', description: 'A ferry pilot.' });
    await server.server.services.memory.jobs.drain(10_000);
    const from = ollama.requests.length;
    await client.result('persona.chat', { persona_id: persona.id, message: 'My sister Maud lives in Oslo.' });
    await server.server.services.memory.jobs.drain(10_000);
    const appraisals = ollama.requests.slice(from).filter((request) => isAppraisal(request.body));
    expect(appraisals).toHaveLength(1);
    expect(appraisals[0]!.body.messages?.[0]?.content).not.toContain('JSON array');
    const history = await client.result('relationship.history', { persona1_id: persona.id });
    expect(history.events[0]).toMatchObject({ source: 'llm', quality: 0.8 });
  });
});
