import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from './fake-ollama.js';

/** The fake's own contract, which other tests lean on. */
describe('fake Ollama', () => {
  let ollama: FakeOllama;
  beforeEach(async () => {
    ollama = await startFakeOllama();
  });
  afterEach(async () => {
    await ollama.close();
  });

  const post = (path: string, body: unknown): Promise<Response> =>
    fetch(`${ollama.url}${path}`, { method: 'POST', body: JSON.stringify(body) });

  it('streams NDJSON word lines, then a done line with counts, and records the request', async () => {
    const response = await post('/api/chat', {
      model: 'llama3.1:8b',
      messages: [
        { role: 'system', content: 'You are Kira.' },
        { role: 'user', content: 'hello' },
      ],
    });
    const lines = (await response.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);

    expect(response.headers.get('content-type')).toBe('application/x-ndjson');
    expect(lines.slice(0, -1).map((line) => (line['message'] as { content: string }).content)).toEqual([
      'Kira ',
      'hears ',
      'you: ',
      'hello',
    ]);
    expect(lines.at(-1)).toMatchObject({ done: true, done_reason: 'stop', prompt_eval_count: 4, eval_count: 4 });
    expect(ollama.requests).toEqual([
      { path: '/api/chat', body: expect.objectContaining({ model: 'llama3.1:8b' }), time: expect.any(Number) },
    ]);
  });

  it('answers stream:false with one object and uses setReply', async () => {
    ollama.setReply((body) => `model ${body.model}`);
    const body = await (await post('/api/chat', { model: 'llama3.1:8b', stream: false, messages: [] })).json();

    expect(body).toMatchObject({ done: true, message: { role: 'assistant', content: 'model llama3.1:8b' } });
  });

  it('answers 404 like Ollama for a model that is not installed', async () => {
    const response = await post('/api/chat', { model: 'phi3', messages: [] });

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: 'model "phi3" not found, try pulling it first' });
  });

  it('gives the same unit-length 16-dimension embedding for the same text', async () => {
    const embed = async (input: string[]): Promise<number[][]> =>
      ((await (await post('/api/embed', { model: 'nomic-embed-text', input })).json()) as { embeddings: number[][] })
        .embeddings;
    const [first, second, other] = await embed(['tea', 'tea', 'coffee']);

    expect(first).toHaveLength(16);
    expect(first).toEqual(second);
    expect(first).not.toEqual(other);
    expect(Math.hypot(...(first ?? []))).toBeCloseTo(1, 10);
  });

  it('lists models and its version', async () => {
    const tags = (await (await fetch(`${ollama.url}/api/tags`)).json()) as { models: Array<{ name: string }> };
    const version = await (await fetch(`${ollama.url}/api/version`)).json();

    expect(tags.models.map((model) => model.name)).toEqual(['llama3.1:8b', 'nomic-embed-text:latest']);
    expect(version).toEqual({ version: '0.12.0' });
  });

  it('counts a client that hangs up on an open stream', async () => {
    ollama.setMode('hang');
    const controller = new AbortController();
    const chat = fetch(`${ollama.url}/api/chat`, {
      method: 'POST',
      body: JSON.stringify({ model: 'llama3.1:8b', messages: [] }),
      signal: controller.signal,
    }).catch(() => 'aborted');
    await ollama.waitForRequest();
    expect(ollama.activeStreams).toBe(1);

    controller.abort();

    await ollama.waitForDisconnect();
    expect(await chat).toBe('aborted');
    expect(ollama.abortedStreams).toBe(1);
    expect(ollama.activeStreams).toBe(0);
  });

  it('drops hanging streams when closed', async () => {
    ollama.setMode('hang');
    const chat = post('/api/chat', { model: 'llama3.1:8b', messages: [] }).catch(() => 'dropped');
    await ollama.waitForRequest();

    await ollama.close();

    expect(await chat).toBe('dropped');
    ollama = await startFakeOllama(); // for afterEach
  });
});
