/**
 * Issue 13 over the wire: short facts told in one conversation reach the prompt when asked in other
 * words in another; an unrelated question brings no recalled memory; the "what I know about you" block;
 * memory lines and tokens reported in the turn's result; questions never stored; a reply that is not a
 * rating keeps the heuristic importance; another persona never sees the facts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appraisalReply } from '../fakes/appraisal-reply.js';
import { startFakeOllama, type FakeChatBody, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let ollama: FakeOllama;
let server: TestServer;

/** Rates poignancy without answering the question (the reply that used to store 0.1). */
function reply(body: FakeChatBody): string {
  const last = body.messages?.at(-1)?.content ?? '';
  if (last.startsWith('On the scale of 1 to 10')) return 'On the scale of 1 to 10 I cannot say.';
  return 'I hear you.';
}

/** The system prompt of the turn that answered `message` (background calls, re-run after a turn took their slot, may come later). */
const systemPrompt = (message: string): string => ollama.turnFor(message).body.messages![0]!.content;

beforeAll(async () => {
  ollama = await startFakeOllama({ reply });
  server = await startTestServer({ ollamaUrl: ollama.url, flags: { 'memory.embedder': 'offline', 'memory.decayOnStart': false } });
});
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
});

describe('recall into the prompt', () => {
  it('brings facts told earlier back when asked in other words, and reports memory lines and tokens', async () => {
    const client = await server.connect();
    await client.result('persona.switch', { persona_id: 'aria' });
    for (const message of ['I drive an old green Volvo.', 'I moved here from Canada.', 'I speak fluent Japanese.', 'What is my name?'])
      await client.result('persona.chat', { message });
    await server.server.services.memory.jobs.drain(10_000);

    const listed = await client.result('memory.list', { persona_id: 'aria' });
    const contents = listed.memories.map((memory: { content: string }) => memory.content);
    expect(contents).toEqual(
      expect.arrayContaining(['The user said: I drive an old green Volvo.', 'The user said: I moved here from Canada.', 'The user said: I speak fluent Japanese.']),
    );
    expect(contents.some((content: string) => content.includes('What is my name'))).toBe(false);
    // "On the scale of 1 to 10 I cannot say." is no rating: the heuristic value stays.
    expect(listed.memories[0]).toMatchObject({ importance_source: 'heuristic', kind: 'user_fact' });
    expect(listed.memories[0].importance).toBeGreaterThan(0.4);

    await client.result('conversation.start', { persona_id: 'aria', context: 'the next day' });
    const answer = await client.result('persona.chat', { message: 'Which country did I come from?' });
    const system = systemPrompt('Which country did I come from?');
    expect(system).toContain('Things you remember');
    expect(system.split('Things you remember')[1]).toContain('I moved here from Canada.');
    expect(answer.memory).toMatchObject({ recalled_lines: expect.any(Number), profile_lines: expect.any(Number) });
    expect(answer.memory.recalled_lines).toBeGreaterThanOrEqual(1);
    expect(answer.memory.recalled_lines + answer.memory.profile_lines).toBeLessThanOrEqual(6);
    expect(answer.memory.tokens).toBeGreaterThan(0);
    expect(answer.memory.tokens).toBeLessThanOrEqual(400);
  });

  it('brings no recalled memory for an unrelated question, only the small "what I know about you" block', async () => {
    const client = await server.connect();
    await client.result('persona.switch', { persona_id: 'aria' });
    await client.result('conversation.start', { persona_id: 'aria', context: 'small talk' });
    const answer = await client.result('persona.chat', { message: 'Tell me a joke about penguins.' });
    const system = systemPrompt('Tell me a joke about penguins.');
    expect(system).not.toContain('Things you remember');
    expect(answer.memory.recalled_lines).toBe(0);
    expect(system).toContain('What you know about the user:');
    expect(answer.memory.profile_lines).toBeGreaterThanOrEqual(1);
    expect(answer.memory.profile_lines).toBeLessThanOrEqual(3);
    // "capital" is a broader term of nothing told here, but "country" is one of Canada's: a question about
    // the world, not the speaker, needs a real match (domain/memory/speaker.ts).
    const world = await client.result('persona.chat', { message: 'Which country has the largest population?' });
    expect(world.memory.recalled_lines).toBe(0);
    const personal = await client.result('persona.chat', { message: 'Which country am I from, again?' });
    expect(personal.memory.recalled_lines).toBeGreaterThanOrEqual(1);
  });

  it('cuts a long memory to one short line, so it cannot take the whole memory budget', async () => {
    const client = await server.connect();
    await client.result('persona.switch', { persona_id: 'aria' });
    // A client stores a long text about the country (say, a pasted travel diary): 3 900 characters.
    const diary = `Diary of the trip across the country:\n\n${'we walked the long road past farms and lakes and slept in small inns,\n'.repeat(55)}`.slice(0, 3900);
    await client.result('memory.store', { persona_id: 'aria', content: diary, memory_type: 'diary', importance: 0.9 });
    await client.result('conversation.start', { persona_id: 'aria', context: 'another day' });
    const answer = await client.result('persona.chat', { message: 'Which country did I come from?' });
    const recalled = systemPrompt('Which country did I come from?').split('Things you remember')[1]!.split('\n\n')[0]!.split('\n').slice(1);
    // One line, its line breaks folded: the list goes on after it.
    expect(recalled.some((line) => line.startsWith('- Diary of the trip across the country: we walked'))).toBe(true);
    for (const line of recalled) expect(line.length).toBeLessThan(400); // ~80 tokens
    expect(recalled.some((line) => line.includes('I moved here from Canada.'))).toBe(true);
    expect(answer.memory.tokens).toBeLessThanOrEqual(400);
  });

  it('keeps the block editable: a fact made unimportant leaves it, one made important joins it', async () => {
    const client = await server.connect();
    await client.result('persona.switch', { persona_id: 'aria' });
    const listed = await client.result('memory.list', { persona_id: 'aria', memory_type: 'user_fact' });
    const volvo = listed.memories.find((memory: { content: string }) => memory.content.includes('Volvo'));
    await client.result('memory.update', { memory_id: volvo.id, importance: 1 });
    await client.result('persona.chat', { message: 'Tell me a joke about penguins.' });
    expect(systemPrompt('Tell me a joke about penguins.').split('What you know about the user:')[1]!.split('\n')[1]).toBe('- The user said: I drive an old green Volvo.');
    await client.result('memory.update', { memory_id: volvo.id, importance: 0.01 });
    await client.result('memory.delete', { memory_id: listed.memories.find((memory: { content: string }) => memory.content.includes('Japanese')).id });
    await client.result('persona.chat', { message: 'Tell me a joke about penguins.' });
    const block = systemPrompt('Tell me a joke about penguins.').split('What you know about the user:')[1]!.split('\n\n')[0]!;
    expect(block).not.toContain('Japanese');
    expect(block.split('\n')[1]).not.toContain('Volvo');
  });

  it("never shows Aria's facts to Kira", async () => {
    const client = await server.connect();
    await client.result('persona.switch', { persona_id: 'kira' });
    const answer = await client.result('persona.chat', { message: 'Which country did I come from? What car do I drive?' });
    const system = systemPrompt('Which country did I come from? What car do I drive?');
    expect(system).not.toContain('Canada');
    expect(system).not.toContain('Volvo');
    expect(answer.memory).toMatchObject({ recalled_lines: 0, profile_lines: 0, tokens: 0 });
  });
});

