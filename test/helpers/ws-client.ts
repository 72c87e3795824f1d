/**
 * A small JSON-RPC WebSocket client for tests: frames are queued in arrival order so a test can assert
 * exactly what reached the wire (and that nothing else did).
 */
import WebSocket from 'ws';

export type Frame = Record<string, unknown> & { id?: unknown; result?: unknown; error?: { code: number; message: string; data?: Record<string, unknown> } };

export class TestClient {
  readonly frames: unknown[] = [];
  private waiters: Array<(frame: unknown) => void> = [];
  private nextId = 1;
  closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const frame: unknown = JSON.parse(data.toString());
      const waiter = this.waiters.shift();
      if (waiter) waiter(frame);
      else this.frames.push(frame);
    });
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static connect(url: string, options: WebSocket.ClientOptions = {}): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, options);
      socket.once('open', () => resolve(new TestClient(socket)));
      socket.once('error', reject);
      socket.once('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
    });
  }

  /** The next frame from the server, in order. */
  next(timeoutMs = 5000): Promise<any> {
    const queued = this.frames.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== onFrame);
        reject(new Error(`no frame within ${timeoutMs} ms`));
      }, timeoutMs);
      const onFrame = (frame: unknown): void => {
        clearTimeout(timer);
        resolve(frame);
      };
      this.waiters.push(onFrame);
    });
  }

  sendRaw(text: string | Buffer): void {
    this.socket.send(text);
  }

  send(message: unknown): void {
    this.socket.send(JSON.stringify(message));
  }

  /** Sends a request and returns the next frame (as old clients do), asserting it answers this id. */
  async call(method: string, params?: unknown): Promise<any> {
    const id = this.nextId++;
    this.send(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params });
    const frame = await this.next();
    if (frame.id !== id) throw new Error(`expected the response to id ${id}, got ${JSON.stringify(frame)}`);
    return frame;
  }

  /** `call`, returning `result` and failing on an error response. */
  async result(method: string, params?: unknown): Promise<any> {
    const frame = await this.call(method, params);
    if (frame.error) throw new Error(`${method} failed: ${JSON.stringify(frame.error)}`);
    return frame.result;
  }

  /** Resolves true when no frame arrives within `ms` (used to prove nothing unsolicited was sent). */
  async quietFor(ms: number): Promise<boolean> {
    if (this.frames.length > 0) return false;
    return new Promise((resolve) => {
      const onFrame = (frame: unknown): void => {
        this.frames.unshift(frame);
        resolve(false);
      };
      this.waiters.push(onFrame);
      setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== onFrame);
        resolve(true);
      }, ms);
    });
  }

  close(): Promise<{ code: number; reason: string }> {
    this.socket.close();
    return this.closed;
  }
}

/**
 * Tries a WebSocket upgrade and reports the HTTP answer when it is refused (status, headers, body), or
 * status 101 when it was accepted (the socket is then closed at once).
 */
export function upgradeStatus(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    socket.once('open', () => {
      socket.close();
      resolve({ status: 101, headers: {}, body: '' });
    });
    socket.once('unexpected-response', (_request, response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    socket.once('error', (error) => {
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}
