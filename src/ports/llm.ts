/**
 * The LLM port: what a chat turn needs from a model backend (Ollama, an OpenAI-compatible server, the MCP
 * host's own model, or the router that picks among several of them). Adapters turn every backend failure into an `AppError` of kind
 * `llm_unavailable`, `model_not_installed`, `llm_timeout`, `llm_busy` or `llm_failed`, with a message
 * that says what to do (start Ollama, `ollama pull MODEL`, ...).
 */
import type { ModelChoice } from '../domain/model-selection.js';

export interface LlmMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
  /**
   * Pictures attached to a user message, base64 without a `data:` prefix (Ollama `images`; content parts
   * for OpenAI-compatible backends). Only send them to a model that has vision ({@link LlmProvider.capabilities}).
   */
  images?: { mimeType: string; data: string }[];
}

/** A picture for a multimodal model: its type and its bytes in base64 (no `data:` prefix). */
export type LlmImage = NonNullable<LlmMessage['images']>[number];

/** What a request is for: background tasks may use smaller models than chat (`llm.tasks`). */
export type LlmTask = 'chat' | 'summary' | 'importance' | 'relationship';

export interface LlmChatRequest {
  model: string;
  messages: LlmMessage[];
  /** Reply length cap in tokens (Ollama `num_predict`). */
  maxTokens: number;
  /** Context window to ask the backend for, in tokens (Ollama `num_ctx`). */
  contextTokens: number;
  /** Sampling options (temperature, top_p, ...), passed through. */
  options?: Record<string, number>;
  /**
   * `background` work (memory ratings, summaries, relationship judgements) waits behind every
   * `interactive` chat a person is waiting for. Defaults to `interactive`.
   */
  priority?: 'interactive' | 'background';
  /** What the request is for; picks the task's model when one is configured. Defaults to `chat`. */
  task?: LlmTask;
  /**
   * `model` was pinned explicitly (a request's `model`): exactly that model answers or the turn fails —
   * no automatic selection, no fall-back. Defaults to false.
   */
  isPinned?: boolean;
  /** Longest acceptable wait for the whole reply; slower-looking models are passed over. */
  latencyBudgetMs?: number;
}

export type LlmChatEvent =
  | { type: 'delta'; text: string }
  | {
      type: 'done';
      promptTokens: number | null;
      completionTokens: number | null;
      model: string;
      /** Which backend answered and why that model was chosen (set by the model router). */
      choice?: ModelChoice;
    };

export interface LlmModel {
  name: string;
  sizeBytes: number | null;
  family: string | null;
  parameterSize: string | null;
  modifiedAt: string | null;
}

export interface LlmStatus {
  /** Whether the backend answered just now. */
  reachable: boolean;
  provider: string;
  endpoint: string;
  /** Why it is not reachable, in words a user can act on. */
  error?: string;
  /** Models the backend has, when reachable. */
  models?: string[];
}

export interface LlmProvider {
  readonly name: string;
  /**
   * Streams one chat completion. Yields text deltas, then exactly one `done` event. The signal aborts
   * the backend request (client gone, cancelled, shut down). Throws an `AppError` on failure.
   */
  chat(request: LlmChatRequest, signal: AbortSignal): AsyncIterable<LlmChatEvent>;
  listModels(signal?: AbortSignal): Promise<LlmModel[]>;
  status(): Promise<LlmStatus>;
  /**
   * Embeds texts with `model` (Ollama `POST /api/embed`), one vector per text in order. Optional: a
   * backend without embeddings leaves it out and memory search uses the offline embedder.
   */
  embed?(texts: readonly string[], model: string, signal?: AbortSignal): Promise<number[][]>;
  /**
   * What `model` can do (Ollama `POST /api/show` `capabilities`: "completion", "vision", "tools", ...),
   * or null when the backend cannot tell. Optional: without it, callers treat the answer as unknown.
   */
  capabilities?(model: string, signal?: AbortSignal): Promise<string[] | null>;
}

/** One backend as `system.models` shows it. */
export interface LlmBackendInfo {
  name: string;
  kind: 'ollama' | 'openai' | 'host';
  endpoint: string;
  isDefault: boolean;
  /** Whether it answered the model listing just now. */
  reachable: boolean;
  /** Why it did not, in words a user can act on. */
  error: string | null;
  models: LlmModel[];
  queue: { running: number; queued: number; concurrency: number; maxQueued: number };
}

/** The configured backends and how model references map onto them (implemented by the model router). */
export interface LlmCatalog {
  /** Every backend's reachability, models and queue; never throws. */
  inventory(signal?: AbortSignal): Promise<LlmBackendInfo[]>;
  /** Reads a model reference (`vllm:qwen2.5-7b-instruct`, or a bare name on the default backend). */
  resolve(reference: string): { backend: string; model: string };
  /** The context window used for a model. */
  contextTokensOf(ref: { backend: string; model: string }): number;
  /** The model reference of each task that has one (`summary`, `importance`, `relationship`, `embeddings`). */
  taskModels(): Record<string, string>;
  /** `llm.fallback`, in order. */
  fallbackChain(): readonly string[];
}
