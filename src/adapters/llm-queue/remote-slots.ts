/**
 * The worker thread's side of the cross-thread slot port: a jobs worker thread's LLM queues lease the
 * main thread's slots through it (`QueuedLlmProvider`'s `leases` option), one MessagePort for every
 * backend. The main thread's side is `serveSlotLeases` (slot-lease-server.ts).
 *
 *   worker → main  { type: 'acquire', id, backend, isBackground, isRequeued, isPreemptible }
 *   main → worker  { type: 'granted', id }  or  { type: 'refused', id, kind, message, data }
 *   main → worker  { type: 'preempted', id }   a chat took the slot: abort the call, release, ask again
 *   worker → main  { type: 'release', id }     the call ended, or it stopped waiting
 *
 * The port keeps the worker alive only while a call waits for its slot. When the port closes (the main
 * thread shut it), waiting calls fail `llm_unavailable`; calls already running finish.
 */
import type { MessagePort } from 'node:worker_threads';
import { AppError, type AppErrorKind } from '../../domain/errors.js';
import type { LlmSlotLeases, SlotLease, SlotLeaseRequest } from '../../ports/llm-slot-leases.js';
import { cancelledWhileWaiting, preemptedForChat } from './queued-provider.js';

export type SlotRequestMessage = ({ type: 'acquire'; backend: string } & SlotLeaseRequest & { id: number }) | { type: 'release'; id: number };

export type SlotReplyMessage =
  | { type: 'granted'; id: number }
  | { type: 'refused'; id: number; kind: AppErrorKind; message: string; data?: Record<string, unknown> | undefined }
  | { type: 'preempted'; id: number };

interface Waiting {
  resolve(lease: SlotLease): void;
  reject(error: AppError): void;
  signal: AbortSignal;
  onAbort(): void;
  onPreempted(reason: AppError): void;
}

interface RemoteLease extends SlotLease {
  isPreempted: boolean;
  onPreempted(reason: AppError): void;
}

export class RemoteSlots {
  private nextId = 0;
  private readonly waiting = new Map<number, Waiting>();
  private readonly held = new Map<number, RemoteLease>();
  private isClosed = false;

  constructor(private readonly port: MessagePort) {
    port.on('message', (message: SlotReplyMessage) => this.answered(message));
    port.on('close', () => this.closed());
    port.unref();
  }

  /** The leases of one backend's slots (by its name in the main thread's router). */
  of(backend: string): LlmSlotLeases {
    return { lease: (request, signal, onPreempted) => this.lease(backend, request, signal, onPreempted) };
  }

  private lease(backend: string, request: SlotLeaseRequest, signal: AbortSignal, onPreempted: (reason: AppError) => void): Promise<SlotLease> {
    if (signal.aborted) return Promise.reject(cancelledWhileWaiting());
    if (this.isClosed) return Promise.reject(threadGone());
    const id = ++this.nextId;
    return new Promise<SlotLease>((resolve, reject) => {
      const onAbort = (): void => {
        this.stopWaiting(id);
        this.post({ type: 'release', id });
        reject(cancelledWhileWaiting());
      };
      signal.addEventListener('abort', onAbort, { once: true });
      if (this.waiting.size === 0) this.port.ref();
      this.waiting.set(id, { resolve, reject, signal, onAbort, onPreempted });
      this.post({ type: 'acquire', id, backend, ...request });
    });
  }

  private answered(message: SlotReplyMessage): void {
    if (message.type === 'preempted') {
      const lease = this.held.get(message.id);
      if (lease === undefined || lease.isPreempted) return; // it ended as the chat came
      lease.isPreempted = true;
      lease.onPreempted(preemptedForChat());
      return;
    }
    const waiter = this.stopWaiting(message.id);
    if (waiter === undefined) return; // it stopped waiting; its release is on the way
    if (message.type === 'refused') {
      waiter.reject(new AppError(message.kind, message.message, message.data === undefined ? {} : { data: message.data }));
      return;
    }
    const id = message.id;
    const lease: RemoteLease = {
      isPreempted: false,
      onPreempted: waiter.onPreempted,
      release: () => {
        // Sent preempted or not: the main thread forgets the lease (giving nothing back when a chat took it).
        if (this.held.delete(id) && !this.isClosed) this.post({ type: 'release', id });
      },
    };
    this.held.set(id, lease);
    waiter.resolve(lease);
  }

  private stopWaiting(id: number): Waiting | undefined {
    const waiter = this.waiting.get(id);
    if (waiter === undefined) return undefined;
    this.waiting.delete(id);
    waiter.signal.removeEventListener('abort', waiter.onAbort);
    if (this.waiting.size === 0) this.port.unref();
    return waiter;
  }

  private closed(): void {
    this.isClosed = true;
    for (const id of [...this.waiting.keys()]) this.stopWaiting(id)!.reject(threadGone());
    this.held.clear();
  }

  private post(message: SlotRequestMessage): void {
    this.port.postMessage(message);
  }
}

function threadGone(): AppError {
  return new AppError('llm_unavailable', "The main thread's LLM queue is gone (shutting down).");
}
