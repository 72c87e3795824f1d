/**
 * A small JSON-RPC 2.0 client over WebSocket for the CLI (`chat`, `doctor`) and tests: requests are
 * matched to responses by id, notifications go to handlers. Nothing persona-specific lives here except
 * the routing of notifications that name their request in `params.request_id` (as `persona.chat.chunk`
 * does) to that request's `onNotification`.
 *
 *   const client = await RpcClient.connect('ws://127.0.0.1:8000/mcp');
 *   const info = await client.request<{ session_id: string }>('session.info');
 *   await client.request('persona.chat', { message: 'hi', stream: true }, { onNotification: (n) => ... });
 *   await client.close();
 */
import WebSocket from 'ws';

export type JsonRpcId = string | number;

export interface RpcNotification {
  method: string;
  params: Record<string, unknown>;
}

/** An error response from the server: `code`, `message` and `data` exactly as sent. */
export class RpcError extends Error {
  readonly code: number;
  readonly data: Record<string, unknown> | undefined;

  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
    this.data = typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : undefined;
  }

  /** `error.data.hint`: what the user should do, when the server said. */
  get hint(): string | undefined {
    return typeof this.data?.hint === 'string' ? this.data.hint : undefined;
  }
}

/** The server could not be reached, or the connection ended before the response. */
export class RpcConnectionError extends Error {
  /** The HTTP status when the server answered the upgrade request with one (401: a key is needed). */
  readonly httpStatus: number | undefined;

  constructor(message: string, options?: { cause?: unknown; httpStatus?: number }) {
    super(message, options);
    this.name = 'RpcConnectionError';
    this.httpStatus = options?.httpStatus;
  }
}

export interface RpcClientOptions {
  /** Give up connecting after this long. Defaults to 5000 ms. */
  connectTimeoutMs?: number;
  /** Extra headers for the upgrade request (e.g. `Authorization`). */
  headers?: Record<string, string>;
}

export interface RequestOptions {
  /** Notifications whose `params.request_id` equals this request's id, until the response arrives. */
  onNotification?: (notification: RpcNotification) => void;
  /** Reject when no response arrived within this long. Defaults to no limit (a chat turn may be slow). */
  timeoutMs?: number;
}

interface Pending {
  resolve(result: unknown): void;
  reject(error: Error): void;
  onNotification: ((notification: RpcNotification) => void) | undefined;
  timer: NodeJS.Timeout | undefined;
}

export class RpcClient {
  private readonly pending = new Map<JsonRpcId, Pending>();
  private readonly notificationHandlers = new Set<(notification: RpcNotification) => void>();
  private readonly closeHandlers = new Set<(reason: string) => void>();
  private nextId = 1;
  private isClosing = false;
  /** Resolves once the socket has closed, for whatever reason. */
  readonly closed: Promise<void>;

  private constructor(
    private readonly socket: WebSocket,
    readonly url: string,
  ) {
    socket.on('message', (data) => this.receive(data.toString()));
    this.closed = new Promise((resolve) => {
      socket.on('close', (code, reason) => {
        const why = this.isClosing
          ? 'the connection was closed'
          : `the server closed the connection (${code}${reason.length > 0 ? `: ${reason.toString()}` : ''})`;
        this.failPending(new RpcConnectionError(why));
        if (!this.isClosing) for (const handler of this.closeHandlers) handler(why);
        resolve();
      });
    });
    // After the open, errors are followed by 'close', which does the clean-up; the listener only
    // keeps an 'error' event from being thrown as an uncaught exception.
    socket.on('error', () => undefined);
  }

