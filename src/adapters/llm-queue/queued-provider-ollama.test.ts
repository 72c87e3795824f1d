/** Preemption through the real Ollama client against the fake Ollama HTTP server. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { asking, collect, textOf } from '../../../test/helpers/llm-events.js';
import { startFakeOllama, type FakeOllama } from '../../../test/fakes/fake-ollama.js';
import { OllamaProvider } from '../ollama/ollama-provider.js';
import { QueuedLlmProvider } from './queued-provider.js';

describe('QueuedLlmProvider preemption with Ollama', () => {
  let ollama: FakeOllama;
  beforeEach(async () => {
    ollama = await startFakeOllama();
  });
  afterEach(async () => {
    await ollama.close();
  });

  it("closes a background call's request for a person's chat, then asks again and returns that answer", async () => {
    const queue = new QueuedLlmProvider(new OllamaProvider({ baseUrl: ollama.url, requestTimeoutMs: 5_000 }));
    ollama.setMode('hang'); // the background call's generation takes long
    const background = collect(queue.chat(asking('rate this memory', 'background'), new AbortController().signal));
    await ollama.waitForRequest(1);
    ollama.setMode('normal');

    const user = await collect(queue.chat(asking('how are you?'), new AbortController().signal));

    expect(textOf(user)).toBe('Assistant hears you: how are you?');
    await ollama.waitForDisconnect(1);
    expect(textOf(await background)).toBe('Assistant hears you: rate this memory');
    expect(ollama.requests.map((request) => request.body.messages?.at(-1)?.content)).toEqual(['rate this memory', 'how are you?', 'rate this memory']);
    expect(queue.stats()).toMatchObject({ running: 0, queued: 0, preempted: 1 });
  });

  it("keeps a background call's answer that came while the event loop was busy instead of asking again", async () => {
    const queue = new QueuedLlmProvider(new OllamaProvider({ baseUrl: ollama.url, requestTimeoutMs: 5_000 }));
    ollama.setMode('hang');
    const background = collect(queue.chat(asking('rate this memory', 'background'), new AbortController().signal));
    await ollama.waitForRequest(1);
    ollama.setMode('normal');
    ollama.releaseHung();
    // The answer is written (the fake's response flushes on the next tick) and lies unread in the client's
    // socket: no I/O poll runs before the person's chat below takes the slot, as when a turn keeps the loop busy.
    await new Promise<void>((resolve) => process.nextTick(resolve));
    const until = performance.now() + 20;
    while (performance.now() < until); // loopback delivery, without polling the event loop

    const user = await collect(queue.chat(asking('how are you?'), new AbortController().signal));

    expect(textOf(user)).toBe('Assistant hears you: how are you?');
    expect(textOf(await background)).toBe('Assistant hears you: rate this memory');
    expect(ollama.requests.map((request) => request.body.messages?.at(-1)?.content)).toEqual(['rate this memory', 'how are you?']);
    expect(queue.stats()).toMatchObject({ running: 0, queued: 0, preempted: 0 });
  });
});
