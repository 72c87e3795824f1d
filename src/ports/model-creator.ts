/**
 * Creating a model of its own for a persona in a backend that can (Ollama's `/api/create`). Failures are
 * `AppError`s like the LLM port's (`llm_unavailable`, `model_not_installed` for a missing base model,
 * `llm_failed`).
 */
export interface CreateModelRequest {
  /** Name of the new model, e.g. `aria-persona`. */
  name: string;
  /** Base model (`FROM`). */
  from: string;
  /** System prompt baked into the model (`SYSTEM`). */
  system: string;
  /** Sampling parameters (`PARAMETER`), Ollama names. */
  parameters: Record<string, number>;
  /** Path of a LoRA adapter file or directory on this machine (`ADAPTER`), or null. */
  adapterPath: string | null;
}

export interface ModelCreator {
  /** Where models are created (for messages). */
  readonly endpoint: string;
  /** Creates (or replaces) the model; `onProgress` gets the backend's status lines. */
  create(request: CreateModelRequest, onProgress?: (status: string) => void, signal?: AbortSignal): Promise<void>;
}
