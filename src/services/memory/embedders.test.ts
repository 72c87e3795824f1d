import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startFakeOllama, type FakeOllama } from '../../../test/fakes/fake-ollama.js';
import { HashedNgramEmbedder } from '../../adapters/embedders/hashed-ngram.js';
import { LlmEmbedder } from '../../adapters/embedders/llm-embedder.js';
import { OllamaProvider } from '../../adapters/ollama/ollama-provider.js';
import { DEFERRED_QUERIES, MemoryEmbedders, MODEL_RECHECK_MS, REMOTE_COOL_DOWN_MS, SEARCHED_ONCE_KEPT } from './embedders.js';

let ollama: FakeOllama;
let time: number;
let embedders: MemoryEmbedders;

beforeEach(async () => {
  ollama = await startFakeOllama();
  time = 1_000;
  const remote = new LlmEmbedder(new OllamaProvider({ baseUrl: ollama.url }), 'nomic-embed-text');
  embedders = new MemoryEmbedders(new HashedNgramEmbedder(), remote, pino({ level: 'silent' }), { queryTimeoutMs: 1_000, now: () => time });
});
afterEach(async () => {
  await ollama.close();
});

describe('MemoryEmbedders', () => {
  it('records a vector per embedder, each under its own id', async () => {
    const [vectors] = await embedders.embed(['The user sails']);
    expect(vectors!.map((vector) => [vector.embedder, vector.vector.length])).toEqual([
      ['hashed-ngram-v1@256', 256],
      ['ollama:nomic-embed-text', 16],
    ]);
  });

  it('gives up on a hung backend after the query time limit, then skips it during the cool-down', async () => {
    ollama.setMode('hang');
    const started = performance.now();
    expect(await embedders.remoteQuery('anything')).toBeNull();
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(await embedders.remoteQuery('again')).toBeNull();
    // The cool-down: the second query never reached the backend (the first one's body may still be on
    // its way to the fake when the 100 ms limit fires on a loaded machine, so at most one was recorded).
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(ollama.embedRequests.length).toBeLessThanOrEqual(1);
    // Offline vectors are still made.
    expect((await embedders.embed(['still works']))[0]!.map((vector) => vector.embedder)).toEqual(['hashed-ngram-v1@256']);
    ollama.setMode('normal');
    time += REMOTE_COOL_DOWN_MS;
    expect(await embedders.remoteQuery('back')).toHaveLength(16);
  });

  it('with waitMs 0 answers at once from what it knows, and embeds a query searched again with the next embed call, keeping its vector', async () => {
    expect(await embedders.remoteQuery('I sail on Sundays', 0)).toBeNull();
    // Searched once, a text is not embedded: its vector would serve only a search of the same text.
    await embedders.embed(['The user sails']);
    expect(ollama.embedRequests[0]!.body['input']).toEqual(['The user sails']);
    // Searched again (a retry): now it waits for the next embed call.
    expect(await embedders.remoteQuery('I sail on Sundays', 0)).toBeNull();
    expect(ollama.embedRequests).toHaveLength(1); // no round trip of its own
    // The next embedding (a turn's memory formation) carries the waiting query in the same request.
    const [formed] = await embedders.embed(['The user sails on Sundays']);
    expect(formed!.map((vector) => vector.embedder)).toEqual(['hashed-ngram-v1@256', 'ollama:nomic-embed-text']);
    expect(ollama.embedRequests).toHaveLength(2);
    expect(ollama.embedRequests[1]!.body['input']).toEqual(['The user sails on Sundays', 'I sail on Sundays']);
    const known = await embedders.remoteQuery('I sail on Sundays', 0);
    expect(known).toHaveLength(16);
    expect(await embedders.remoteQuery('I sail on Sundays')).toBe(known);
    await embedders.embed(['Another memory']);
    expect(ollama.embedRequests[2]!.body['input']).toEqual(['Another memory']); // asked once only
    // Without waitMs it waits for the backend, as a memory.search does.
    expect(await embedders.remoteQuery('something new')).toHaveLength(16);
    expect(ollama.embedRequests).toHaveLength(4);
  });

  it('does not ask again for a text whose vector it keeps, nor twice for a text given twice, nor at all when all are known', async () => {
    const [first] = await embedders.embed(['The user sails', 'The user sails']);
    expect(ollama.embedRequests.map((request) => request.body['input'])).toEqual([['The user sails']]);
    const [again, other] = await embedders.embed(['The user sails', 'The user rows']);
    expect(ollama.embedRequests[1]!.body['input']).toEqual(['The user rows']);
    expect(again).toEqual(first);
    expect(other!.map((vector) => vector.embedder)).toEqual(['hashed-ngram-v1@256', 'ollama:nomic-embed-text']);
    // A query's vector, once known, serves a memory of the same text too.
    expect(await embedders.remoteQuery('I sail on Sundays')).toHaveLength(16);
    const [known] = await embedders.embed(['I sail on Sundays', 'The user rows']);
    expect(known!.map((vector) => vector.embedder)).toEqual(['hashed-ngram-v1@256', 'ollama:nomic-embed-text']);
    expect(ollama.embedRequests).toHaveLength(3);
  });

  it('remembers the newest texts searched once', async () => {
    await embedders.remoteQuery('the oldest question', 0);
    for (let index = 0; index < SEARCHED_ONCE_KEPT; index++) await embedders.remoteQuery(`question ${index}`, 0);
    await embedders.remoteQuery('the oldest question', 0); // forgotten: a first search again
    await embedders.remoteQuery(`question ${SEARCHED_ONCE_KEPT - 1}`, 0);
    await embedders.embed(['memory']);
    expect(ollama.embedRequests[0]!.body['input']).toEqual(['memory', `question ${SEARCHED_ONCE_KEPT - 1}`]);
  });

  it('keeps only the newest deferred queries', async () => {
    for (let round = 0; round < 2; round++) for (let index = 0; index < DEFERRED_QUERIES + 5; index++) await embedders.remoteQuery(`question ${index}`, 0);
    await embedders.embed(['memory']);
    const input = ollama.embedRequests[0]!.body['input'] as string[];
    expect(input).toHaveLength(DEFERRED_QUERIES + 1);
    expect(input[1]).toBe('question 5');
    expect(input.at(-1)).toBe(`question ${DEFERRED_QUERIES + 4}`);
  });
});

