/**
 * The lifetime of one HTTP request to an LLM backend (Ollama, an OpenAI-compatible server): an
 * AbortController fed by the caller's signal and by named timers, which remembers what stopped the
 * request first so that the error can say why.
 */

import type { AppError } from '../../domain/errors.js';
import { wasDroppedAfterSending } from './http-client.js';

/** Which limit a request ran into: until response headers, until the first token, or the whole reply. */
export type LlmTimeout = 'headers' | 'first-token' | 'total';

/** What stopped a request: the caller (client gone, cancelled, shutdown) or one of its limits. */
export type StopCause = { by: 'caller' } | { by: 'timeout'; timeout: LlmTimeout; ms: number };

/**
 * The reason a disposed request's scope aborts with (closing a still-open socket): one shared error, as
 * nobody reports it, instead of a new one and its stack trace per request.
 */
const REQUEST_FINISHED = new Error('request finished');

/**
 * Create one per attempt; call `finish` once the answer has been read whole, and always `dispose` (in a
 * `finally`), which closes a socket still open unless the request had finished.
 */
export class RequestScope {
  private readonly controller = new AbortController();
  private readonly timers = new Map<LlmTimeout, NodeJS.Timeout>();
  private stoppedBy: StopCause | undefined;
  private isFinished = false;
  private readonly onCallerAbort = (): void => this.stop({ by: 'caller' }, this.callerSignal?.reason);

  constructor(private readonly callerSignal: AbortSignal | undefined) {
    callerSignal?.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** What stopped the request first, if anything did before `dispose`. */
  get stopCause(): StopCause | undefined {
    return this.stoppedBy;
  }

  startTimer(name: LlmTimeout, ms: number): void {
    const timer = setTimeout(
      () => this.stop({ by: 'timeout', timeout: name, ms }, new Error(`${name} limit of ${ms} ms`)),
      ms,
    );
    this.timers.set(name, timer);
  }

  stopTimer(name: LlmTimeout): void {
    clearTimeout(this.timers.get(name));
    this.timers.delete(name);
  }

  private stop(cause: StopCause, reason: unknown): void {
    this.stoppedBy ??= cause;
    this.controller.abort(reason);
  }

  /**
   * The answer was read whole (or as far as the reader needs, see `releaseAnswer`): the limits stop and the
   * caller's signal is let go, without aborting. An abort then would only close a connection that can be
   * kept, and costs ~10 µs of CPU on Node 20 even with nobody listening (issue 15).
   */
  finish(): void {
    if (this.isFinished) return;
    this.isFinished = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.callerSignal?.removeEventListener('abort', this.onCallerAbort);
  }

  /** Ends the scope: after `finish`, nothing more; otherwise the request is aborted (closing its socket). */
  dispose(): void {
    if (this.isFinished) return;
    this.finish();
    this.controller.abort(REQUEST_FINISHED);
  }
}

export interface IdempotentRequestOptions {
  /** The caller's signal (client gone, shutdown). */
  signal: AbortSignal | undefined;
  timeoutMs: number;
  /** How many tries in all; only a connection error (unreachable, or dropped before any answer) is tried again. */
  attempts: number;
  /** The error for a request the caller cancelled. */
  cancelled: () => AppError;
  /** Names a failure, knowing what stopped the scope and whether a response had started. */
  explain: (error: unknown, scope: RequestScope, hasResponse: boolean) => AppError;
  onRetry?: (attempt: number) => void;
}

/**
 * Runs a request that changes nothing on the backend (a model list, an embedding) in a fresh scope per
 * attempt, retrying on a connection error: safe because a second identical request has no other effect.
 * `send` calls `responded()` once the backend has answered, so a later failure is not taken for "down".
 */
export async function sendIdempotent<T>(options: IdempotentRequestOptions, send: (scope: RequestScope, responded: () => void) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted) throw options.cancelled();
    const scope = new RequestScope(options.signal);
    scope.startTimer('total', options.timeoutMs);
    let hasResponse = false;
    try {
      const result = await send(scope, () => {
        hasResponse = true;
      });
      // `send` returns once it has read the whole answer (a model list, vectors): nothing left to close.
      scope.finish();
      return result;
    } catch (error) {
      const appError = options.explain(error, scope, hasResponse);
      const isConnectionError = appError.kind === 'llm_unavailable' || (!hasResponse && wasDroppedAfterSending(error));
      if (!isConnectionError || attempt >= options.attempts) throw appError;
      options.onRetry?.(attempt);
    } finally {
      scope.dispose();
    }
  }
}
