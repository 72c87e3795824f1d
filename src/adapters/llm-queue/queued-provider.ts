/**
 * A bounded, first-come-first-served queue in front of one LLM backend (chats people wait for go
 * ahead of background work). Ollama runs one request per
 * model at a time by default and queues the rest internally with no limit we can see; queueing here
 * instead lets us refuse early with a clear `llm_busy`, drop waiters whose client left, and report the
 * queue depth in metrics.
 *
 * Preemption (this node's slots only): when a chat a person waits for finds every slot held and one of
 * them runs background work, the youngest such background call is aborted and its slot handed over at
 * once. The background request is not failed: it goes back to the head of the background waiters and
 * runs again from the start, and because a background call's events are buffered here and handed to its
 * consumer only once its stream has completed (background consumers read whole replies), the re-run is
 * invisible to them. With shared (Redis) slots the deployment-wide slot is not preempted: a node only
 * preempts work holding its own slots.
 */
import { AppError, isAppError } from '../../domain/errors.js';
import type { LlmSlots } from '../../ports/llm-slots.js';
import type { LlmChatEvent, LlmChatRequest, LlmModel, LlmProvider, LlmStatus } from '../../ports/llm.js';

export interface QueuedLlmProviderOptions {
  /**
   * Chats that may run at once. Defaults to 1: Ollama may serve only one request per model at a time
   * (`OLLAMA_NUM_PARALLEL`), and more would only wait inside Ollama where we cannot see or cancel them.
   */
  concurrency?: number;
  /** Chats that may wait for a slot; one more gets `llm_busy`. Defaults to 16. */
  maxQueued?: number;
  /**
   * With several nodes: the slots shared by all of them (Redis), so the limits above hold for the whole
   * deployment. While they cannot be reached, this node queues on its own (and `onSharedFailure` is told).
   */
  shared?: LlmSlots;
  onSharedFailure?: (error: unknown) => void;
}

export interface LlmQueueStats {
  running: number;
  queued: number;
  concurrency: number;
  maxQueued: number;
  /** Background calls aborted so far to give their slot to a chat a person waits for (re-run later). */
  preempted: number;
  /** With several nodes (Redis): the deployment's counts, beside this node's `running` and `queued`. */
  cluster?: { running: number; queued: number };
}

interface Waiter {
  isBackground: boolean;
  grant(): void;
}

/** A background call holding one of this node's slots, which an interactive chat may take from it. */
interface RunningBackground {
  readonly controller: AbortController;
  /** Set when its slot was handed to an interactive chat: it must not release that slot itself. */
  isPreempted: boolean;
  /** Set once it has ended (its reply whole, or failed): a preemption that comes too late then aborts nothing. */
  isDone: boolean;
}

/**
 * A background request preempted this many times runs to completion the next time it gets a slot, so a
 * steady stream of interactive chats can delay background work but never starve it.
 */
export const MAX_PREEMPTIONS = 3;

export class QueuedLlmProvider implements LlmProvider {
  readonly name: string;
  private readonly concurrency: number;
  private readonly maxQueued: number;
  private running = 0;
  private readonly waiters: Waiter[] = [];
  /** Chats of this node running in, and waiting for, shared slots. */
  private sharedRunning = 0;
  private sharedWaiting = 0;
  /** Background calls in local slots that may still be preempted, oldest first. */
  private readonly preemptible: RunningBackground[] = [];
  private preemptedCount = 0;

  constructor(
    private readonly inner: LlmProvider,
    private readonly options: QueuedLlmProviderOptions = {},
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
    const isBackground = request.priority === 'background';
    const shared = this.options.shared === undefined ? null : await this.acquireShared(signal, isBackground);
    if (shared !== null) {
      // Counted here too, so this node's own figures stay true beside the deployment's.
      this.sharedRunning++;
      try {
        yield* this.inner.chat(request, signal);
      } finally {
        this.sharedRunning--;
        shared();
      }
      return;
    }
    if (isBackground) {
      yield* await this.runBackground(request, signal);
      return;
    }
    await this.acquire(signal, false);
    try {
      yield* this.inner.chat(request, signal);
    } finally {
      this.release();
    }
  }

