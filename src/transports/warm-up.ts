/**
 * The start-up warm-up: before the server listens it answers a few thousand read-only requests to itself,
 * in process, the way the WebSocket transport answers a frame (parse the text, check a token bucket,
 * dispatch through the JSON-RPC engine to the handlers, encode the answer's bytes), so that V8 has
 * compiled the request path before the first client arrives. Cold, that path cost a freshly started
 * server 160–290 µs of CPU a request against ~35 warm, and the open loop's first 2 s after start-up a p99
 * of 305 ms against echo's 28.5 (bench/README.md, rounds 7 and 8). `ws` and Node's sockets stay cold:
 * the bare echo server pays for those too.
 *
 * Only methods that change nothing are sent, on a session minted for the purpose (never stored), and the
 * caller keeps them out of the metrics, the request log and the request counters.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import { fullBucket, takeTokens } from '../domain/token-bucket.js';
import { encodeResponse } from '../rpc/shared-results.js';
import { messageCost, parseFrame, type JsonRpcEngine, type JsonRpcResponse } from '../rpc/jsonrpc.js';
import type { JsonRpcId, MethodContext, SessionBinding } from '../rpc/registry.js';

export interface WarmUpOptions {
  engine: JsonRpcEngine;
  logger: Logger;
  /** A fresh session id that is known to have no stored row (`SessionService.begin`). */
  beginSession: () => string;
  /** Persona ids to ask `persona.status` about. */
  personaIds: readonly string[];
  /** Requests to answer in all. */
  requests: number;
  signal: AbortSignal;
}

/** Frames as clients send them: the read-only calls of the open loop, and the common refusals. */
function framesFor(personaIds: readonly string[]): string[] {
  const frames = [`{"jsonrpc":"2.0","id":ID,"method":"persona.list"}`];
  for (const id of personaIds) frames.push(`{"jsonrpc":"2.0","id":ID,"method":"persona.status","params":{"persona_id":${JSON.stringify(id)}}}`);
  frames.push(`{"jsonrpc":"2.0","id":"s-ID","method":"persona.status"}`);
  frames.push(`{"jsonrpc":"2.0","id":ID,"method":"no.such.method"}`);
  frames.push(`{"jsonrpc":"2.0","id":ID,"method":"persona.status","params":{"persona_id":7}}`);
  frames.push(`[{"jsonrpc":"2.0","id":ID,"method":"persona.list"},{"jsonrpc":"2.0","id":"b-ID","method":"persona.list"}]`);
  frames.push(`{"jsonrpc":"2.0","id":ID,"method":`);
  return frames;
}

/** Answers `requests` warm-up requests; resolves with how many were answered and how long it took. */
export async function warmUpRequestPath(options: WarmUpOptions): Promise<{ requests: number; ms: number }> {
  const started = performance.now();
  const session: SessionBinding = { id: options.beginSession(), userId: null, role: 'admin' };
  const createContext = (requestId: JsonRpcId | undefined): MethodContext => ({
    session,
    requestId,
    signal: options.signal,
    transport: 'internal',
    logger: options.logger,
    notify: () => undefined,
    sendPartialResult: () => undefined,
    attachSession: () => undefined,
  });
  const limits = { ratePerSecond: 1_000_000, burst: 1_000_000 };
  const bucket = fullBucket(limits, 0);
  const frames = framesFor(options.personaIds);
  let answered = 0;
  for (let index = 0; index < options.requests && !options.signal.aborted; index += 1) {
    const text = frames[index % frames.length]!.replaceAll('ID', String(index));
    const parsed = parseFrame(text);
    if (!parsed.ok) {
      encodeResponse(parsed.response);
      continue;
    }
    takeTokens(bucket, limits, messageCost(parsed.message), index);
    const reply: JsonRpcResponse | JsonRpcResponse[] | null | Promise<JsonRpcResponse | JsonRpcResponse[] | null> = options.engine.handleParsedNow(parsed.message, createContext);
    const settled = reply instanceof Promise ? await reply : reply;
    if (settled !== null) encodeResponse(settled);
    answered += 1;
  }
  return { requests: answered, ms: performance.now() - started };
}

/**
 * Exchanges `frames` WebSocket frames over loopback between a throw-away `ws` server and client, the
 * server side answering each with a frame of an answer's size: the same `ws` framing code (masked frames
 * in, unmasked out) and Node socket paths every connection of the real server runs, warmed before it
 * listens. Round 7 found a server that had answered 6,000 requests on one connection paid 70–90 ms of CPU
 * for the first requests of 1,000 fresh connections instead of 160–290 (bench/README.md).
 */
export async function warmUpSockets(frames: number, request: string, answer: string): Promise<{ frames: number; ms: number }> {
  const started = performance.now();
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, clientTracking: false });
  await once(server, 'listening');
  server.on('connection', (socket) => socket.on('message', () => socket.send(answer)));
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`, { perMessageDeflate: false });
  try {
    await once(client, 'open');
    // A window of frames in flight, as a busy connection has.
    const window = 256;
    let sent = 0;
    let received = 0;
    await new Promise<void>((resolve) => {
      client.on('message', () => {
        received += 1;
        if (received === frames) resolve();
        else if (sent < frames) {
          client.send(request);
          sent += 1;
        }
      });
      for (; sent < Math.min(window, frames); sent += 1) client.send(request);
    });
    return { frames: received, ms: performance.now() - started };
  } finally {
    client.terminate();
    server.close();
  }
}
