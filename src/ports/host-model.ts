/**
 * The MCP host's model as an LLM backend, as the MCP transport sees it: the transport opens a turn for
 * each tool call (saying whether the client offers its model and, on a retry, what the model answered),
 * runs the call inside it, and learns from an error whether the turn stopped to ask the host's model.
 * `src/adapters/host/host-model.ts` implements it (an `AsyncLocalStorage` carries the turn to the LLM
 * providers across the chat services, which know nothing of MCP).
 */
import type { LlmChatRequest } from './llm.js';

/** The host model's answer to an earlier request for it. */
export interface HostReply {
  text: string;
  /** The model the host says it used. */
  model: string;
}

/** What one MCP request lets the host providers do. */
export interface HostModelTurn {
  /** Whether the client offered its model (the `sampling` capability). */
  readonly canSample: boolean;
  /** The conversation the turn stored its user message in (set by the MCP transport from `messageStored`). */
  conversationId: string | null;
  readonly hasReply: boolean;
}

/** A turn that stopped because it needs the host's model: the prompt to send it. */
export interface HostModelRequest {
  request: LlmChatRequest;
  turn: HostModelTurn;
}

export interface HostModelPort {
  /** Opens the turn of one MCP request; `reply` is the host's answer when this is the retry. */
  begin(canSample: boolean, reply?: HostReply): HostModelTurn;
  /** Runs `work` (the tool call) inside `turn`: the host providers read it from there. */
  run<T>(turn: HostModelTurn, work: () => Promise<T>): Promise<T>;
  /** The turn of the MCP request being served, if any. */
  current(): HostModelTurn | undefined;
  /** The host-model request `error` carries, or null when it is any other error. */
  requestIn(error: unknown): HostModelRequest | null;
}
