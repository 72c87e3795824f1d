/**
 * A chat turn's background judgements — the relationship's tone and each new memory's poignancy — come
 * from one model call (`TurnAppraiser`), shared by the memory formation and relationship jobs, and a
 * reply that is no appraisal leaves both on their heuristics.
 */
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseFile } from '../helpers/state-fixtures.js';
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

describe('the turn appraisal with doc2query on', () => {
  let llm: FakeOllama;
  let withDoc2Query: TestServer;
  let answer: { tone?: number; rating?: number; facts?: boolean } | 'refuse' = { tone: 0.5, rating: 6 };
  const isDoc2Query = (body: FakeChatBody): boolean => (body.messages?.at(-1)?.content ?? '').includes('"Fact:"');

  beforeAll(async () => {
    llm = await startFakeOllama({
      reply: (body) => {
        if (isDoc2Query(body)) return 'Fact: The user has a hobby.\nQ: Does the user have a pastime?';
        if (!(body.messages?.[0]?.content.startsWith('You appraise exchanges') ?? false)) return 'How lovely to hear.';
        if (answer === 'refuse') return 'I would rather not say.';
        // Made-up words in the questions: a search finds them only through the stored doc2query text.
        const reply = JSON.parse(appraisalReply(body, answer)!) as { facts?: Array<{ fact: string; questions: string[] }> };
        reply.facts?.forEach((fact, index) => (fact.questions = [`Is the user a zorbleflux${index + 1} person?`]));
        return JSON.stringify(reply);
      },
    });
    withDoc2Query = await startTestServer({ ollamaUrl: llm.url, flags: { 'memory.embedder': 'offline', 'memory.decayOnStart': false } });
  });
  afterAll(async () => {
    await withDoc2Query.cleanup();
    await llm.close();
  });

  async function chat(name: string, message: string): Promise<{ personaId: string; background: FakeChatBody[] }> {
    const client = await withDoc2Query.connect();
    const persona = await client.result('persona.create', { name, description: 'A beekeeper.' });
    const before = llm.requests.length;
    await client.result('persona.chat', { persona_id: persona.id, message });
    await withDoc2Query.server.services.memory.jobs.drain(10_000);
    const background = llm.requests.slice(before).map((request) => request.body).filter((body) => body.messages?.at(-1)?.content !== message);
    return { personaId: persona.id, background };
  }

  it("restates the memories in the same call: one background call for the turn, and each memory is found by its questions' words", async () => {
    const { personaId, background } = await chat('Hazel', 'I keep three beehives behind the orchard. I play the violoncello every evening.');
    expect(background.map((body) => (isDoc2Query(body) ? 'doc2query' : 'appraisal'))).toEqual(['appraisal']);
    expect(background[0]!.messages![0]!.content).toContain('"facts"');
    const client = await withDoc2Query.connect();
    const { memories } = await client.result('memory.list', { persona_id: personaId });
    expect(memories).toHaveLength(2);
    for (const memory of memories) expect(memory).toMatchObject({ importance: 0.6, importance_source: 'llm' });
    const first = await client.result('memory.search', { persona_id: personaId, query: 'zorbleflux1' });
    expect(first.memories.map((memory: { content: string }) => memory.content)).toEqual(['The user said: I keep three beehives behind the orchard.']);
    const second = await client.result('memory.search', { persona_id: personaId, query: 'zorbleflux2' });
    expect(second.memories.map((memory: { content: string }) => memory.content)).toEqual(['The user said: I play the violoncello every evening.']);
  });

  it("writes each memory's full-text row once, the appraisal's restatement with it (no second write per memory)", async () => {
    // A trigger of the test's own (a second connection to the same file) counts rewrites of the recall terms.
    const db = new BetterSqlite3(databaseFile(withDoc2Query.dataDir));
    try {
      db.exec(`CREATE TABLE test_rewrites (id INTEGER);
        CREATE TRIGGER test_count_rewrites AFTER UPDATE OF recall_terms ON memories BEGIN INSERT INTO test_rewrites VALUES (new.id); END;`);
      const { personaId } = await chat('Linden', 'I keep three beehives behind the orchard. I play the violoncello every evening.');
      const client = await withDoc2Query.connect();
      const found = await client.result('memory.search', { persona_id: personaId, query: 'zorbleflux2' });
      expect(found.memories.map((memory: { content: string }) => memory.content)).toEqual(['The user said: I play the violoncello every evening.']);
      expect(db.prepare('SELECT count(*) FROM test_rewrites').pluck().get()).toBe(0);
    } finally {
      db.exec('DROP TRIGGER test_count_rewrites; DROP TABLE test_rewrites;');
      db.close();
    }
  });

  it('asks doc2query separately when the appraisal answered but left the facts out', async () => {
    answer = { tone: 0.5, rating: 6, facts: false };
    try {
      const { background } = await chat('Rowan', 'I keep three beehives behind the orchard.');
      expect(background.map((body) => (isDoc2Query(body) ? 'doc2query' : 'appraisal'))).toEqual(['appraisal', 'doc2query']);
    } finally {
      answer = { tone: 0.5, rating: 6 };
    }
  });

  it('asks nothing more when the appraisal was no answer at all', async () => {
    answer = 'refuse';
    try {
      const { background } = await chat('Ash', 'I keep three beehives behind the orchard.');
      expect(background.map((body) => (isDoc2Query(body) ? 'doc2query' : 'appraisal'))).toEqual(['appraisal']);
    } finally {
      answer = { tone: 0.5, rating: 6 };
    }
  });
});
