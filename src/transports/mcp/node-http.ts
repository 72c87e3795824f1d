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

/** Writes `webResponse` to `response`, streaming its body until it ends or the client goes away. */
export async function sendWebResponse(response: ServerResponse, webResponse: Response): Promise<void> {
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
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!response.writableEnded) response.write(value);
    }
  } catch {
    // The body failed or was cancelled because the client left; there is nobody to tell.
  } finally {
    if (!response.writableEnded) response.end();
  }
}
