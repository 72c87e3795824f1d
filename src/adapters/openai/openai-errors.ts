/**
 * Every way a request to an OpenAI-compatible server (llama.cpp, vLLM, LM Studio, LocalAI, a hosted API)
 * can fail, turned into an `AppError` whose message tells the user what to do next. The `openai` client
 * throws its own error classes; they are read here, in one place.
 */
import { APIConnectionError, APIError } from 'openai';
import { AppError } from '../../domain/errors.js';
import type { LlmTimeout } from '../llm-http/request-scope.js';
import { causeCode } from '../ollama/ollama-errors.js';

export function openAiUnreachable(backend: string, endpoint: string, cause: unknown): AppError {
  const code = causeCode(cause) ?? causeCode(cause instanceof Error ? cause.cause : undefined);
  return new AppError(
    'llm_unavailable',
    `The OpenAI-compatible server "${backend}" is not reachable at ${endpoint}${code ? ` (${code})` : ''}. ` +
      'Start it (llama-server, vllm serve, LM Studio\'s server), or set OPENAI_BASE_URL / the backend\'s url to where it runs.',
    { data: { endpoint, backend }, detail: cause },
  );
}

/** The connection was made and the request sent, then closed or reset before any answer (see `ollamaDroppedRequest`). */
export function openAiDroppedRequest(backend: string, endpoint: string, cause: unknown): AppError {
  const code = causeCode(cause);
  return new AppError(
    'llm_failed',
    `The OpenAI-compatible server "${backend}" at ${endpoint} closed the connection before answering${code ? ` (${code})` : ''}; the request had been sent. ` +
      'Try again; if it keeps happening, a proxy between may be cutting requests that wait for their first token (raise its read timeout), or check the server\'s log.',
    { data: { endpoint, backend }, detail: cause },
  );
}

export function openAiTimedOut(backend: string, timeout: LlmTimeout, ms: number): AppError {
  const stage =
    timeout === 'total' ? 'the whole reply took too long' : 'no reply had started; the model may still be loading or the server is overloaded';
  return new AppError(
    'llm_timeout',
    `The OpenAI-compatible server "${backend}" did not answer within ${Math.round(ms / 100) / 10} s (${stage}). Try again, or raise the LLM timeout.`,
    { data: { timeoutMs: ms, stage: timeout, backend } },
  );
}

/** The stream started but did not end with a `finish_reason` (the socket closed, or the server sent an error event). */
export function openAiBrokeOff(backend: string, reason: string, detail?: unknown): AppError {
  return new AppError('llm_failed', `The reply from "${backend}" broke off (${reason}). Try again.`, { detail, data: { backend } });
}

export function openAiCancelled(what: string): AppError {
  return new AppError('cancelled', `${what} was cancelled.`);
}

/**
 * Maps an error the `openai` client threw for a request that got an HTTP answer. `model` is the model the
 * request named, when it named one.
 */
export function errorFromApi(error: APIError, backend: string, endpoint: string, model?: string): AppError {
  const status = error.status ?? 0;
  const text = apiErrorText(error);
  const data = { backend, endpoint, status };
  if (status === 404 && model !== undefined && (error.code === 'model_not_found' || /model/i.test(text))) {
    return new AppError(
      'model_not_installed',
      `Model "${model}" is not served by "${backend}" at ${endpoint}. Load it there (llama-server -m, vllm serve MODEL, ` +
        'LM Studio: load the model), or pick one listed by system.models.',
      { data: { ...data, model }, detail: text },
    );
  }
  if (status === 429 || status === 503) {
    return new AppError('llm_busy', `"${backend}" at ${endpoint} is busy or rate-limited (HTTP ${status}); try again in a moment.`, {
      data: { ...data, retryAfter: error.headers?.get('retry-after') ?? null },
      detail: text,
    });
  }
  if (status === 401 || status === 403) {
    return new AppError(
      'llm_failed',
      `"${backend}" at ${endpoint} refused the API key (HTTP ${status}). Set OPENAI_API_KEY or the backend's apiKey to a valid key.`,
      { data, detail: text },
    );
  }
  if (status === 404) {
    return new AppError(
      'llm_failed',
      `${endpoint} has no OpenAI-compatible API there (HTTP 404). Check that the base URL ends in /v1 (e.g. http://127.0.0.1:8080/v1).`,
      { data, detail: text },
    );
  }
  return new AppError('llm_failed', `"${backend}" failed: ${text || 'no explanation'} (HTTP ${status}).`, { data, detail: text });
}

export function isApiError(error: unknown): error is APIError {
  return error instanceof APIError && !(error instanceof APIConnectionError);
}

export function isConnectionError(error: unknown): boolean {
  return error instanceof APIConnectionError;
}

/** The server's own explanation (`{"error":{"message":...}}`), cut short. */
function apiErrorText(error: APIError): string {
  const body = error.error as { message?: unknown } | undefined;
  const message = typeof body?.message === 'string' ? body.message : error.message;
  return message.slice(0, 300);
}
