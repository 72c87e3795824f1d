/** `QueuedLlmProvider.embed`: passed straight through, outside the chat slots. */
import { describe, expect, it } from 'vitest';
import type { LlmChatEvent, LlmProvider } from '../../ports/llm.js';
import { QueuedLlmProvider } from './queued-provider.js';

function backend(withEmbed: boolean): LlmProvider & { calls: unknown[] } {
  const calls: unknown[] = [];
  return {
    name: 'fake',
    calls,
    // A chat that never ends: it holds the only slot for the whole test.
    chat: () => ({ [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<LlmChatEvent>>(() => undefined) }) }),
    listModels: async () => [],
    status: async () => ({ reachable: true, provider: 'fake', endpoint: 'fake://' }),
    ...(withEmbed
      ? {
          embed: async (texts: readonly string[], model: string) => {
            calls.push({ texts, model });
            return texts.map(() => [1, 0]);
          },
        }
      : {}),
  };
}

describe('QueuedLlmProvider.embed', () => {
  it('passes embeddings through even while every chat slot is taken', async () => {
    const inner = backend(true);
    const queued = new QueuedLlmProvider(inner, { concurrency: 1 });
    const stream = queued.chat({ model: 'm', messages: [], maxTokens: 1, contextTokens: 512 }, new AbortController().signal)[Symbol.asyncIterator]();
    void stream.next(); // takes the slot and hangs
    expect(await queued.embed(['a', 'b'], 'nomic-embed-text')).toEqual([
      [1, 0],
      [1, 0],
    ]);
    expect(inner.calls).toEqual([{ texts: ['a', 'b'], model: 'nomic-embed-text' }]);
    expect(queued.stats().running).toBe(1);
  });

  it('fails with llm_unavailable when the backend has no embeddings', async () => {
    const queued = new QueuedLlmProvider(backend(false));
    await expect(queued.embed(['a'], 'x')).rejects.toMatchObject({ kind: 'llm_unavailable' });
  });
});
