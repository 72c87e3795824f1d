import { describe, expect, it } from 'vitest';
import { AppError } from '../../domain/errors.js';
import type { LlmChatEvent, LlmChatRequest, LlmProvider } from '../../ports/llm.js';
import { FallbackToHostProvider, HostLlmProvider, HostModelBridge, HostTurn, isHostInputRequired } from './host-model.js';

const request: LlmChatRequest = { model: 'llama3.1:8b', messages: [{ role: 'user', content: 'hi' }], maxTokens: 50, contextTokens: 4096 };
const signal = new AbortController().signal;

async function collect(events: AsyncIterable<LlmChatEvent>): Promise<LlmChatEvent[]> {
  const all: LlmChatEvent[] = [];
  for await (const event of events) all.push(event);
  return all;
}

function fakePrimary(behaviour: 'answers' | 'unreachable' | 'fails'): LlmProvider {
  return {
    name: 'fake',
    async *chat() {
      if (behaviour === 'unreachable') throw new AppError('llm_unavailable', 'Ollama is not running.');
      if (behaviour === 'fails') throw new AppError('llm_failed', 'The model crashed.');
      yield { type: 'delta', text: 'from ollama' };
      yield { type: 'done', promptTokens: 1, completionTokens: 2, model: 'llama3.1:8b' };
    },
    listModels: async () => [],
    status: async () => ({ reachable: behaviour === 'answers', provider: 'fake', endpoint: 'nowhere' }),
  };
}

describe('HostLlmProvider', () => {
  const bridge = new HostModelBridge();
  const host = new HostLlmProvider(bridge);

  it('answers llm_unavailable outside an MCP request (a WebSocket client has no host to ask)', async () => {
    await expect(collect(host.chat(request, signal))).rejects.toMatchObject({ kind: 'llm_unavailable' });
  });

  it('asks for the host model when the client can sample, carrying the prompt', async () => {
    const turn = new HostTurn(true);
    const error = await bridge.run(turn, () => collect(host.chat(request, signal))).catch((caught: unknown) => caught);
    expect(isHostInputRequired(error)).toBe(true);
    expect(error).toMatchObject({ request, turn });
  });

  it("streams the host's answer once it is supplied, exactly once", async () => {
    const turn = new HostTurn(true, { text: 'Hello from the host', model: 'host-model' });
    const events = await bridge.run(turn, () => collect(host.chat(request, signal)));
    expect(events).toEqual([
      { type: 'delta', text: 'Hello from the host' },
      { type: 'done', promptTokens: null, completionTokens: null, model: 'host-model' },
    ]);
    expect(turn.hasReply).toBe(false);
  });

  it('answers llm_unavailable when the client offers no sampling', async () => {
    await expect(bridge.run(new HostTurn(false), () => collect(host.chat(request, signal)))).rejects.toMatchObject({
      kind: 'llm_unavailable',
    });
  });
});

describe('FallbackToHostProvider (llm.provider "auto")', () => {
  const bridge = new HostModelBridge();
  const host = new HostLlmProvider(bridge);

  it('uses Ollama when it answers', async () => {
    const auto = new FallbackToHostProvider(fakePrimary('answers'), host, bridge);
    const events = await bridge.run(new HostTurn(true), () => collect(auto.chat(request, signal)));
    expect(events[0]).toEqual({ type: 'delta', text: 'from ollama' });
  });

  it("falls back to the host's model only when Ollama cannot be reached and the client can sample", async () => {
    const auto = new FallbackToHostProvider(fakePrimary('unreachable'), host, bridge);
    const error = await bridge.run(new HostTurn(true), () => collect(auto.chat(request, signal))).catch((caught: unknown) => caught);
    expect(isHostInputRequired(error)).toBe(true);
    await expect(bridge.run(new HostTurn(false), () => collect(auto.chat(request, signal)))).rejects.toMatchObject({
      kind: 'llm_unavailable',
    });
  });

  it('reports other Ollama failures as they are', async () => {
    const auto = new FallbackToHostProvider(fakePrimary('fails'), host, bridge);
    await expect(bridge.run(new HostTurn(true), () => collect(auto.chat(request, signal)))).rejects.toMatchObject({ kind: 'llm_failed' });
  });

  it("goes straight to the host when the turn carries the host's answer", async () => {
    const auto = new FallbackToHostProvider(fakePrimary('answers'), host, bridge);
    const events = await bridge.run(new HostTurn(true, { text: 'host text', model: 'm' }), () => collect(auto.chat(request, signal)));
    expect(events[0]).toEqual({ type: 'delta', text: 'host text' });
  });
});