  /** Opens the connection; rejects with an `RpcConnectionError` when the server cannot be reached. */
  static connect(url: string, options: RpcClientOptions = {}): Promise<RpcClient> {
    return new Promise((resolve, reject) => {
      let socket: WebSocket;
      try {
        socket = new WebSocket(url, { headers: options.headers ?? {}, handshakeTimeout: options.connectTimeoutMs ?? 5000 });
      } catch (error) {
        reject(new RpcConnectionError(`${url} is not a WebSocket URL (${(error as Error).message})`, { cause: error }));
        return;
      }
      const fail = (reason: string, details: { cause?: unknown; httpStatus?: number } = {}): void => {
        socket.removeAllListeners();
        socket.on('error', () => undefined);
        socket.terminate();
        reject(new RpcConnectionError(reason, details));
      };
      socket.once('open', () => {
        socket.removeAllListeners();
        resolve(new RpcClient(socket, url));
      });
      socket.once('error', (error) => fail((error as NodeJS.ErrnoException).code ?? error.message, { cause: error }));
      socket.once('unexpected-response', (_request, response) =>
        fail(`HTTP ${response.statusCode} instead of a WebSocket upgrade`, {
          ...(response.statusCode ? { httpStatus: response.statusCode } : {}),
        }),
      );
    });
  }

  /** Sends a request; resolves with `result`, rejects with `RpcError` or `RpcConnectionError`. */
  request<T = unknown>(method: string, params?: Record<string, unknown>, options: RequestOptions = {}): Promise<T> {
    if (this.socket.readyState !== WebSocket.OPEN) return Promise.reject(new RpcConnectionError('the connection is closed'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.pending.delete(id);
              reject(new RpcConnectionError(`no response to ${method} within ${options.timeoutMs} ms`));
            }, options.timeoutMs);
      this.pending.set(id, { resolve: resolve as (result: unknown) => void, reject, onNotification: options.onNotification, timer });
      this.socket.send(JSON.stringify(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params }));
    });
  }

  /** Calls `handler` for every notification (including those also routed to a request). Returns an unsubscribe function. */
  onNotification(handler: (notification: RpcNotification) => void): () => void {
    this.notificationHandlers.add(handler);
    return () => this.notificationHandlers.delete(handler);
  }

  /** Calls `handler` when the server ends the connection (not after `close()`). */
  onClose(handler: (reason: string) => void): () => void {
    this.closeHandlers.add(handler);
    return () => this.closeHandlers.delete(handler);
  }

  /** Closes the connection; pending requests reject. */
  close(): Promise<void> {
    this.isClosing = true;
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    this.socket.close(1000);
    // A server that never answers the close handshake must not keep the CLI alive.
    const force = setTimeout(() => this.socket.terminate(), 1000);
    return this.closed.finally(() => clearTimeout(force));
  }

  private receive(text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return; // not JSON-RPC; nothing sensible to do with it
    }
    for (const frame of Array.isArray(message) ? message : [message]) this.dispatch(frame);
  }

  private dispatch(frame: unknown): void {
    if (typeof frame !== 'object' || frame === null) return;
    const record = frame as Record<string, unknown>;
    if (typeof record.method === 'string' && !('id' in record)) {
      const params = typeof record.params === 'object' && record.params !== null ? (record.params as Record<string, unknown>) : {};
      const notification = { method: record.method, params };
      const requestId = params.request_id;
      if (typeof requestId === 'string' || typeof requestId === 'number') this.pending.get(requestId)?.onNotification?.(notification);
      for (const handler of this.notificationHandlers) handler(notification);
      return;
    }
    const id = record.id;
    if (typeof id !== 'string' && typeof id !== 'number') return;
    const pending = this.pending.get(id);
    if (pending === undefined) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    const error = record.error as { code?: unknown; message?: unknown; data?: unknown } | undefined;
    if (error !== undefined && error !== null) {
      pending.reject(
        new RpcError(
          typeof error.code === 'number' ? error.code : 0,
          typeof error.message === 'string' ? error.message : 'error',
          error.data,
        ),
      );
    } else {
      pending.resolve(record.result);
    }
  }

  private failPending(error: Error): void {
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    this.pending.clear();
  }
}
