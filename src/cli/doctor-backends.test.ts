import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.js';
import { startFakeOpenAi, type FakeOpenAi } from '../../test/fakes/fake-openai.js';
import { checkOtherBackends, modelsInUse } from './doctor-backends.js';

describe('doctor: other backends', () => {
  let server: FakeOpenAi;
  beforeAll(async () => {
    server = await startFakeOpenAi();
  });
  afterAll(async () => {
    await server.close();
  });

  const config = (env: Record<string, string>, flags: Record<string, unknown> = {}) => loadConfig({ cwd: '/nonexistent', env, flags });

  it('resolves every model in use to its backend, as the server does', () => {
    const uses = modelsInUse(config({ PERSONA_MCP_LLM_PROVIDER: 'openai', PERSONA_MCP_MODEL: 'qwen' }, { 'llm.tasks': { summary: 'ollama:llama3.2:1b' } }), [
      { name: 'Aria', model: null },
      { name: 'Kira', model: 'ollama:llama3.1:8b' },
    ]);
    expect(uses.map((use) => [`${use.ref.backend}:${use.ref.model}`, use.users])).toEqual([
      ['openai:qwen', ['default', 'Aria']],
      ['ollama:llama3.1:8b', ['Kira']],
      ['ollama:llama3.2:1b', ['task summary']],
    ]);
  });

  it('checks an OpenAI-compatible backend and the models used on it', async () => {
    const checks = await checkOtherBackends(config({ PERSONA_MCP_LLM_PROVIDER: 'openai', OPENAI_BASE_URL: server.url, PERSONA_MCP_MODEL: 'qwen2.5-7b-instruct' }), [{ name: 'Kira', model: 'openai:missing' }]);

    expect(checks.map((check) => [check.status, check.title])).toEqual([
      ['ok', `OpenAI-compatible server "openai" reachable at ${server.url} (2 models)`],
      ['ok', 'Model openai:qwen2.5-7b-instruct — default available'],
      ['warn', 'Model openai:missing — Kira is not served by openai'],
    ]);
  });
});
