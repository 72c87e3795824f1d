/**
 * The jobs thread (`jobs.thread: 'worker'`; docs/operations.md, "What runs where"): the durable job queue's
 * jobs — memory formation, relationship updates, summaries — run in a worker thread with a core of its own
 * (`jobs-thread-entry.ts`) on its own SQLite connection, at the lowest scheduling priority, so their CPU
 * leaves the event loop that answers clients. This thread still enqueues: the rows are committed here, then
 * the worker is woken. It also tells the worker what the worker must follow and cannot read from the jobs'
 * tables: personas created, changed or deleted, live settings changed (`config.set`), bundles imported.
 * The memory and relationship caches of each thread follow the other's writes through the store.
 *
 * The worker is spawned as the main thread starts (`createCore`'s first step): loading its modules in an
 * isolate of its own took seconds on a busy machine (5.3 s at load 20 on two CPUs, `bench/restart-jobs.ts`),
 * after the main thread's whole start, and the jobs a restart took back or a crash's replies re-enqueued
 * waited for it. It loads them beside the main thread's start, and builds its core once `start` says so
 * (the store migrated, the personas seeded).
 *
 * Stopping posts `stop`: the worker's queue stops (bounded by its stop timeout; unfinished jobs go back),
 * its connection closes and it exits; it is terminated after {@link STOP_BOUND_MS}, or at once while it
 * has not said it is ready. A claim names the thread that made it (`adapters/sqlite/claim-owner.ts`), so a
 * process killed outright loses nothing that was committed: the next start takes its claims back.
 */
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import { serveSlotLeases } from '../adapters/llm-queue/slot-lease-server.js';
import type { Config } from '../config/schema.js';
import type { DomainEvent, EventBus } from '../ports/events.js';
import type { JobQueue } from '../ports/jobs.js';
import type { LlmSlotLeases } from '../ports/llm-slot-leases.js';
import { startSourceWorker } from './source-worker.js';

/** How long a stopping worker may take (its queue's stop timeout, 5 s, and closing) before it is terminated. */
export const STOP_BOUND_MS = 8_000;

/** What the jobs thread starts with. */
export interface JobsThreadData {
  config: Config;
  /** The worker's end of the LLM slot port (`RemoteSlots`; this thread serves it with `serveSlotLeases`). */
  slots: MessagePort;
}

/** What the main thread tells the jobs thread. */
export type ToJobsThread =
  /** The main thread's store is ready: the worker builds its core and starts its queue. */
  | { type: 'start' }
  | { type: 'wake' }
  /** A persona or import event of the main thread: the worker re-reads what it names and drops its caches. */
  | { type: 'event'; event: DomainEvent }
  /** `config.set` changed live settings: the worker reads them again from the store. */
  | { type: 'settings' }
  | { type: 'stop' };

/**
 * What the jobs thread tells the main thread: its core is built and its queue runs (`ready`); it committed
 * (its jobs' memories, vectors, relationships).
 */
export type FromJobsThread = { type: 'ready' } | { type: 'committed' };

/** The events whose changes the worker follows (the others are about turns it does not run). */
export function isFollowedByJobsThread(event: DomainEvent): boolean {
  return event.type === 'personaChanged' || event.type === 'stateImported';
}

export class JobsThread {
  private worker: Worker | null;
  private readonly slots = new MessageChannel();
  private isStarted = false;
  private isReady = false;
  private isStopping = false;
  private isWakePosted = false;
  /** Runs when the worker exits unasked; set by `start` (an exit before it is seen there). */
  private onLost: (() => void) | null = null;

