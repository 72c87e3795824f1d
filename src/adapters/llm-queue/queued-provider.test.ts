import { describe, expect, it } from 'vitest';
import { AppError } from '../../domain/errors.js';
import type { LlmChatEvent, LlmChatRequest, LlmModel, LlmProvider, LlmStatus } from '../../ports/llm.js';
import { MAX_PREEMPTIONS, QueuedLlmProvider } from './queued-provider.js';

/**
 * A backend whose chats say their name, then wait until the test calls `finish(name)`. The name is the
 * first message's content. A chat named "fail..." throws instead of finishing; a chat whose signal
 * aborts while it waits throws `cancelled` and is listed in `aborted`, as a real backend's request ends.
 */
class GatedProvider implements LlmProvider {
  readonly name = 'gated';
  /** Names of chats, in the order the backend started them. */
  readonly started: string[] = [];
  /** Names of chats whose signal aborted while they ran, in order. */
  readonly aborted: string[] = [];
  private readonly gates = new Map<string, () => void>();
  private readonly onStart: Array<() => void> = [];
  private readonly onAbort: Array<() => void> = [];

  async *chat(request: LlmChatRequest, signal: AbortSignal): AsyncGenerator<LlmChatEvent> {
    const name = request.messages[0]?.content ?? '';
    const gate = new Promise<void>((resolve, reject) => {
      this.gates.set(name, resolve);
      const onAbort = (): void => {
        this.aborted.push(name);
        for (const notify of this.onAbort.splice(0)) setImmediate(notify);
        reject(new AppError('cancelled', `${name} was aborted in the backend`));
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    gate.catch(() => undefined);
    this.started.push(name);
    for (const notify of this.onStart.splice(0)) notify();
    yield { type: 'delta', text: name };
    await gate;
    if (name.startsWith('fail')) throw new AppError('llm_failed', `${name} failed`);
    yield { type: 'done', promptTokens: 1, completionTokens: 1, model: 'm' };
  }

  finish(name: string): void {
    const open = this.gates.get(name);
    if (!open) throw new Error(`${name} is not waiting to finish`);
    open();
  }

  async waitForStarted(count: number): Promise<void> {
    while (this.started.length < count) await new Promise<void>((resolve) => this.onStart.push(resolve));
  }

  /**
   * Resolves once `count` chats have seen their signal abort (a preemption aborts after the next I/O poll)
   * and what the abort set off (a preempted call queueing again) has run.
   */
  async waitForAborted(count: number): Promise<void> {
    while (this.aborted.length < count) await new Promise<void>((resolve) => this.onAbort.push(resolve));
  }

  async listModels(): Promise<LlmModel[]> {
    return [{ name: 'm', sizeBytes: null, family: null, parameterSize: null, modifiedAt: null }];
  }

  async status(): Promise<LlmStatus> {
    return { reachable: true, provider: this.name, endpoint: 'gated://' };
  }
}

const requestNamed = (name: string): LlmChatRequest => ({
  model: 'm',
  messages: [{ role: 'user', content: name }],
  maxTokens: 10,
  contextTokens: 100,
});

/** Starts reading a chat at once (which is when it takes its place in the queue); resolves to its text. */
function consume(queue: LlmProvider, name: string, signal = new AbortController().signal, priority?: 'background'): Promise<string> {
  return (async () => {
    let text = '';
    const request = priority ? { ...requestNamed(name), priority } : requestNamed(name);
    for await (const event of queue.chat(request, signal)) if (event.type === 'delta') text += event.text;
    return text;
  })();
}

async function failureOf(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe('QueuedLlmProvider', () => {
  it('runs at most `concurrency` chats at once and starts the next when one ends', async () => {
    const backend = new GatedProvider();
    const queue = new QueuedLlmProvider(backend, { concurrency: 2 });
    const a = consume(queue, 'a');
    consume(queue, 'b');
    consume(queue, 'c');
    await backend.waitForStarted(2);

    expect(backend.started).toEqual(['a', 'b']);
    expect(queue.stats()).toEqual({ running: 2, queued: 1, concurrency: 2, maxQueued: 16, preempted: 0 });

    backend.finish('a');
    expect(await a).toBe('a');
    await backend.waitForStarted(3);
    expect(backend.started).toEqual(['a', 'b', 'c']);
    expect(queue.stats()).toMatchObject({ running: 2, queued: 0 });
  });

  it('starts waiting chats in the order they arrived', async () => {
    const backend = new GatedProvider();
    const queue = new QueuedLlmProvider(backend);
    const chats = ['a', 'b', 'c', 'd'].map((name) => consume(queue, name));

    for (const [index, name] of ['a', 'b', 'c', 'd'].entries()) {
      await backend.waitForStarted(index + 1);
      backend.finish(name);
      await chats[index];
    }

    expect(backend.started).toEqual(['a', 'b', 'c', 'd']);
    expect(queue.stats()).toMatchObject({ running: 0, queued: 0 });
  });

  it('lets chats people wait for go ahead of queued background work', async () => {
    const backend = new GatedProvider();
    const queue = new QueuedLlmProvider(backend);
    const signal = new AbortController().signal;
    const chats = [consume(queue, 'running'), consume(queue, 'bg1', signal, 'background'), consume(queue, 'bg2', signal, 'background'), consume(queue, 'user1'), consume(queue, 'user2')];
    const order = ['running', 'user1', 'user2', 'bg1', 'bg2'];
    for (const [index, name] of order.entries()) {
      await backend.waitForStarted(index + 1);
      backend.finish(name);
    }
    await Promise.all(chats);
    expect(backend.started).toEqual(order);
  });

  it('gives a running background call\'s slot to a chat a person waits for, and re-runs the background call whole', async () => {
    const backend = new GatedProvider();
    const queue = new QueuedLlmProvider(backend);
    const background = consume(queue, 'bg', new AbortController().signal, 'background');
    await backend.waitForStarted(1);

    const user = consume(queue, 'user');

    // The person's chat starts at once; the background call's own request sees the abort.
    await backend.waitForStarted(2);
    await backend.waitForAborted(1);
    expect(backend.started).toEqual(['bg', 'user']);
    expect(backend.aborted).toEqual(['bg']);
    expect(queue.stats()).toMatchObject({ running: 1, queued: 1, preempted: 1 });
    backend.finish('user');
    expect(await user).toBe('user');

    // The background call runs again from the start, and its caller gets that reply once (the
    // preempted run's first delta was never handed on).
    await backend.waitForStarted(3);
    expect(backend.started).toEqual(['bg', 'user', 'bg']);
    backend.finish('bg');
    expect(await background).toBe('bg');
    expect(queue.stats()).toMatchObject({ running: 0, queued: 0, preempted: 1 });
  });

  it('puts a preempted background call back ahead of background work that has not started', async () => {
    const backend = new GatedProvider();
    const queue = new QueuedLlmProvider(backend);
    const signal = new AbortController().signal;
    const chats = [consume(queue, 'bg1', signal, 'background')];
    await backend.waitForStarted(1);
    chats.push(consume(queue, 'bg2', signal, 'background'), consume(queue, 'user'));
    const order = ['bg1', 'user', 'bg1', 'bg2'];
    for (const [index, name] of order.entries()) {
      await backend.waitForStarted(index + 1);
      // bg1 goes back to the queue once its abort has come (after the next I/O poll).
      if (name === 'user') await backend.waitForAborted(1);
      if (index > 0) backend.finish(name);
    }
    expect(await Promise.all(chats)).toEqual(['bg1', 'bg2', 'user']);
    expect(backend.started).toEqual(order);
  });

  it(`lets a background call preempted ${MAX_PREEMPTIONS} times run to completion the next time`, async () => {
    const backend = new GatedProvider();
    const queue = new QueuedLlmProvider(backend);
    const background = consume(queue, 'bg', new AbortController().signal, 'background');
    const expected = ['bg'];
    await backend.waitForStarted(1);
    for (let round = 1; round <= MAX_PREEMPTIONS; round++) {
      const user = consume(queue, `user${round}`);
      expected.push(`user${round}`, 'bg');
      await backend.waitForStarted(expected.length - 1);
      backend.finish(`user${round}`);
      await user;
      await backend.waitForStarted(expected.length);
    }
    expect(backend.aborted).toEqual(Array(MAX_PREEMPTIONS).fill('bg'));

    // Now the person's chat waits: the background call finishes first and keeps its reply.
    const last = consume(queue, 'last');
    expect(queue.stats()).toMatchObject({ running: 1, queued: 1, preempted: MAX_PREEMPTIONS });
    backend.finish('bg');
    expect(await background).toBe('bg');
    await backend.waitForStarted(expected.length + 1);
    backend.finish('last');
    expect(await last).toBe('last');
    expect(backend.started).toEqual([...expected, 'last']);
    expect(backend.aborted).toHaveLength(MAX_PREEMPTIONS);
  });

  it('never preempts a chat a person waits for, and runs background work only when no person waits', async () => {
    const backend = new GatedProvider();
    const queue = new QueuedLlmProvider(backend);
    const first = consume(queue, 'first');
    await backend.waitForStarted(1);
    const background = consume(queue, 'bg', new AbortController().signal, 'background');
    const second = consume(queue, 'second');
    expect(queue.stats()).toMatchObject({ running: 1, queued: 2, preempted: 0 });
    for (const [index, name] of ['first', 'second', 'bg'].entries()) {
      await backend.waitForStarted(index + 1);
      backend.finish(name);
    }
    expect(await Promise.all([first, second, background])).toEqual(['first', 'second', 'bg']);
    expect(backend.aborted).toEqual([]);
  });

  it('still ends a background call with its own error when its caller aborts, running or re-queued', async () => {
    const backend = new GatedProvider();
    const queue = new QueuedLlmProvider(backend);
    const running = new AbortController();
    const stopped = consume(queue, 'bg', running.signal, 'background');
    await backend.waitForStarted(1);
    running.abort();
    const error = await failureOf(stopped);
    expect(error.kind).toBe('cancelled');
    expect(error.message).toBe('bg was aborted in the backend');
    expect(queue.stats()).toMatchObject({ running: 0, queued: 0 });

    // Preempted, then the caller gives up while it waits to run again: it never starts again.
    const waiting = new AbortController();
    const requeued = consume(queue, 'bg2', waiting.signal, 'background');
    await backend.waitForStarted(2);
    const user = consume(queue, 'user');
    await backend.waitForStarted(3);
    await backend.waitForAborted(2);
    expect(queue.stats()).toMatchObject({ running: 1, queued: 1 });
    waiting.abort();
    const requeuedError = await failureOf(requeued);
    expect(requeuedError.kind).toBe('cancelled');
    expect(requeuedError.message).toBe('The chat was cancelled while it waited for the model.');
    expect(queue.stats()).toMatchObject({ running: 1, queued: 0 });
    backend.finish('user');
    expect(await user).toBe('user');
    expect(backend.started).toEqual(['bg', 'bg2', 'user']);
    expect(queue.stats()).toMatchObject({ running: 0, queued: 0 });
  });

  it('refuses with llm_busy when the queue is full', async () => {
    const queue = new QueuedLlmProvider(new GatedProvider(), { concurrency: 1, maxQueued: 1 });
    consume(queue, 'a');
    consume(queue, 'b');

    const error = await failureOf(consume(queue, 'c'));

    expect(error.kind).toBe('llm_busy');
    expect(error.message).toBe('All 1 chat slots are busy and 1 requests are waiting; try again in a moment.');
    expect(queue.stats()).toMatchObject({ running: 1, queued: 1 });
  });

  it('drops a waiter at once when its signal aborts, and never starts it', async () => {
    const backend = new GatedProvider();
    const queue = new QueuedLlmProvider(backend);
    consume(queue, 'a');
    const controller = new AbortController();
    const b = consume(queue, 'b', controller.signal);
    const c = consume(queue, 'c');
    expect(queue.stats().queued).toBe(2);

    controller.abort();

    expect((await failureOf(b)).kind).toBe('cancelled');
    expect(queue.stats().queued).toBe(1);
    await backend.waitForStarted(1);
    backend.finish('a');
    await backend.waitForStarted(2);
    backend.finish('c');
    expect(await c).toBe('c');
    expect(backend.started).toEqual(['a', 'c']);
  });

  it('refuses a chat whose signal is already aborted without queueing it', async () => {
    const queue = new QueuedLlmProvider(new GatedProvider());

    expect((await failureOf(consume(queue, 'a', AbortSignal.abort()))).kind).toBe('cancelled');
    expect(queue.stats()).toMatchObject({ running: 0, queued: 0 });
  });

  it('releases the slot when the consumer stops reading early', async () => {
    const backend = new GatedProvider();
    const queue = new QueuedLlmProvider(backend);

    for await (const event of queue.chat(requestNamed('a'), new AbortController().signal)) {
      expect(event).toEqual({ type: 'delta', text: 'a' });
      break;
    }

    expect(queue.stats().running).toBe(0);
    const b = consume(queue, 'b');
    await backend.waitForStarted(2);
    backend.finish('b');
    expect(await b).toBe('b');
  });

  it('releases the slot when the chat fails', async () => {
    const backend = new GatedProvider();
    const queue = new QueuedLlmProvider(backend);
    const failing = consume(queue, 'fail-a');
    const b = consume(queue, 'b');
    await backend.waitForStarted(1);

    backend.finish('fail-a');

    expect((await failureOf(failing)).message).toBe('fail-a failed');
    await backend.waitForStarted(2);
    backend.finish('b');
    expect(await b).toBe('b');
    expect(queue.stats()).toMatchObject({ running: 0, queued: 0 });
  });

  it('passes listModels and status through without queueing', async () => {
    const queue = new QueuedLlmProvider(new GatedProvider());
    consume(queue, 'a');

    expect((await queue.listModels()).map((model) => model.name)).toEqual(['m']);
    expect(await queue.status()).toMatchObject({ reachable: true, provider: 'gated' });
    expect(queue.name).toBe('gated');
  });

  it('rejects a concurrency below 1', () => {
    expect(() => new QueuedLlmProvider(new GatedProvider(), { concurrency: 0 })).toThrow(RangeError);
  });
});
