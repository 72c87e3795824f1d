/**
 * A jobs worker thread's background model calls lease the main thread's LLM slots (RemoteSlots ↔
 * serveSlotLeases over a MessagePort): a real `worker_threads` Worker whose Ollama queue leases the slots,
 * the main thread's own queue, and the fake Ollama over HTTP in between.
 */
import { MessageChannel, type Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { QueuedLlmProvider } from '../../src/adapters/llm-queue/queued-provider.js';
import { serveSlotLeases } from '../../src/adapters/llm-queue/slot-lease-server.js';
import { OllamaProvider } from '../../src/adapters/ollama/ollama-provider.js';
import { startSourceWorker } from '../../src/app/source-worker.js';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import type { SlotLeasingWorkerData } from '../fixtures/workers/slot-leasing-worker.js';
import { asking, collect, textOf } from '../helpers/llm-events.js';

/** The worker thread, asked for background calls by message. */
class LeasingWorker {
  private nextId = 0;
  private readonly answers = new Map<number, { resolve(text: string): void; reject(error: Error): void }>();
  readonly thread: Worker;

  constructor(data: SlotLeasingWorkerData) {
    const entry = new URL('../fixtures/workers/slot-leasing-worker.ts', import.meta.url);
    this.thread = startSourceWorker(entry, { workerData: data, transferList: [data.slots] });
    this.thread.on('message', ({ id, text, kind }: { id: number; text?: string; kind?: string }) => {
      const answer = this.answers.get(id)!;
      this.answers.delete(id);
      if (text !== undefined) answer.resolve(text);
      else answer.reject(new Error(`the worker's call failed: ${kind}`));
    });
  }

  /** A background call made in the worker; resolves with its reply's text. */
  ask(question: string): Promise<string> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.answers.set(id, { resolve, reject });
      this.thread.postMessage({ id, question });
    });
  }
}

describe('LLM slots shared with a worker thread', () => {
  let ollama: FakeOllama;
  let main: QueuedLlmProvider;
  let worker: LeasingWorker;

  beforeEach(async () => {
    ollama = await startFakeOllama();
    main = new QueuedLlmProvider(new OllamaProvider({ baseUrl: ollama.url, requestTimeoutMs: 10_000 }));
    const { port1, port2 } = new MessageChannel();
    serveSlotLeases(port1, (backend) => (backend === 'ollama' ? main : undefined));
    worker = new LeasingWorker({ ollamaUrl: ollama.url, slots: port2 });
  });
  afterEach(async () => {
    await worker.thread.terminate();
    await ollama.close();
  });

  it("a chat on the main thread preempts the worker's background call, which runs again and completes", async () => {
    ollama.setMode('hang'); // the worker's call holds the one slot
    const background = worker.ask('rate this memory');
    await ollama.waitForRequest(1);
    ollama.setMode('normal');

    const user = await collect(main.chat(asking('how are you?'), new AbortController().signal));

    expect(textOf(user)).toBe('Assistant hears you: how are you?');
    await ollama.waitForDisconnect(1);
    expect(await background).toBe('Assistant hears you: rate this memory');
    expect(ollama.requests.map((request) => request.body.messages?.at(-1)?.content)).toEqual([
      'rate this memory',
      'how are you?',
      'rate this memory',
    ]);
    expect(main.stats()).toMatchObject({ running: 0, queued: 0, preempted: 1 });
  });

  it("never sends a main-thread call while the worker's call holds the one slot", async () => {
    ollama.setMode('hang');
    const fromWorker = worker.ask('rate this memory');
    await ollama.waitForRequest(1);

    const fromMain = collect(main.chat(asking('summarise this', 'background'), new AbortController().signal));
    await until(() => main.stats().queued === 1);

    expect(main.stats()).toMatchObject({ running: 1, queued: 1 });
    expect(ollama.requests).toHaveLength(1);
    ollama.setMode('normal');
    ollama.releaseHung();
    expect(await fromWorker).toBe('Assistant hears you: rate this memory');
    expect(textOf(await fromMain)).toBe('Assistant hears you: summarise this');
    expect(ollama.requests.map((request) => request.body.messages?.at(-1)?.content)).toEqual(['rate this memory', 'summarise this']);
    expect(main.stats()).toMatchObject({ running: 0, queued: 0 });
  });

  it('frees the slots of a worker that dies, holding one and waiting for another', async () => {
    ollama.setMode('hang');
    void worker.ask('rate this memory').catch(() => {});
    await ollama.waitForRequest(1);
    void worker.ask('summarise this').catch(() => {});
    await until(() => main.stats().queued === 1);

    await worker.thread.terminate();
    await until(() => main.stats().running === 0);

    expect(main.stats()).toMatchObject({ running: 0, queued: 0 });
    ollama.setMode('normal');
    const after = await collect(main.chat(asking('still there?', 'background'), new AbortController().signal));
    expect(textOf(after)).toBe('Assistant hears you: still there?');
  });
});

/** Polls `condition` once per turn of the event loop (the worker's messages arrive between turns). */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}
