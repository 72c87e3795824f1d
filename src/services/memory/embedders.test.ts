import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startFakeOllama, type FakeOllama } from '../../../test/fakes/fake-ollama.js';
import { HashedNgramEmbedder } from '../../adapters/embedders/hashed-ngram.js';
import { LlmEmbedder } from '../../adapters/embedders/llm-embedder.js';
import { OllamaProvider } from '../../adapters/ollama/ollama-provider.js';
import { MemoryEmbedders, REMOTE_COOL_DOWN_MS } from './embedders.js';

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
    expect(ollama.embedRequests).toHaveLength(1);
    // Offline vectors are still made.
    expect((await embedders.embed(['still works']))[0]!.map((vector) => vector.embedder)).toEqual(['hashed-ngram-v1@256']);
    ollama.setMode('normal');
    time += REMOTE_COOL_DOWN_MS;
    expect(await embedders.remoteQuery('back')).toHaveLength(16);
  });

  it('with waitMs 0 answers at once from what it knows, and keeps the vector that arrives for the next search', async () => {
    expect(await embedders.remoteQuery('I sail on Sundays', 0)).toBeNull();
    expect(await embedders.remoteQuery('I sail on Sundays', 0)).toBeNull(); // still on its way: not asked twice
    await new Promise((resolve) => setTimeout(resolve, 0));
    for (let tries = 0; tries < 200 && (await embedders.remoteQuery('I sail on Sundays', 0)) === null; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const known = await embedders.remoteQuery('I sail on Sundays', 0);
    expect(known).toHaveLength(16);
    expect(await embedders.remoteQuery('I sail on Sundays')).toBe(known);
    expect(ollama.embedRequests).toHaveLength(1);
    // Without waitMs it waits for the backend, as a memory.search does.
    expect(await embedders.remoteQuery('something new')).toHaveLength(16);
    expect(ollama.embedRequests).toHaveLength(2);
  });
});
