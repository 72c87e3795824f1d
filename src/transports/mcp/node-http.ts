/**
 * The SDK's HTTP entries speak web-standard `Request`/`Response`; our listener is `node:http`. These two
 * functions convert at the edge, streaming both ways (SSE responses are written as they are produced).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';

/**
 * A `Request` for `request`, whose signal aborts when the client goes away before the response has been
 * written (the SDK then cancels the request's handler: a chat turn stops generating).
 */
export function toWebRequest(request: IncomingMessage, response: ServerResponse, url: URL): Request {
  const disconnected = new AbortController();
  response.once('close', () => {
    if (!response.writableFinished) disconnected.abort(new Error('client disconnected'));
  });
  const headers = new Headers();
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD';
  const init: RequestInit & { duplex?: 'half' } = {
    method: request.method ?? 'GET',
    headers,
    signal: disconnected.signal,
    ...(hasBody ? { body: Readable.toWeb(request) as ReadableStream<Uint8Array>, duplex: 'half' } : {}),
  };
  return new Request(new URL(url.pathname + url.search, `http://${request.headers.host ?? 'localhost'}`), init);
}

/** Bounds on a streamed response (SSE) to a client that may stop reading. */
export interface StreamLimits {
  /** Bytes that may wait to be written to the client; beyond, the stream is closed. Defaults to 8 MiB. */
  maxQueuedBytes: number;
  /**
   * SSE streams get a comment line this often, so a vanished client is noticed; a stream whose previous
   * writes are still unsent two beats later is closed. Defaults to 30 s.
   */
  heartbeatMs: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = { maxQueuedBytes: 8 * 1024 * 1024, heartbeatMs: 30_000 };

/**
 * Writes `webResponse` to `response`, streaming its body until it ends or the client goes away. A
 * client that stops reading cannot make the server hold its stream in memory: past
 * `limits.maxQueuedBytes` unsent, or stalled over two heartbeats, the response is destroyed.
 */
export async function sendWebResponse(response: ServerResponse, webResponse: Response, limits: StreamLimits = DEFAULT_STREAM_LIMITS): Promise<void> {
  const headers: Record<string, string> = {};
  webResponse.headers.forEach((value, name) => {
    headers[name] = value;
  });
  response.writeHead(webResponse.status, headers);
  if (webResponse.body === null) {
    response.end();
    return;
  }
  // SSE: the client must see the headers (and each event) at once, not when a buffer fills.
  response.flushHeaders();
  const reader = webResponse.body.getReader();
  response.once('close', () => void reader.cancel().catch(() => undefined));
  const isEventStream = (headers['content-type'] ?? '').startsWith('text/event-stream');
  // Heartbeat comments go only between events, never inside one.
  let isBetweenEvents = true;
  let stalledBeats = 0;
  const heartbeat = isEventStream
    ? setInterval(() => {
        if (response.writableLength > 0) {
          stalledBeats += 1;
          if (stalledBeats >= 2) response.destroy();
          return;
        }
        stalledBeats = 0;
        if (isBetweenEvents && !response.writableEnded) response.write(': keep-alive\n\n');
      }, limits.heartbeatMs)
    : null;
  heartbeat?.unref();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (response.writableEnded || response.destroyed) break;
      if (response.writableLength > limits.maxQueuedBytes) {
        // The client does not read what it asked for: drop it rather than hold its stream in memory.
        response.destroy();
        break;
      }
      response.write(value);
      isBetweenEvents = endsEvent(value);
    }
  } catch {
    // The body failed or was cancelled because the client left; there is nobody to tell.
  } finally {
    if (heartbeat !== null) clearInterval(heartbeat);
    if (!response.writableEnded && !response.destroyed) response.end();
    void reader.cancel().catch(() => undefined);
  }
}

/** Whether a chunk of an event stream ends at an event boundary (a blank line). */
function endsEvent(chunk: Uint8Array): boolean {
  const length = chunk.length;
  return length >= 2 && chunk[length - 1] === 0x0a && (chunk[length - 2] === 0x0a || (length >= 3 && chunk[length - 2] === 0x0d && chunk[length - 3] === 0x0a));
}