  /** Spawns the worker, which loads its modules meanwhile (see the module comment); `start` has it build its core. */
  constructor(
    config: Config,
    private readonly logger: Logger,
    /**
     * The worker committed: this thread's caches follow its writes soon, while the loop is otherwise idle,
     * not inside the next turn's recall (a backlog of a run of jobs there was a 100–200 ms turn).
     */
    private readonly othersCommitted: () => void,
  ) {
    const workerData: JobsThreadData = { config, slots: this.slots.port2 };
    const options = { workerData, transferList: [this.slots.port2] };
    const worker = import.meta.url.endsWith('.ts')
      ? startSourceWorker(new URL('./jobs-thread-entry.ts', import.meta.url), options)
      : new Worker(new URL('./jobs-thread-entry.js', import.meta.url), options);
    // Until `start`, it does not keep the process alive (a start that fails exits without waiting for it).
    worker.unref();
    this.worker = worker;
    worker.on('error', (error) => this.logger.error({ err: error }, 'the jobs thread failed'));
    worker.on('message', (message: FromJobsThread) => {
      if (message.type === 'ready') this.isReady = true;
      else this.othersCommitted();
    });
    worker.on('exit', (code) => {
      this.worker = null;
      if (this.isStopping || !this.isStarted) return;
      this.logger.error({ code }, 'the jobs thread stopped unasked; the jobs run on the main thread from now on');
      this.onLost?.();
    });
  }

  /** `queue` for this thread: enqueues on it wake the worker once their rows are committed. */
  wakingQueue(queue: JobQueue): JobQueue {
    return {
      enqueue: async (type, payload, options) => {
        const id = await queue.enqueue(type, payload, options);
        this.wakeSoon();
        return id;
      },
      register: (type, handler, batching, writing) => queue.register(type, handler, batching, writing),
      start: () => queue.start(),
      stop: () => queue.stop(),
      stats: () => queue.stats(),
      drain: (timeoutMs) => queue.drain(timeoutMs),
      // Used when the jobs run here after all (the worker was lost).
      ...(queue.yieldTo === undefined ? {} : { yieldTo: (isBusy, maxWaitMs) => queue.yieldTo?.(isBusy, maxWaitMs) }),
      ...(queue.giveWay === undefined ? {} : { giveWay: () => queue.giveWay?.() ?? Promise.resolve() }),
    };
  }

  /**
   * Starts the worker. Its model calls lease the slots of this thread's LLM queues (`slotsOf`, by backend
   * name), so a chat here still preempts them. Should it exit without being asked (it failed to start, or
   * crashed), `onLost` runs (the caller starts this thread's own queue, so the jobs still run).
   */
  start(events: EventBus, slotsOf: (backend: string) => LlmSlotLeases | undefined, onLost: () => void): void {
    // The port closes when the worker exits, however it ends: the slots it held or waited for are given back.
    serveSlotLeases(this.slots.port1, slotsOf);
    this.isStarted = true;
    this.onLost = onLost;
    if (this.worker === null) {
      this.logger.error('the jobs thread stopped before it started; the jobs run on the main thread');
      onLost();
      return;
    }
    this.worker.ref();
    this.post({ type: 'start' });
    events.subscribe((event) => {
      if (isFollowedByJobsThread(event)) this.post({ type: 'event', event });
    });
  }

  /** `config.set` changed live settings. */
  settingsChanged(): void {
    this.post({ type: 'settings' });
  }

  async stop(): Promise<void> {
    this.isStopping = true;
    const worker = this.worker;
    if (worker === null) return;
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    if (!this.isReady) {
      // Still building its core (seconds from TypeScript sources, on a loaded machine): a `stop` would wait
      // for the whole start. It holds no job yet, or only claims the next start takes back.
      void worker.terminate();
      await exited;
      return;
    }
    worker.postMessage({ type: 'stop' } satisfies ToJobsThread);
    const bound = setTimeout(() => {
      this.logger.warn(
        { boundMs: STOP_BOUND_MS },
        'the jobs thread did not stop in time: terminated (its unfinished jobs run again at the next start)',
      );
      void worker.terminate();
    }, STOP_BOUND_MS);
    await exited;
    clearTimeout(bound);
  }

  /** One wake for the enqueues of a turn (they resolve together, after their one commit). */
  private wakeSoon(): void {
    if (this.isWakePosted) return;
    this.isWakePosted = true;
    queueMicrotask(() => {
      this.isWakePosted = false;
      this.post({ type: 'wake' });
    });
  }

  /** Nothing before `start` (the worker reads everything as it builds its core, and its queue looks for due jobs as it starts). */
  private post(message: ToJobsThread): void {
    if (this.isStarted && !this.isStopping) this.worker?.postMessage(message);
  }
}