  /**
   * Runs a background chat in a local slot, preemptibly, and returns its whole reply's events. The
   * caller's signal aborting ends it exactly as before (the inner call's error, or `cancelled` while
   * waiting); only an abort by this queue re-runs it.
   */
  private async runBackground(request: LlmChatRequest, signal: AbortSignal): Promise<LlmChatEvent[]> {
    for (let preemptions = 0; ; preemptions++) {
      await this.acquire(signal, true, preemptions > 0);
      const run: RunningBackground = { controller: new AbortController(), isPreempted: false, isDone: false };
      if (preemptions < MAX_PREEMPTIONS) this.preemptible.push(run);
      // The caller's abort is passed on to the run's own signal (AbortSignal.any costs ~10 µs of CPU per call
      // on Node 20 and keeps the combined signal alive until both sources are collected).
      const onCallerAbort = (): void => run.controller.abort(signal.reason);
      signal.addEventListener('abort', onCallerAbort, { once: true });
      if (signal.aborted) onCallerAbort();
      const events: LlmChatEvent[] = [];
      try {
        for await (const event of this.inner.chat(request, run.controller.signal)) events.push(event);
        return events;
      } catch (error) {
        // Only an abort by preemption re-runs the call (one that failed of itself before it came stays failed).
        if (!run.isPreempted || !run.controller.signal.aborted || signal.aborted) throw error;
        // Preempted: the slot already belongs to an interactive chat; queue again and start over.
      } finally {
        run.isDone = true;
        signal.removeEventListener('abort', onCallerAbort);
        const index = this.preemptible.indexOf(run);
        if (index !== -1) this.preemptible.splice(index, 1);
        if (!run.isPreempted) this.release();
      }
    }
  }

  /**
   * Takes the youngest preemptible background call's slot for an interactive chat; false when none. The
   * slot changes hands at once, but the background call is aborted only after the event loop has polled
   * the sockets once more: its whole answer may already wait there unread (the event loop was busy with
   * the person's turn), and then it completes and keeps that answer instead of being thrown away, its
   * connection closed and the call asked again (with an instant model, most preemptions in the chat bench).
   */
  private preemptBackground(): boolean {
    const victim = this.preemptible.pop();
    if (victim === undefined) return false;
    victim.isPreempted = true;
    // An immediate queued now runs before the next poll; the one it queues runs after it.
    setImmediate(() =>
      setImmediate(() => {
        if (victim.isDone) return;
        this.preemptedCount++;
        victim.controller.abort(new AppError('cancelled', 'A chat a person waits for took this background call\'s slot; it runs again shortly.'));
      }),
    );
    return true;
  }

  /** A shared slot, or null when the shared queue cannot be reached (this node then queues alone). */
  private async acquireShared(signal: AbortSignal, isBackground: boolean): Promise<(() => void) | null> {
    if (signal.aborted) throw cancelledWhileWaiting();
    this.sharedWaiting++;
    try {
      return await this.options.shared!.acquire({ isBackground }, signal);
    } catch (error) {
      if (isAppError(error)) throw error;
      this.options.onSharedFailure?.(error);
      return null;
    } finally {
      this.sharedWaiting--;
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
    const stats: LlmQueueStats = {
      running: this.running + this.sharedRunning,
      queued: this.waiters.length + this.sharedWaiting,
      concurrency: this.concurrency,
      maxQueued: this.maxQueued,
      preempted: this.preemptedCount,
    };
    if (this.options.shared !== undefined) stats.cluster = this.options.shared.stats();
    return stats;
  }

  /**
   * `isRequeued`: a preempted background request coming back; it was admitted already, so it is not
   * refused for a full queue, and it goes to the head of the background waiters.
   */
  private acquire(signal: AbortSignal, isBackground: boolean, isRequeued = false): Promise<void> {
    if (signal.aborted) return Promise.reject(cancelledWhileWaiting());
    if (this.running < this.concurrency && this.waiters.length === 0) {
      this.running++;
      return Promise.resolve();
    }
    // Every slot is held: a chat a person waits for takes one from background work at once (`running`
    // is unchanged, the slot changes hands).
    if (!isBackground && this.preemptBackground()) return Promise.resolve();
    if (!isRequeued && this.waiters.length >= this.maxQueued) {
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
      // Interactive chats queue FIFO among themselves but ahead of all background work; a preempted
      // background request goes back ahead of the background work that has not started yet.
      const firstBackground = isBackground && !isRequeued ? -1 : this.waiters.findIndex((queued) => queued.isBackground);
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