describe('doc2query and the embedding model, with an LLM', () => {
  let llm: FakeOllama;
  let withLlm: TestServer;

  beforeAll(async () => {
    // No embedding model installed: memory must say so and use the offline embedder.
    llm = await startFakeOllama({
      models: ['llama3.1:8b'],
      reply: (body) => {
        const last = body.messages?.at(-1)?.content ?? '';
        if (last.startsWith('On the scale of 1 to 10')) return '6';
        // The appraisal leaves the facts out: these tests are about the doc2query call itself.
        const appraisal = appraisalReply(body, { rating: 6, facts: false });
        if (appraisal !== null) return appraisal;
        if (last.startsWith('Here is something')) return "Fact: The user emigrated from Canada.\nQ: Is the user a maple leaf person?\nQ: Where was the user raised?";
        if (/^Here are \d+ things/.test(last))
          return 'Memory 1:\nFact: The user keeps bees.\nQ: Does the user have honey hives?\nMemory 2:\nFact: The user plays the cello.\nQ: Which string instrument does the user bow?';
        return 'Noted.';
      },
    });
    withLlm = await startTestServer({ ollamaUrl: llm.url, flags: { 'memory.decayOnStart': false } });
  });
  afterAll(async () => {
    await withLlm.cleanup();
    await llm.close();
  });

  it('stores the canonical fact and questions in the background, and a question phrased like them finds the memory', async () => {
    const client = await withLlm.connect();
    await client.result('persona.switch', { persona_id: 'aria' });
    await client.result('persona.chat', { message: 'I moved here from Canada.' });
    await withLlm.server.services.memory.jobs.drain(10_000);
    const [memory] = (await client.result('memory.list', { persona_id: 'aria' })).memories;
    expect(memory).toMatchObject({ content: 'The user said: I moved here from Canada.', importance: 0.6, importance_source: 'llm' });
    const found = await client.result('memory.search', { persona_id: 'aria', query: 'maple leaf' });
    expect(found.memories[0]?.id).toBe(memory.id); // "maple leaf" is only in the LLM's question
    expect(llm.embedRequests).toHaveLength(0); // the embedding model is not installed: never called
  });

  it('reports the answering embedder and the missing model in system.status', async () => {
    const client = await withLlm.connect();
    const status = await client.result('system.status');
    expect(status.memory).toMatchObject({
      embedder: 'hashed-ngram-v1@256',
      embed_model: 'nomic-embed-text',
      embed_model_status: 'missing',
      vector_index: expect.arrayContaining([expect.objectContaining({ embedder: 'hashed-ngram-v1@256', vectors: 1, loading: false })]),
    });
  });

  it("asks for all of a message's memories in one doc2query call, and files each answer under its memory", async () => {
    const client = await withLlm.connect();
    await client.result('persona.switch', { persona_id: 'kira' });
    const before = llm.requests.length;
    await client.result('persona.chat', { message: 'I keep three bee hives in my garden. I play the cello in an orchestra.' });
    await withLlm.server.services.memory.jobs.drain(10_000);
    const doc2query = llm.requests.slice(before).filter((request) => request.body.messages?.at(-1)?.content.includes('"Fact:"'));
    expect(doc2query).toHaveLength(1);
    expect(doc2query[0]!.body.messages!.at(-1)!.content).toMatch(/^Here are 2 things/);
    const hives = await client.result('memory.search', { persona_id: 'kira', query: 'honey' });
    expect(hives.memories[0]?.content).toContain('bee hives');
    const cello = await client.result('memory.search', { persona_id: 'kira', query: 'string instrument bow' });
    expect(cello.memories[0]?.content).toContain('cello');
  });
});

