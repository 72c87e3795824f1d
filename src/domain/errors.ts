/**
 * Errors are values: every failure a user can meet has a kind, a message that says what to do next,
 * and optional detail for the log. The JSON-RPC code for each kind lives in one table
 * (`src/rpc/error-codes.ts`); nothing else decides how an error looks on the wire.
 */
export type AppErrorKind =
  | 'persona_not_found'
  | 'no_active_persona'
  | 'conversation_not_found'
  | 'session_not_found'
  | 'llm_unavailable'
  | 'model_not_installed'
  | 'llm_timeout'
  | 'llm_busy'
  | 'llm_failed'
  | 'request_too_large'
  | 'rate_limited'
  | 'limit_exceeded'
  | 'unauthorized'
  | 'forbidden'
  | 'conflict'
  | 'cancelled'
  | 'storage_error'
  | 'memory_not_found'
  | 'invalid_bundle'
  | 'invalid_media'
  | 'model_cannot_see';

export class AppError extends Error {
  readonly kind: AppErrorKind;
  /** Extra fields sent to the client in `error.data` (never stack traces). */
  readonly data: Record<string, unknown> | undefined;
  /** Detail for the log only. */
  readonly detail: unknown;

  constructor(kind: AppErrorKind, message: string, options: { data?: Record<string, unknown>; detail?: unknown } = {}) {
    super(message);
    this.name = 'AppError';
    this.kind = kind;
    this.data = options.data;
    this.detail = options.detail;
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}
