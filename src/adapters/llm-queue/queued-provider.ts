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
 *
 * Leases: the queue also lends its slots to calls it does not make (`lease`): a jobs worker thread's
 * queue is built with `leases` (the main thread's queue, reached by message) and keeps no slots of its
 * own, so the main thread's chats preempt the worker's background calls exactly as their own, and with
 * shared (Redis) slots the worker's calls take the deployment's slots through the main thread's queue.
 */
import { AppError, isAppError } from '../../domain/errors.js';
import type { LlmSlotLeases, SlotLease, SlotLeaseRequest } from '../../ports/llm-slot-leases.js';
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
  /**
   * Slots leased from another queue (a jobs worker thread's calls lease the main thread's): every call
   * runs in one of them, and `concurrency`, `maxQueued` and `shared` are that queue's to apply.
   */
  leases?: LlmSlotLeases;
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

/** A lease on one of this node's slots; a background one an interactive chat may take. */
interface LocalLease extends SlotLease {
  /** Set when its slot was handed to an interactive chat: releasing it then gives nothing back. */
  isPreempted: boolean;
  /** Set once released (its call ended): a preemption that comes too late then aborts nothing. */
  isReleased: boolean;
  readonly onPreempted: (reason: AppError) => void;
}

/**
 * A background request preempted this many times runs to completion the next time it gets a slot, so a
 * steady stream of interactive chats can delay background work but never starve it.
 */
export const MAX_PREEMPTIONS = 3;

export class QueuedLlmProvider implements LlmProvider, LlmSlotLeases {
  readonly name: string;
  private readonly concurrency: number;
  private readonly maxQueued: number;
  private running = 0;
  private readonly waiters: Waiter[] = [];
  /** Chats of this node running in, and waiting for, shared slots. */
  private sharedRunning = 0;
  private sharedWaiting = 0;
  /** Background leases of local slots that may still be preempted, oldest first. */
  private readonly preemptible: LocalLease[] = [];
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
    const leases = this.options.leases ?? this;
    if (request.priority === 'background') {
      yield* await this.runBackground(request, signal, leases);
      return;
    }
    const lease = await leases.lease(INTERACTIVE, signal, ignorePreemption);
    try {
      yield* this.inner.chat(request, signal);
    } finally {
      lease.release();
    }
  }

  /**
   * Runs a background chat in a local slot, preemptibly, and returns its whole reply's events. The
   * caller's signal aborting ends it exactly as before (the inner call's error, or `cancelled` while
   * waiting); only an abort by this queue re-runs it.
   */
  private async runBackground(request: LlmChatRequest, signal: AbortSignal, leases: LlmSlotLeases): Promise<LlmChatEvent[]> {
    for (let preemptions = 0; ; preemptions++) {
      const controller = new AbortController();
      const slot = { isBackground: true, isRequeued: preemptions > 0, isPreemptible: preemptions < MAX_PREEMPTIONS };
      const lease = await leases.lease(slot, signal, (reason) => controller.abort(reason));
      // The caller's abort is passed on to the run's own signal (AbortSignal.any costs ~10 µs of CPU per call
      // on Node 20 and keeps the combined signal alive until both sources are collected).
      const onCallerAbort = (): void => controller.abort(signal.reason);
      signal.addEventListener('abort', onCallerAbort, { once: true });
      if (signal.aborted) onCallerAbort();
      const events: LlmChatEvent[] = [];
      try {
        for await (const event of this.inner.chat(request, controller.signal)) events.push(event);
        return events;
      } catch (error) {
        // Only an abort by preemption re-runs the call (one that failed of itself before it came stays failed).
        if (!lease.isPreempted || !controller.signal.aborted || signal.aborted) throw error;
        // Preempted: the slot already belongs to an interactive chat; queue again and start over.
      } finally {
        signal.removeEventListener('abort', onCallerAbort);
        lease.release();
      }
    }
  }

  /**
   * Waits for a slot for a call made elsewhere (see `LlmSlotLeases`), or by this queue itself: a shared
   * (Redis) slot when the deployment shares them (never preempted), else one of this node's.
   */
  async lease(request: SlotLeaseRequest, signal: AbortSignal, onPreempted: (reason: AppError) => void): Promise<SlotLease> {
    const shared = this.options.shared === undefined ? null : await this.acquireShared(signal, request.isBackground);
    if (shared !== null) return this.holdShared(shared);
    await this.acquire(signal, request.isBackground, request.isRequeued);
    const lease: LocalLease = {
      isPreempted: false,
      isReleased: false,
      onPreempted,
      release: () => {
        if (lease.isReleased) return;
        lease.isReleased = true;
        const index = this.preemptible.indexOf(lease);
        if (index !== -1) this.preemptible.splice(index, 1);
        if (!lease.isPreempted) this.release();
      },
    };
    if (request.isBackground && request.isPreemptible) this.preemptible.push(lease);
    return lease;
  }

  private holdShared(giveBack: () => void): SlotLease {
    // Counted here too, so this node's own figures stay true beside the deployment's.
    this.sharedRunning++;
    let isReleased = false;
    return {
      isPreempted: false,
      release: () => {
        if (isReleased) return;
        isReleased = true;
        this.sharedRunning--;
        giveBack();
      },
    };
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
        if (victim.isReleased) return;
        this.preemptedCount++;
        victim.onPreempted(preemptedForChat());
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

const INTERACTIVE: SlotLeaseRequest = { isBackground: false, isRequeued: false, isPreemptible: false };
/** An interactive chat's slot is never taken from it. */
const ignorePreemption = (): void => {};

/** The abort reason of a background call whose slot a chat took. */
export function preemptedForChat(): AppError {
  return new AppError('cancelled', "A chat a person waits for took this background call's slot; it runs again shortly.");
}

export function cancelledWhileWaiting(): AppError {
  return new AppError('cancelled', 'The chat was cancelled while it waited for the model.');
}
