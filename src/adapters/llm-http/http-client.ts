/**
 * HTTP requests to an LLM backend over `node:http`/`node:https` with one keep-alive agent per backend.
 * The global `fetch` made every model call build WHATWG Request/Response objects, a web stream for the
 * body and its abort plumbing: about three times the CPU of the same request here (a chat turn makes
 * four or five model calls: its reply, an embedding, the appraisal, doc2query; issue 15).
 *
 * The answer has the part of fetch's `Response` the adapters use (`ok`, `status`, `text()`, `json()`,
 * the body as chunks), so the error mapping reads both. A failure before any answer is thrown as an
 * `Error` whose `cause` is the socket error (`ECONNREFUSED`, …), as fetch's "fetch failed" is.
 */
import http from 'node:http';
import https from 'node:https';

export interface HttpAnswer {
  ok: boolean;
  status: number;
  statusText: string;
  url: string;
  /** The body as it arrives; read it once (iterate it, or call `text`/`json`). */
  body: AsyncIterable<Uint8Array>;
  text(): Promise<string>;
  /** The body parsed as JSON; rejects when it is not JSON. */
  json(): Promise<unknown>;
}

export interface HttpRequestOptions {
  method?: 'GET' | 'POST';
  /** A JSON text (sent as application/json). */
  body?: string;
  headers?: Record<string, string>;
  /** Aborting it closes the connection, before or during the answer. */
  signal?: AbortSignal;
}

/** Socket errors of a kept-alive connection the backend had closed just before it was reused. */
const STALE_SOCKET = new Set(['ECONNRESET', 'EPIPE']);

export class HttpClient {
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;
  /** The base URL taken apart once: a URL string per request was parsed again on every call. */
  private readonly target: { protocol: string; hostname: string; port: string; basePath: string; auth: string | undefined };

  constructor(private readonly baseUrl: string) {
    this.transport = baseUrl.startsWith('https:') ? https : http;
    const url = new URL(baseUrl);
    this.target = {
      protocol: url.protocol,
      // [::1] → ::1, as http.request wants a bare IPv6 address.
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port,
      basePath: url.pathname.replace(/\/+$/, ''),
      auth: url.username === '' ? undefined : `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`,
    };
    // Idle connections are closed after 4 s here, before a Node server's 5 s keep-alive limit does it mid-reuse.
    this.agent = new this.transport.Agent({ keepAlive: true, timeout: 4_000 });
  }

  /** `path` is appended to the base URL (`/api/chat`). */
  async request(path: string, options: HttpRequestOptions = {}): Promise<HttpAnswer> {
    try {
      return await this.send(path, options);
    } catch (error) {
      // Node's documented pattern: a request on a reused socket the server had just closed is sent again,
      // once, on a fresh connection (the backend never saw it).
      if (!(error instanceof RequestFailed) || !error.isStaleSocket || options.signal?.aborted === true) throw error;
      return this.send(path, options);
    }
  }

  /** Closes the idle connections (the server is shutting down). */
  close(): void {
    this.agent.destroy();
  }

  private send(path: string, options: HttpRequestOptions): Promise<HttpAnswer> {
    const url = `${this.baseUrl}${path}`;
    const headers: Record<string, string | number> = { ...options.headers };
    if (options.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = Buffer.byteLength(options.body);
    }
    return new Promise((resolve, reject) => {
      const { signal } = options;
      if (signal?.aborted === true) return reject(new RequestFailed(url, new Error('aborted before it was sent'), false));
      let answered: http.IncomingMessage | null = null;
      const { protocol, hostname, port, basePath, auth } = this.target;
      const request = this.transport.request(
        { protocol, hostname, port, path: `${basePath}${path}`, auth, method: options.method ?? (options.body === undefined ? 'GET' : 'POST'), headers, agent: this.agent },
        (response) => {
          answered = response;
          resolve(answerOf(url, response));
        },
      );
      request.on('error', (error: NodeJS.ErrnoException) => {
        const code = error.code ?? '';
        reject(new RequestFailed(url, error, request.reusedSocket && STALE_SOCKET.has(code)));
      });
      if (signal !== undefined) {
        // Not http's own `signal` option, and no error handed to destroy: with keep-alive, an abort after the
        // answer had arrived would reach the socket as an 'error' nobody listens to (an uncaught exception).
        // Before the answer the request fails anyway ("socket hang up"); the caller knows it aborted. An
        // answer already received whole (a reader that stopped at Ollama's final line) is read to its end
        // instead, so its connection goes back to the pool rather than being closed.
        const onAbort = (): void => {
          if (answered?.complete === true) answered.resume();
          else request.destroy();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        request.once('close', () => signal.removeEventListener('abort', onAbort));
      }
      request.end(options.body);
    });
  }
}

class RequestFailed extends Error {
  constructor(
    url: string,
    cause: Error,
    readonly isStaleSocket: boolean,
  ) {
    super(`request to ${url} failed: ${cause.message}`, { cause });
    this.name = 'RequestFailed';
  }
}

function answerOf(url: string, response: http.IncomingMessage): HttpAnswer {
  const status = response.statusCode ?? 0;
  // A connection closed mid-answer fails the reader of the body; unread, it must not become an uncaught error.
  response.on('error', () => undefined);
  const text = async (): Promise<string> => {
    const chunks: Buffer[] = [];
    for await (const chunk of response) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: response.statusMessage ?? '',
    url,
    body: response,
    text,
    json: async () => JSON.parse(await text()) as unknown,
  };
}
