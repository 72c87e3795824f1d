import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../domain/errors.js';
import type { LlmChatEvent, LlmChatRequest } from '../../ports/llm.js';
import { startFakeOllama, type FakeOllama } from '../../../test/fakes/fake-ollama.js';
import { startFakeOpenAi, type FakeOpenAi } from '../../../test/fakes/fake-openai.js';
import { QueuedLlmProvider } from '../llm-queue/queued-provider.js';
import { OllamaProvider } from '../ollama/ollama-provider.js';
import { OpenAiProvider } from '../openai/openai-provider.js';
import { closedPortUrl } from '../../../test/helpers/llm-events.js';
import { ModelRouter, type RouterSettings } from './model-router.js';

const quiet = { info() {}, warn() {}, debug() {} };

async function run(router: ModelRouter, request: Partial<LlmChatRequest>): Promise<Extract<LlmChatEvent, { type: 'done' }>> {
  let done: LlmChatEvent | undefined;
  for await (const event of router.chat({ model: 'llama3.1:8b', messages: [{ role: 'user', content: 'hi' }], maxTokens: 50, contextTokens: 4096, ...request }, new AbortController().signal)) {
    if (event.type === 'done') done = event;
  }
  if (done?.type !== 'done') throw new Error('no done event');
  return done;
}

describe('ModelRouter', () => {
  let ollama: FakeOllama;
  let openai: FakeOpenAi;
  let settings: RouterSettings;

  beforeEach(async () => {
    ollama = await startFakeOllama({ models: ['llama3.1:8b', 'llama3.2:1b'] });
    openai = await startFakeOpenAi();
    settings = {
      defaultModel: () => 'llama3.1:8b',
      contextTokens: () => 4096,
      modelContextTokens: () => ({}),
      fallback: () => [],
      taskModels: () => ({}),
      latencyBudgetMs: () => null,
      embedModel: () => 'nomic-embed-text',
    };
  });
  afterEach(async () => {
    await ollama.close();
    await openai.close();
  });

  const router = (openAiUrl = openai.url): ModelRouter =>
    new ModelRouter(
      [
        { name: 'ollama', kind: 'ollama', endpoint: ollama.url, contextTokens: null, provider: new QueuedLlmProvider(new OllamaProvider({ baseUrl: ollama.url })) },
        { name: 'lm', kind: 'openai', endpoint: openAiUrl, contextTokens: 16384, provider: new QueuedLlmProvider(new OpenAiProvider({ name: 'lm', baseUrl: openAiUrl })) },
      ],
      'ollama',
      settings,
      quiet,
    );

  it('sends background tasks to the task model and chats to the requested one', async () => {
    settings.taskModels = () => ({ summary: 'ollama:llama3.2:1b' });
    const summary = await run(router(), { task: 'summary' });
    const chat = await run(router(), {});

    expect(summary.choice).toMatchObject({ ref: 'ollama:llama3.2:1b', source: 'task' });
    expect(chat.choice).toMatchObject({ ref: 'ollama:llama3.1:8b', source: 'default' });
    expect(ollama.requests.map((request) => request.body.model)).toEqual(['llama3.2:1b', 'llama3.1:8b']);
  });

  it('passes over an unreachable backend without sending it the chat, and gives the fall-back its own context window', async () => {
    settings.fallback = () => ['ollama:llama3.1:8b'];
    const done = await run(router(await closedPortUrl('/v1')), { model: 'lm:qwen2.5-7b-instruct' });

    expect(done.choice).toMatchObject({ ref: 'ollama:llama3.1:8b', rule: 'fallback', skipped: [{ ref: 'lm:qwen2.5-7b-instruct', reason: 'its backend is not reachable' }] });
    expect(ollama.requests[0]?.body.options).toMatchObject({ num_ctx: 4096 });
  });

  it('lists every failure when no candidate can answer', async () => {
    settings.fallback = () => ['lm:missing-too'];
    const error = await run(router(), { model: 'ollama:missing' }).then(
      () => null,
      (caught: unknown) => caught as AppError,
    );

    expect(error).toBeInstanceOf(AppError);
    expect(error?.kind).toBe('model_not_installed');
    expect(error?.message).toContain('No fall-back could answer either (ollama:missing: the backend does not have this model; lm:missing-too: the backend does not have this model)');
  });

  it('embeds with the backend a reference names', async () => {
    const vectors = await router().embed(['a', 'b'], 'lm:text-embedding-3-small');

    expect(vectors).toHaveLength(2);
    expect(openai.embedRequests[0]?.body).toMatchObject({ model: 'text-embedding-3-small' });
  });

  it('learns a typical reply time per model', async () => {
    const routed = router();
    expect(routed.typicalReplyTime('ollama:llama3.1:8b')).toBeNull();
    await run(routed, {});
    expect(routed.typicalReplyTime('ollama:llama3.1:8b')).toBeGreaterThanOrEqual(0);
  });
});
