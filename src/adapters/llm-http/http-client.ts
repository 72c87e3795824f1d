/**
 * HTTP requests to an LLM backend over undici's `Pool` (kept-alive connections to one origin, as many as
 * requests run at once). The global `fetch` made every model call build WHATWG Request/Response objects,
 * a web stream for the body and its abort plumbing: about three times the CPU of `node:http` with a
 * keep-alive agent (issue 15); undici's own `request`, which `fetch` is built on, costs a fifth less again
 * than `node:http` (bench/README.md, round 7, `npx tsx bench/micro-http.ts`).
 *
 * The answer has the part of fetch's `Response` the adapters use (`ok`, `status`, `text()`, `json()`,
 * the body as chunks), so the error mapping reads both. A failure before any answer is thrown as an
 * `Error` whose `cause` is the socket error (`ECONNREFUSED`, …), as fetch's "fetch failed" is.
 *
 * undici's own limits are switched off (headers, body and connect timeouts): the adapters' `RequestScope`
 * owns every limit of a model call (`llm.timeoutMs`, `llm.firstTokenTimeoutMs`) and names the one that
 * fired; a 300 s headers limit of undici's would otherwise cut a slow model's first token short.
 */
import { Pool } from 'undici';

export interface HttpAnswer {
  ok: boolean;
  status: number;
  statusText: string;
  url: string;
  /** The response headers, names in lower case. */
  headers: Record<string, string | string[] | undefined>;
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
  /** Aborting it closes the connection, before or during the answer; after a whole answer it only drops the body. */
  signal?: AbortSignal;
}

/**
 * How long an idle connection is kept when the backend does not say how long it keeps it. Ollama (Go's
 * net/http) sends no `Keep-Alive` hint and never closes an idle connection; the 4 s kept before (undici's
 * default) made every turn of a person chatting at a person's pace (5–60 s apart) open a new connection
 * (`npx tsx bench/micro-keepalive.ts`, bench/README.md round 14). Five minutes is Ollama's own default for
 * keeping a model loaded: past it the model's load, not a connection, is what the next turn waits for.
 * A backend that sends a hint (a Node server's `Keep-Alive: timeout=5`) is honoured, less undici's 2 s
 * margin. A backend or proxy that closes an idle connection sooner without a hint costs nothing when its
 * close arrives first (the connection is dropped from the pool) and one resend when it crosses a request
 * (`request`'s retry); undici's TCP keep-alive probes (after 60 s idle) keep NAT and load-balancer idle
 * timers from dropping the connection silently (docs/operations.md, "The LLM backend").
 */
const IDLE_WITHOUT_HINT_MS = 5 * 60_000;

/** Socket errors of a connection the backend closed or reset before answering. */
const RESET_BEFORE_ANSWER = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

/**
 * Whether a request failed after its connection was made and the request went out, before any answer: the
 * backend, or a proxy between (one that cuts requests waiting for their first token), closed or reset it.
 * The backend was reachable, so this is a failed request (`llm_failed`), not an unreachable backend
 * (`ECONNREFUSED`, a name that does not resolve, or a listener that resets the connection as it is made).
 */
export function wasDroppedAfterSending(error: unknown): boolean {
  return error instanceof RequestFailed && error.isResetBeforeAnswer;
}

export class HttpClient {
  private readonly pool: Pool;
  /** The base URL's path (`/ollama` behind a proxy), put in front of every request's path. */
  private readonly basePath: string;
  /** Basic credentials from the base URL (`http://user:pass@host`), which undici does not send by itself. */
  private readonly authorization: string | undefined;
  /** Connections made so far: a request that failed without a new one went out on a kept-alive connection. */
  private connectionsMade = 0;