describe("a chat turn's recall and the embedding model", () => {
  let llm: FakeOllama;
  let withEmbeddings: TestServer;

  beforeAll(async () => {
    llm = await startFakeOllama({ reply }); // the embedding model is installed (the fake's default models)
    withEmbeddings = await startTestServer({ ollamaUrl: llm.url, flags: { 'memory.decayOnStart': false } });
  });
  afterAll(async () => {
    await withEmbeddings.cleanup();
    await llm.close();
  });

  it("never asks the embedding model for the message before answering: a message sent again has its vector asked by the formation after the reply, its memories' vectors kept from the first", async () => {
    const client = await withEmbeddings.connect();
    await client.result('persona.switch', { persona_id: 'aria' });
    const inputs = (request: { body: FakeChatBody }): string[] => {
      const input = request.body['input'];
      return Array.isArray(input) ? input.map(String) : [String(input)];
    };
    const carrying = (message: string) => llm.embedRequests.filter((request) => inputs(request).includes(message));
    for (const message of ['I keep bees in the garden.', 'My sister grows roses by the hives.']) {
      await client.result('persona.chat', { message });
      await withEmbeddings.server.services.memory.jobs.drain(10_000);
      // Searched once, the message is not embedded at all: its vector would serve only a search of the same text.
      expect(carrying(message)).toEqual([]);
      const memories = llm.embedRequests.flatMap(inputs).filter((text) => text.startsWith('The user said:'));
      expect(memories).not.toEqual([]);
      // Sent again (a retry): recall still does not wait, and the message is embedded afterwards, by the
      // formation (after the turn's chat request), whose memories' vectors are known from the first send.
      await client.result('persona.chat', { message });
      await withEmbeddings.server.services.memory.jobs.drain(10_000);
      expect(carrying(message)).toHaveLength(1);
      expect(carrying(message)[0]!.time).toBeGreaterThanOrEqual(llm.turnFor(message).time);
      expect(llm.embedRequests.flatMap(inputs).filter((text) => text.startsWith('The user said:'))).toEqual(memories);
    }
  });
});
