/**
 * The request log: one line per finished request at `info` — method, outcome, error code, time, user
 * and session — so an operator can follow traffic and failures without turning on `debug`. Params
 * (which carry the user's message text) are added only at `debug`.
 */
import type { Logger } from 'pino';
import type { RequestOutcome } from './jsonrpc.js';

export { causeOf } from '../logger.js';

/** Where a request came in; one field in every line. */
export type RequestTransport = 'websocket' | 'mcp' | 'openai';

export function logRequest(logger: Logger, transport: RequestTransport, outcome: RequestOutcome): void {
  if (!logger.isLevelEnabled('info')) return;
  const line: Record<string, unknown> = {
    transport,
    method: outcome.method,
    outcome: outcome.outcome,
    ms: Math.round(outcome.durationMs * 100) / 100,
    user: outcome.session?.userId ?? null,
    session: outcome.session?.id,
  };
  if (outcome.requestId !== undefined) line.requestId = outcome.requestId;
  if (outcome.code !== null) {
    line.code = outcome.code;
    line.error = outcome.error;
  }
  if (outcome.params !== undefined && logger.isLevelEnabled('debug')) line.params = outcome.params;
  logger.info(line, 'request');
}
