/**
 * Slot leases of one LLM backend's queue, for calls the queue does not make itself. A jobs worker thread's
 * background calls lease the main thread's slots (by message), so one queue orders every call to the
 * backend, Ollama's one slot is never given to two calls, and a chat a person waits for still preempts
 * background work wherever it runs.
 */
import type { AppError } from '../domain/errors.js';

export interface SlotLeaseRequest {
  /** Background work (memories, judgements) waits behind every interactive chat, and a chat may take its slot. */
  isBackground: boolean;
  /**
   * A preempted background call coming back: it was admitted already, so it is not refused for a full
   * queue, and it goes ahead of the background work that has not started yet.
   */
  isRequeued: boolean;
  /** Whether a chat may take this slot: a background call preempted often enough runs to its end (no starving). */
  isPreemptible: boolean;
}

export interface SlotLease {
  /** Gives the slot back. Call it once the call has ended, preempted or not; a second call does nothing. */
  release(): void;
  /** Set when a chat took this slot: it belongs to that chat now, and `release` only forgets the lease. */
  readonly isPreempted: boolean;
}

export interface LlmSlotLeases {
  /**
   * Resolves once a slot is held. `onPreempted` is called at most once, when a chat a person waits for
   * takes the slot: the holder aborts its call with that error and runs it again under a new lease.
   * Rejects with `llm_busy` when the queue is full, `cancelled` when the signal aborts while waiting, and
   * `llm_unavailable` when the queue cannot be reached (its thread has gone).
   */
  lease(request: SlotLeaseRequest, signal: AbortSignal, onPreempted: (reason: AppError) => void): Promise<SlotLease>;
}