  constructor(private readonly baseUrl: string) {
    const url = new URL(baseUrl);
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.authorization =
      url.username === '' ? undefined : `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    this.pool = new Pool(url.origin, {
      keepAliveTimeout: IDLE_WITHOUT_HINT_MS,
      headersTimeout: 0,
      bodyTimeout: 0,
      connectTimeout: 0,
    });
    this.pool.on('connect', () => this.connectionsMade++);
  }

  /** `path` is appended to the base URL (`/api/chat`). */
  async request(path: string, options: HttpRequestOptions = {}): Promise<HttpAnswer> {
    const connectionsBefore = this.connectionsMade;
    try {
      return await this.send(path, options);
    } catch (error) {
      // Node's documented pattern: a request on a kept-alive connection the backend had just closed (a restart)
      // is sent again, once, on a fresh one; the backend never saw it. A request on a connection made for it
      // is never sent twice (a chat would be answered twice).
      const wasOnKeptConnection = this.connectionsMade === connectionsBefore;
      if (!(error instanceof RequestFailed) || !error.isResetBeforeAnswer || !wasOnKeptConnection || options.signal?.aborted === true) throw error;
      return this.send(path, options);
    }
  }

  /** Closes the connections (the server is shutting down); requests still running fail. */
  close(): void {
    this.pool.destroy().catch(() => undefined);
  }

  private async send(path: string, options: HttpRequestOptions): Promise<HttpAnswer> {
    const url = `${this.baseUrl}${path}`;
    const { signal, body } = options;
    if (signal?.aborted === true) throw new RequestFailed(url, new Error('aborted before it was sent'), false);
    const headers: Record<string, string> = { ...options.headers };
    if (body !== undefined) headers['content-type'] ??= 'application/json';
    if (this.authorization !== undefined) headers['authorization'] ??= this.authorization;
    try {
      const answer = await this.pool.request({
        path: `${this.basePath}${path}`,
        method: options.method ?? (body === undefined ? 'GET' : 'POST'),
        headers,
        body,
        signal,
      });
      // A connection closed mid-answer fails the reader of the body; unread, it must not become an uncaught error.
      answer.body.on('error', ignore);
      const { statusCode, statusText, headers: answerHeaders, body: stream } = answer;
      return {
        ok: statusCode >= 200 && statusCode < 300,
        status: statusCode,
        statusText,
        url,
        headers: answerHeaders,
        body: stream,
        text: () => stream.text(),
        json: () => stream.json(),
      };
    } catch (error) {
      const cause = error instanceof Error ? error : new Error(String(error));
      const { code = '', syscall } = cause as NodeJS.ErrnoException;
      // A reset while connecting (`connect ECONNRESET`: a listener that accepts and resets at once) came before the request went out.
      throw new RequestFailed(url, cause, RESET_BEFORE_ANSWER.has(code) && syscall !== 'connect');
    }
  }
}

function ignore(): void {}

/** Leftovers of an answer read and dropped (`releaseAnswer`) before its connection is closed instead. */
const LEFTOVER_BYTES = 64 * 1024;
const LEFTOVER_MS = 1_000;

/**
 * Lets go of an answer whose reader has what it needs (Ollama's final line) without closing its connection:
 * what is left — normally only the end of the chunked body, which Ollama writes when its handler returns, a
 * moment after the final line — is read and dropped in the background, so the connection goes back to the
 * pool. Aborting instead closed it whenever that end had not arrived yet: against a real Ollama every
 * streamed chat opened a new connection. More than 64 KiB or 1 s of leftovers close it after all.
 * `chunks` is the iterator the reader used (the body's, which is read once).
 */
export function releaseAnswer(chunks: AsyncIterator<Uint8Array>): void {
  let bytes = 0;
  const close = (): void => void chunks.return?.().catch(ignore);
  const timer = setTimeout(close, LEFTOVER_MS);
  const readOn = ({ value, done }: IteratorResult<Uint8Array>): void => {
    if (done === true) return clearTimeout(timer);
    bytes += value.length;
    if (bytes > LEFTOVER_BYTES) {
      clearTimeout(timer);
      return close();
    }
    chunks.next().then(readOn, () => clearTimeout(timer));
  };
  chunks.next().then(readOn, () => clearTimeout(timer));
}

class RequestFailed extends Error {
  constructor(
    url: string,
    cause: Error,
    readonly isResetBeforeAnswer: boolean,
  ) {
    super(`request to ${url} failed: ${cause.message}`, { cause });
    this.name = 'RequestFailed';
  }
}
