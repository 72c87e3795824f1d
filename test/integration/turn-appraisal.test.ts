/**
 * A chat turn's background judgements — the relationship's tone and each new memory's poignancy — come
 * from one model call (`TurnAppraiser`), shared by the memory formation and relationship jobs, and a
 * reply that is no appraisal leaves both on their heuristics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appraisalReply } from '../fakes/appraisal-reply.js';
import { startFakeOllama, type FakeChatBody, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let ollama: FakeOllama;
let server: TestServer;
let appraisal: { tone?: number; rating?: number } | 'refuse' = { tone: 0.8, rating: 9 };

function reply(body: FakeChatBody): string {
  if (body.messages?.[0]?.content.startsWith('You appraise exchanges')) return appraisal === 'refuse' ? 'I would rather not say.' : appraisalReply(body, appraisal)!;
  return 'How lovely to hear.';
}

const kindOf = (body: FakeChatBody): string => {
  const system = body.messages?.[0]?.content ?? '';
  if (system.startsWith('You appraise exchanges')) return 'appraisal';
  if (system.startsWith('You rate the tone')) return 'judgement';
  if ((body.messages?.at(-1)?.content ?? '').startsWith('On the scale of 1 to 10')) return 'rating';
  return 'other';
};

beforeAll(async () => {
  ollama = await startFakeOllama({ reply });
  server = await startTestServer({ ollamaUrl: ollama.url, flags: { 'memory.embedder': 'offline', 'memory.doc2query': false, 'memory.decayOnStart': false } });
});
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
});

describe('the turn appraisal', () => {
  it('rates the memories and judges the exchange in one call per turn', async () => {
    const client = await server.connect();
    const persona = await client.result('persona.create', { name: 'Wren', description: 'A lighthouse keeper.' });
    const before = ollama.requests.length;
    await client.result('persona.chat', { persona_id: persona.id, message: 'My sister Maud lives in Oslo. I love sailing with her.' });
    await server.server.services.memory.jobs.drain(10_000);

    const background = ollama.requests.slice(before).map((request) => kindOf(request.body)).filter((kind) => kind !== 'other');
    expect(background).toEqual(['appraisal']);
    const appraisalRequest = ollama.requests.slice(before).find((request) => kindOf(request.body) === 'appraisal')!;
    expect(appraisalRequest.body.messages?.at(-1)?.content).toMatch(/^Visitor: My sister Maud lives in Oslo\. I love sailing with her\.\nWren: How lovely to hear\.\n\nMemories Wren keeps from it:\n1\. /);

    const { memories } = await client.result('memory.list', { persona_id: persona.id });
    expect(memories.length).toBeGreaterThan(0);
    for (const memory of memories) expect(memory).toMatchObject({ importance: 0.9, importance_source: 'llm' });
    const history = await client.result('relationship.history', { persona1_id: persona.id });
    expect(history.events[0]).toMatchObject({ source: 'llm', quality: 0.8 });
  });

  it('keeps the heuristics when the answer is no appraisal', async () => {
    appraisal = 'refuse';
    try {
      const client = await server.connect();
      const persona = await client.result('persona.create', { name: 'Tamsin', description: 'A ferry pilot.' });
      await client.result('persona.chat', { persona_id: persona.id, message: 'I work at the harbour office. Thank you, that was lovely.' });
      await server.server.services.memory.jobs.drain(10_000);
      const { memories } = await client.result('memory.list', { persona_id: persona.id });
      expect(memories.length).toBeGreaterThan(0);
      for (const memory of memories) expect(memory.importance_source).toBe('heuristic');
      const history = await client.result('relationship.history', { persona1_id: persona.id });
      expect(history.events[0]).toMatchObject({ source: 'chat' });
    } finally {
      appraisal = { tone: 0.8, rating: 9 };
    }
  });
});
