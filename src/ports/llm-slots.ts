/**
 * The run slots of one LLM backend shared by several nodes (Redis): `llm.concurrency` chats run at once
 * and `llm.maxQueued` wait across the deployment, in one order. One node needs none of it: its
 * QueuedLlmProvider keeps the queue in process.
 */
export interface LlmSlotRequest {
  /** Background work (memories, judgements) waits behind every interactive chat. */
  isBackground: boolean;
}

export interface LlmSlotsSnapshot {
  /** Chats running on every node. */
  running: number;
  /** Chats waiting on every node. */
  queued: number;
}

export interface LlmSlots {
  /**
   * Resolves with the function that gives the slot back once one is free. Rejects with `llm_busy` when
   * the shared queue is full, `cancelled` when the signal aborts while waiting, and any other error when
   * the shared queue cannot be reached (the caller then queues on its own node).
   */
  acquire(request: LlmSlotRequest, signal: AbortSignal): Promise<() => void>;
  /** The deployment's queue as last seen. */
  stats(): LlmSlotsSnapshot;
  close(): void;
}
