/**
 * The LLM port: what a chat turn needs from a model backend (Ollama today; OpenAI-compatible servers
 * and the MCP host's own model later). Adapters turn every backend failure into an `AppError` of kind
 * `llm_unavailable`, `model_not_installed`, `llm_timeout`, `llm_busy` or `llm_failed`, with a message
 * that says what to do (start Ollama, `ollama pull MODEL`, ...).
 */
export interface LlmMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
  /**
   * Pictures for a multimodal model, base64 without a `data:` prefix (Ollama `images`; content parts
   * for OpenAI-compatible backends). Only send them to a model that has vision ({@link LlmProvider.capabilities}).
   */
  images?: { mimeType: string; data: string }[];
}

/** A picture for a multimodal model: its type and its bytes in base64 (no `data:` prefix). */
export type LlmImage = NonNullable<LlmMessage['images']>[number];

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
}

export type LlmChatEvent =
  | { type: 'delta'; text: string }
  | { type: 'done'; promptTokens: number | null; completionTokens: number | null; model: string };

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
