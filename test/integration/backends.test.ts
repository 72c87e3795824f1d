/**
 * Several LLM backends in one server (issue #17's check): the real server, real SQLite, the fake Ollama and
 * the fake OpenAI-compatible server over HTTP.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/app/app.js';
import { loadConfig } from '../../src/config/load.js';
import { silentLogger } from '../../src/logger.js';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startFakeOpenAi, type FakeOpenAi } from '../fakes/fake-openai.js';
import { makeDataDir, startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

/** Reads frames until the response to `id`, returning the notifications before it and the response. */
async function streamed(client: TestClient, id: string): Promise<{ chunks: any[]; response: any }> {
  const chunks: any[] = [];
  for (;;) {
    const frame = await client.next();
    if (frame.id === id) return { chunks, response: frame };
    chunks.push(frame);
  }
}

describe('PERSONA_MCP_LLM_PROVIDER=openai with OPENAI_BASE_URL', () => {
  it('streams a chat reply from the OpenAI-compatible server', async () => {
    const openai = await startFakeOpenAi({ apiKey: 'sk-local' });
    const dataDir = makeDataDir();
    const config = loadConfig({
      cwd: dataDir,
      env: { PERSONA_MCP_LLM_PROVIDER: 'openai', OPENAI_BASE_URL: openai.url, OPENAI_API_KEY: 'sk-local', PERSONA_MCP_MODEL: 'qwen2.5-7b-instruct' },
      flags: { dataDir, port: 0, 'llm.ollamaHost': 'http://127.0.0.1:9', validateResults: true },
    });
    const server = await startServer(config, { logger: silentLogger() });
    const client = await TestClient.connect(server.websocketUrl);
    try {
      await client.result('persona.switch', { persona_id: 'kira' });
      client.send({ jsonrpc: '2.0', id: 'one', method: 'persona.chat', params: { message: 'what are you building', stream: true } });
      const { chunks, response } = await streamed(client, 'one');

      // the fake's events arrive together, and the events of one read are one delta
      expect(chunks.length).toBeGreaterThan(0);
      expect(chunks.map((chunk) => chunk.params.delta).join('')).toBe('Kira hears you: what are you building');
      expect(response.result).toMatchObject({
        response: 'Kira hears you: what are you building',
        model: 'qwen2.5-7b-instruct',
        model_choice: { backend: 'openai', ref: 'openai:qwen2.5-7b-instruct', rule: 'first-choice', source: 'default' },
      });
      expect(response.result.tokens_used).toBeGreaterThan(0);
      expect(openai.requests[0]?.body).toMatchObject({ model: 'qwen2.5-7b-instruct', stream: true });
      expect(openai.authorizations.at(-1)).toBe('Bearer sk-local');
    } finally {
      await client.close();
      await server.close();
      await openai.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('says the OpenAI-compatible server is unreachable, with a hint that does not send its users to Ollama', async () => {
    const gone = await startFakeOpenAi();
    await gone.close();
    const dataDir = makeDataDir();
    const config = loadConfig({
      cwd: dataDir,
      env: { PERSONA_MCP_LLM_PROVIDER: 'openai', OPENAI_BASE_URL: gone.url, PERSONA_MCP_MODEL: 'qwen2.5-7b-instruct' },
      flags: { dataDir, port: 0, 'llm.ollamaHost': 'http://127.0.0.1:9' },
    });
    const server = await startServer(config, { logger: silentLogger() });
    const client = await TestClient.connect(server.websocketUrl);
    try {
      const failed = await client.call('persona.chat', { persona_id: 'kira', message: 'anyone there?' });
      expect(failed.error).toMatchObject({ code: -32010, data: { kind: 'llm_unavailable' } });
      expect(failed.error.message).toContain('OpenAI-compatible server');
      expect(failed.error.data.hint).toContain('Start the backend the message names');
      expect(failed.error.data.hint.toLowerCase()).not.toContain('ollama');
    } finally {
      await client.close();
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('named backends, per-persona models and fall-back', () => {
  let ollama: FakeOllama;
  let vllm: FakeOpenAi;
  let server: TestServer;

  beforeAll(async () => {
    ollama = await startFakeOllama({ models: ['llama3.1:8b', 'llama3.2:1b', 'nomic-embed-text:latest'] });
    vllm = await startFakeOpenAi({ models: ['qwen2.5-7b-instruct'] });
    server = await startTestServer({
      ollamaUrl: ollama.url,
      flags: {
        'llm.backends': { vllm: { kind: 'openai', url: vllm.url, contextTokens: 32768 } },
        'llm.fallback': ['ollama:llama3.1:8b'],
        'llm.tasks': { summary: 'ollama:llama3.2:1b' },
      },
    });
  });
  afterAll(async () => {
    await server.cleanup();
    await ollama.close();
    await vllm.close();
  });

  it('lets Aria answer from Ollama and Kira from the OpenAI-compatible backend in the same server', async () => {
    const client = await server.connect();
    await client.result('persona.update', { persona_id: 'kira', model: 'vllm:qwen2.5-7b-instruct' });

    const aria = await client.result('persona.chat', { persona_id: 'aria', message: 'hello Aria' });
    const kira = await client.result('persona.chat', { persona_id: 'kira', message: 'hello Kira' });

    expect(aria).toMatchObject({ response: 'Aria hears you: hello Aria', model_choice: { backend: 'ollama', model: 'llama3.1:8b' } });
    expect(kira).toMatchObject({ response: 'Kira hears you: hello Kira', model_choice: { backend: 'vllm', model: 'qwen2.5-7b-instruct', source: 'persona' } });
    // Background work (relationship judgements) may follow on either backend; the chat turns are there.
    expect(ollama.requests.some((request) => request.body.messages?.at(-1)?.content === 'hello Aria')).toBe(true);
    expect(vllm.requests.some((request) => request.body.messages?.at(-1)?.content === 'hello Kira')).toBe(true);
    expect(vllm.requests.some((request) => request.body.messages?.at(-1)?.content === 'hello Aria')).toBe(false);
  });

  it('falls back along the chain when the persona model is missing, and says why in the result', async () => {
    const client = await server.connect();
    await client.result('persona.update', { persona_id: 'aria', model: 'ollama:aria-finetune' });
    try {
      const result = await client.result('persona.chat', { persona_id: 'aria', message: 'are you there' });

      expect(result.response).toBe('Aria hears you: are you there');
      expect(result.model).toBe('llama3.1:8b');
      expect(result.model_choice).toMatchObject({
        ref: 'ollama:llama3.1:8b',
        rule: 'fallback',
        source: 'fallback',
        skipped: [{ model: 'ollama:aria-finetune', reason: 'the backend does not have this model' }],
      });
      expect(result.model_choice.reason).toContain('ollama:aria-finetune was passed over: the backend does not have this model');
    } finally {
      await client.result('persona.update', { persona_id: 'aria', model: null });
    }
  });

  it('falls back when a backend answers busy (429), after trying it', async () => {
    const client = await server.connect();
    await client.result('persona.update', { persona_id: 'kira', model: 'vllm:qwen2.5-7b-instruct' });
    vllm.setMode('busy');
    try {
      const result = await client.result('persona.chat', { persona_id: 'kira', message: 'still there' });
      // Counted by content: background work of the earlier tests (Kira's judgements) may reach vLLM meanwhile.
      const chatTurns = vllm.requests.filter((request) => request.body.messages?.at(-1)?.content === 'still there');
      expect(chatTurns).toHaveLength(1);
      expect(result.model_choice).toMatchObject({ ref: 'ollama:llama3.1:8b', rule: 'fallback', skipped: [{ model: 'vllm:qwen2.5-7b-instruct', reason: 'it was busy' }] });
    } finally {
      vllm.setMode('normal');
    }
  });

  it('answers exactly the pinned model, and reports a missing pinned model instead of falling back', async () => {
    const client = await server.connect();
    const pinned = await client.result('persona.chat', { persona_id: 'aria', message: 'pinned', model: 'vllm:qwen2.5-7b-instruct' });
    expect(pinned.model_choice).toMatchObject({ ref: 'vllm:qwen2.5-7b-instruct', rule: 'pinned', source: 'pin' });

    const frame = await client.call('persona.chat', { persona_id: 'aria', message: 'pinned again', model: 'ollama:nonexistent' });
    expect(frame.error.code).toBe(-32011);
    expect(frame.error.message).toContain('ollama pull nonexistent');
  });

  it('lists every backend with its models, reachability and which persona or task uses each', async () => {
    const client = await server.connect();
    await client.result('persona.update', { persona_id: 'kira', model: 'vllm:qwen2.5-7b-instruct' });
    const models = await client.result('system.models');

    const byName = Object.fromEntries(models.backends.map((backend: any) => [backend.name, backend]));
    expect(byName.ollama).toMatchObject({ kind: 'ollama', reachable: true, is_default: true });
    expect(byName.vllm).toMatchObject({ kind: 'openai', reachable: true, endpoint: vllm.url });
    expect(byName.host).toMatchObject({ kind: 'host' });
    const qwen = byName.vllm.models.find((model: any) => model.name === 'qwen2.5-7b-instruct');
    expect(qwen).toMatchObject({ ref: 'vllm:qwen2.5-7b-instruct', pulled: true, context_tokens: 32768 });
    expect(qwen.used_by).toContainEqual({ persona_id: 'kira', task: 'chat' });
    const small = byName.ollama.models.find((model: any) => model.name === 'llama3.2:1b');
    expect(small.used_by).toContainEqual({ persona_id: null, task: 'summary' });
    expect(models.persona_models).toContainEqual(expect.objectContaining({ persona_id: 'kira', model: 'vllm:qwen2.5-7b-instruct', installed: true }));
  });
});
