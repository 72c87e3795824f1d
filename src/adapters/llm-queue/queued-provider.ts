/**
 * A bounded, first-come-first-served queue in front of one LLM backend (chats people wait for go
 * ahead of background work). Ollama runs one request per
 * model at a time by default and queues the rest internally with no limit we can see; queueing here
 * instead lets us refuse early with a clear `llm_busy`, drop waiters whose client left, and report the
 * queue depth in metrics.
 */
import { AppError } from '../../domain/errors.js';
import type { LlmChatEvent, LlmChatRequest, LlmModel, LlmProvider, LlmStatus } from '../../ports/llm.js';

export interface QueuedLlmProviderOptions {
  /**
   * Chats that may run at once. Defaults to 1: Ollama may serve only one request per model at a time
   * (`OLLAMA_NUM_PARALLEL`), and more would only wait inside Ollama where we cannot see or cancel them.
   */
  concurrency?: number;
  /** Chats that may wait for a slot; one more gets `llm_busy`. Defaults to 16. */
  maxQueued?: number;
}

export interface LlmQueueStats {
  running: number;
  queued: number;
  concurrency: number;
  maxQueued: number;
}

interface Waiter {
  isBackground: boolean;
  grant(): void;
}

export class QueuedLlmProvider implements LlmProvider {
  readonly name: string;
  private readonly concurrency: number;
  private readonly maxQueued: number;
  private running = 0;
  private readonly waiters: Waiter[] = [];

  constructor(
    private readonly inner: LlmProvider,
    options: QueuedLlmProviderOptions = {},
  ) {
    this.name = inner.name;
    this.concurrency = options.concurrency ?? 1;
    this.maxQueued = options.maxQueued ?? 16;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) {
      throw new RangeError(`concurrency must be a whole number of at least 1, got ${this.concurrency}`);
    }
    if (!Number.isInteger(this.maxQueued) || this.maxQueued < 0) {
      throw new RangeError(`maxQueued must be a whole number of at least 0, got ${this.maxQueued}`);
    }
  }

  /**
   * Takes a place in the queue when iteration starts (not when `chat` is called, so an iterable that is
   * never read holds nothing). The slot is released when the stream ends, fails, or the consumer stops.
   * Throws `llm_busy` when the queue is full and `cancelled` when the signal aborts while waiting.
   */
  chat(request: LlmChatRequest, signal: AbortSignal): AsyncIterable<LlmChatEvent> {
    return this.runInSlot(request, signal);
  }

  private async *runInSlot(request: LlmChatRequest, signal: AbortSignal): AsyncGenerator<LlmChatEvent> {
    await this.acquire(signal, request.priority === 'background');
    try {
      yield* this.inner.chat(request, signal);
    } finally {
      this.release();
    }
  }

  listModels(signal?: AbortSignal): Promise<LlmModel[]> {
    return this.inner.listModels(signal);
  }

  status(): Promise<LlmStatus> {
    return this.inner.status();
  }

  /** Passed straight through: a short metadata request, cached by the backend. */
  capabilities(model: string, signal?: AbortSignal): Promise<string[] | null> {
    return this.inner.capabilities?.(model, signal) ?? Promise.resolve(null);
  }

  /**
   * Passed straight through, outside the chat slots: embeddings are short requests, and making a
   * memory search wait behind a long chat would stall the turn that asked for it.
   */
  embed(texts: readonly string[], model: string, signal?: AbortSignal): Promise<number[][]> {
    if (!this.inner.embed) return Promise.reject(new AppError('llm_unavailable', `The ${this.inner.name} backend does not offer embeddings.`));
    return this.inner.embed(texts, model, signal);
  }

  /** A snapshot for metrics and `system.status`. */
  stats(): LlmQueueStats {
    return {
      running: this.running,
      queued: this.waiters.length,
      concurrency: this.concurrency,
      maxQueued: this.maxQueued,
    };
  }

  private acquire(signal: AbortSignal, isBackground: boolean): Promise<void> {
    if (signal.aborted) return Promise.reject(cancelledWhileWaiting());
    if (this.running < this.concurrency && this.waiters.length === 0) {
      this.running++;
      return Promise.resolve();
    }
    if (this.waiters.length >= this.maxQueued) {
      return Promise.reject(
        new AppError(
          'llm_busy',
          `All ${this.concurrency} chat slots are busy and ${this.waiters.length} requests are waiting; try again in a moment.`,
          { data: { concurrency: this.concurrency, queued: this.waiters.length } },
        ),
      );
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.waiters.indexOf(waiter);
        if (index !== -1) this.waiters.splice(index, 1);
        reject(cancelledWhileWaiting());
      };
      const waiter: Waiter = {
        isBackground,
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      // Interactive chats queue FIFO among themselves but ahead of all background work.
      const firstBackground = isBackground ? -1 : this.waiters.findIndex((queued) => queued.isBackground);
      if (firstBackground === -1) this.waiters.push(waiter);
      else this.waiters.splice(firstBackground, 0, waiter);
    });
  }

  private release(): void {
    // Hand the slot straight to the next waiter, so `running` never dips and a newcomer cannot jump the queue.
    const next = this.waiters.shift();
    if (next) next.grant();
    else this.running--;
  }
}

function cancelledWhileWaiting(): AppError {
  return new AppError('cancelled', 'The chat was cancelled while it waited for the model.');
}
