/**
 * Every way a request to Ollama can fail, turned into an `AppError` whose message tells the user what to
 * do next. The texts live here, in one place, so that the CLI, `doctor` and the RPC answers agree.
 */
import { AppError } from '../../domain/errors.js';

import type { LlmTimeout } from '../llm-http/request-scope.js';

/** Which limit a request ran into; see `OllamaProviderOptions` for each one's meaning. */
export type OllamaTimeout = LlmTimeout;

export function ollamaUnreachable(endpoint: string, cause: unknown): AppError {
  const code = causeCode(cause);
  return new AppError(
    'llm_unavailable',
    `Ollama is not reachable at ${endpoint}${code ? ` (${code})` : ''}. ` +
      'Start it with `ollama serve`, or set OLLAMA_HOST to where it runs.',
    { data: { endpoint }, detail: cause },
  );
}

/**
 * The connection was made and the request sent, then closed or reset before any answer: Ollama was
 * reachable, so this is a failed request (a proxy between cutting requests that wait for their first
 * token, or Ollama dropping it), not "start Ollama".
 */
export function ollamaDroppedRequest(endpoint: string, cause: unknown): AppError {
  const code = causeCode(cause);
  return new AppError(
    'llm_failed',
    `Ollama at ${endpoint} closed the connection before answering${code ? ` (${code})` : ''}; the request had been sent. ` +
      'Try again; if it keeps happening, a proxy between may be cutting requests that wait for their first token (raise its read timeout), or check Ollama\'s log.',
    { data: { endpoint }, detail: cause },
  );
}

export function modelNotInstalled(model: string, ollamaText: string): AppError {
  return new AppError(
    'model_not_installed',
    `Model "${model}" is not installed in Ollama. Run \`ollama pull ${model}\`, or choose another model.`,
    { data: { model }, detail: ollamaText },
  );
}

export function ollamaBusy(endpoint: string, status: number, ollamaText: string): AppError {
  return new AppError('llm_busy', `Ollama at ${endpoint} is busy (its request queue is full); try again in a moment.`, {
    data: { endpoint },
    detail: { status, ollamaText },
  });
}

export function ollamaTimedOut(timeout: OllamaTimeout, ms: number): AppError {
  const stage =
    timeout === 'total'
      ? 'the whole reply took too long'
      : 'no reply had started; the model may still be loading or the machine is overloaded';
  return new AppError(
    'llm_timeout',
    `Ollama did not answer within ${formatSeconds(ms)} s (${stage}). Try again, or raise the LLM timeout.`,
    { data: { timeoutMs: ms, stage: timeout } },
  );
}

/** The stream started but did not end with Ollama's final `done` line. */
export function replyBrokeOff(reason: string, detail?: unknown): AppError {
  return new AppError('llm_failed', `The reply from Ollama broke off (${reason}). Try again.`, { detail });
}

export function ollamaFailed(message: string, detail?: unknown): AppError {
  return new AppError('llm_failed', message, { detail });
}

export function chatCancelled(): AppError {
  return new AppError('cancelled', 'The chat was cancelled before the model finished its reply.');
}

/**
 * Maps a non-2xx answer from Ollama. `model` is the model the request named, when it named one: Ollama
 * answers 404 `{"error":"model \"x\" not found, try pulling it first"}` for a model it does not have.
 */
export async function errorFromResponse(response: FailedAnswer, endpoint: string, model?: string): Promise<AppError> {
  const text = await readErrorText(response);
  const path = new URL(response.url || endpoint).pathname;
  if (response.status === 404 && model !== undefined && /model/i.test(text) && /not found/i.test(text)) {
    return modelNotInstalled(model, text);
  }
  if (response.status === 503 || response.status === 429) return ollamaBusy(endpoint, response.status, text);
  if (response.status === 404) {
    // A bare 404 means the route itself is missing: a very old Ollama, or OLLAMA_HOST names another server.
    return ollamaFailed(
      `${endpoint} does not know ${path} (HTTP 404). Update Ollama, or check that OLLAMA_HOST points at Ollama.`,
      text,
    );
  }
  return ollamaFailed(`Ollama failed: ${text || response.statusText} (HTTP ${response.status}).`, {
    status: response.status,
    text,
  });
}

/** What the error mapping reads of a non-2xx answer: fetch's `Response` and `HttpAnswer` (llm-http/http-client.ts) both have it. */
export interface FailedAnswer {
  status: number;
  statusText: string;
  url: string;
  text(): Promise<string>;
}

/** Ollama's `{"error": "..."}` text when the body has one, else the body itself, cut short. */
async function readErrorText(response: FailedAnswer): Promise<string> {
  let body: string;
  try {
    body = await response.text();
  } catch {
    return '';
  }
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed === 'object' && parsed !== null && 'error' in parsed && typeof parsed.error === 'string') {
      return parsed.error;
    }
  } catch {
    // Not JSON (a proxy's HTML page, gin's "404 page not found"): use the text as it is.
  }
  return body.trim().slice(0, 300);
}

/** The system error code under fetch's "fetch failed" or the HTTP client's failure (ECONNREFUSED, ENOTFOUND, ...), when there is one. */
export function causeCode(error: unknown): string | undefined {
  const cause: unknown = error instanceof Error ? error.cause : undefined;
  if (typeof cause === 'object' && cause !== null && 'code' in cause && typeof cause.code === 'string') {
    return cause.code;
  }
  return undefined;
}

/** 120000 → "120", 200 → "0.2". */
function formatSeconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}
