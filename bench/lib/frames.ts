/** The requests the load generator sends, as id-less templates (see FrameTemplate). */
import WebSocket from 'ws';
import type { FrameTemplate } from '../load-worker.js';

export interface BenchMethod {
  method: string;
  params?: Record<string, unknown>;
}

/** `persona.status` names its persona: a fresh connection has no active one. */
export const LIST: BenchMethod = { method: 'persona.list' };
export const STATUS: BenchMethod = { method: 'persona.status', params: { persona_id: 'aria' } };

export function frameOf({ method, params }: BenchMethod): FrameTemplate {
  return {
    prefix: '{"jsonrpc":"2.0","id":',
    suffix: `,"method":${JSON.stringify(method)}${params === undefined ? '' : `,"params":${JSON.stringify(params)}`}}`,
  };
}

/** Calls each method once on a fresh connection and returns the results (the echo server's canned answers). */
export async function fetchResults(url: string, methods: BenchMethod[]): Promise<Record<string, unknown>> {
  const socket = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  const results: Record<string, unknown> = {};
  for (const [index, { method, params }] of methods.entries()) {
    const answer = await new Promise<{ result?: unknown; error?: unknown }>((resolve) => {
      socket.once('message', (data) => resolve(JSON.parse(data.toString()) as { result?: unknown; error?: unknown }));
      socket.send(JSON.stringify({ jsonrpc: '2.0', id: index + 1, method, ...(params ? { params } : {}) }));
    });
    if (answer.error !== undefined) throw new Error(`${method} failed: ${JSON.stringify(answer.error)}`);
    results[method] = answer.result;
  }
  socket.close();
  return results;
}