describe('the embedding model check', () => {
  it('warns once when the model is not installed, never calls it meanwhile, and uses it once pulled', async () => {
    ollama.models = ['llama3.1:8b'];
    const warnings: string[] = [];
    const logger = { ...pino({ level: 'silent' }), warn: (_: unknown, message: string) => void warnings.push(message) } as unknown as pino.Logger;
    let ready = 0;
    const provider = new OllamaProvider({ baseUrl: ollama.url });
    const checked = new MemoryEmbedders(new HashedNgramEmbedder(), new LlmEmbedder(provider, 'nomic-embed-text'), logger, {
      now: () => time,
      model: { name: 'nomic-embed-text', installed: async () => (await provider.listModels()).map((model) => model.name) },
      onModelReady: () => void ready++,
    });
    expect(checked.answering).toBe('ollama:nomic-embed-text'); // not checked yet
    expect(await checked.checkModel()).toBe('missing');
    expect(await checked.checkModel()).toBe('missing');
    expect(warnings).toEqual([
      'embedding model "nomic-embed-text" is not installed; memory search uses the offline embedder until it is. Install it with: ollama pull nomic-embed-text',
    ]);
    expect(checked.answering).toBe('hashed-ngram-v1@256');
    expect(await checked.remoteQuery('anything')).toBeNull();
    expect((await checked.embed(['still works']))[0]!.map((vector) => vector.embedder)).toEqual(['hashed-ngram-v1@256']);
    expect(ollama.embedRequests).toHaveLength(0);

    ollama.models = ['llama3.1:8b', 'nomic-embed-text:latest'];
    time += MODEL_RECHECK_MS;
    expect(await checked.checkModel()).toBe('installed');
    expect(ready).toBe(1);
    expect(checked.answering).toBe('ollama:nomic-embed-text');
    expect(await checked.remoteQuery('back')).toHaveLength(16);
  });
});
