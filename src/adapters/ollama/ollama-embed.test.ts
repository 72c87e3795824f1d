/** `OllamaProvider.embed` against the fake Ollama over a real socket. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../domain/errors.js';
import { startFakeOllama, type FakeOllama } from '../../../test/fakes/fake-ollama.js';
import { OllamaProvider } from './ollama-provider.js';

describe('OllamaProvider.embed', () => {
  let ollama: FakeOllama;
  let provider: OllamaProvider;

  beforeEach(async () => {
    ollama = await startFakeOllama();
    // Generous: on a loaded machine the fake's answer can take over a second.
    provider = new OllamaProvider({ baseUrl: ollama.url, listTimeoutMs: 10_000 });
  });
  afterEach(async () => {
    await ollama.close();
  });

  it('sends all texts in one request and returns one vector per text, in order', async () => {
    const vectors = await provider.embed(['alpha', 'beta', 'alpha'], 'nomic-embed-text');
    expect(ollama.embedRequests).toHaveLength(1);
    expect(ollama.embedRequests[0]!.body).toMatchObject({ model: 'nomic-embed-text', input: ['alpha', 'beta', 'alpha'] });
    expect(vectors).toHaveLength(3);
    expect(vectors[0]).toHaveLength(16);
    expect(vectors[0]).toEqual(vectors[2]);
    expect(vectors[0]).not.toEqual(vectors[1]);
  });

  it('names `ollama pull` when the embedding model is not installed', async () => {
    const error = await provider.embed(['x'], 'mxbai-embed-large').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).kind).toBe('model_not_installed');
  });

  it('fails with llm_failed when Ollama answers 500', async () => {
    ollama.setMode('fail');
    const error = await provider.embed(['x'], 'nomic-embed-text').catch((caught: unknown) => caught);
    expect((error as AppError).kind).toBe('llm_failed');
  });

  it('fails with llm_failed when the embeddings are not arrays of numbers, or not one per text', async () => {
    for (const body of ['{"embeddings":[["0.1","0.2"]]}', '{"embeddings":[0.1]}', '{"vectors":[[0.1]]}', '{"embeddings":[[0.1],[0.2]]}']) {
      const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const raw = new OllamaProvider({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
      const error = await raw.embed(['x'], 'nomic-embed-text').catch((caught: unknown) => caught);
      server.close();
      expect((error as AppError).kind).toBe('llm_failed');
      expect((error as AppError).message).toMatch(/cannot read/);
    }
  });
});
