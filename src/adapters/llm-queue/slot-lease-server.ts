/**
 * The main thread's side of the cross-thread slot port (the worker's side and the messages are in
 * remote-slots.ts): each `acquire` from a jobs worker thread becomes a lease on the main thread's own
 * queue of that backend, a background one that a chat preempts exactly as a local background call, and
 * a `preempted` message tells the worker to abort its call.
 *
 * When the port closes (the worker exited, crashed or was terminated, or `close` was called), every
 * lease it held is released and every wait it had is cancelled, so a dead worker holds no slot.
 */
import type { MessagePort } from 'node:worker_threads';
import { AppError, isAppError } from '../../domain/errors.js';
import type { LlmSlotLeases, SlotLease } from '../../ports/llm-slot-leases.js';
import type { SlotReplyMessage, SlotRequestMessage } from './remote-slots.js';

/** One `acquire` of the worker: waiting (no lease yet, its wait cancelled through `controller`) or held. */
interface Leased {
  readonly controller: AbortController;
  lease: SlotLease | null;
}

export interface SlotLeaseServer {
  /** Releases every lease the worker holds, cancels its waits and closes the port (the worker's waits then fail). */
  close(): void;
}

/**
 * Serves a worker's slot requests on `port` from the queues `queueOf` names (the router's backends);
 * a backend it does not know is refused `llm_unavailable`.
 */
export function serveSlotLeases(port: MessagePort, queueOf: (backend: string) => LlmSlotLeases | undefined): SlotLeaseServer {
  const leased = new Map<number, Leased>();
  let isClosed = false;
  const reply = (message: SlotReplyMessage): void => {
    if (!isClosed) port.postMessage(message);
  };

  const acquire = (message: Extract<SlotRequestMessage, { type: 'acquire' }>): void => {
    const { id, backend } = message;
    const queue = queueOf(backend);
    if (queue === undefined) {
      reply({ type: 'refused', id, kind: 'llm_unavailable', message: `No LLM backend named "${backend}" on the main thread.` });
      return;
    }
    const entry: Leased = { controller: new AbortController(), lease: null };
    leased.set(id, entry);
    const request = { isBackground: message.isBackground, isRequeued: message.isRequeued, isPreemptible: message.isPreemptible };
    queue.lease(request, entry.controller.signal, () => reply({ type: 'preempted', id })).then(
      (lease) => {
        // Released while it waited, or the port closed: give the slot straight back.
        if (leased.get(id) !== entry) return lease.release();
        entry.lease = lease;
        reply({ type: 'granted', id });
      },
      (error: unknown) => {
        if (leased.get(id) !== entry) return;
        leased.delete(id);
        const refusal = isAppError(error) ? error : new AppError('llm_unavailable', String(error));
        reply({ type: 'refused', id, kind: refusal.kind, message: refusal.message, data: refusal.data });
      },
    );
  };

  const release = (id: number): void => {
    const entry = leased.get(id);
    if (entry === undefined) return;
    leased.delete(id);
    if (entry.lease !== null) entry.lease.release();
    else entry.controller.abort();
  };

  const close = (): void => {
    if (isClosed) return;
    isClosed = true;
    for (const id of [...leased.keys()]) release(id);
    port.off('message', onMessage);
    port.off('close', close);
    port.close();
  };
  const onMessage = (message: SlotRequestMessage): void => {
    if (isClosed) return;
    if (message.type === 'acquire') acquire(message);
    else release(message.id);
  };

  port.on('message', onMessage);
  port.on('close', close);
  // The server's life is the main thread's: this port must not keep it running.
  port.unref();
  return { close };
}
