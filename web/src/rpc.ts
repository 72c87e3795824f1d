/**
 * The browser's JSON-RPC 2.0 client over the server's WebSocket at `/mcp` — the same API every other
 * client uses. It keeps the session id (and the API key, when the server asks for one) in
 * sessionStorage, so a reload of the tab continues the same session and closing the tab forgets both.
 */

export interface RpcErrorObject {
  code: number;
  message: string;
  data?: { kind?: string; hint?: string; [key: string]: unknown };
}

/** A JSON-RPC error answer, with the server's message and its `data.kind` (e.g. `llm_unavailable`). */
export class RpcError extends Error {
  readonly code: number;
  readonly kind: string | undefined;
  readonly hint: string | undefined;
  constructor(error: RpcErrorObject) {
    super(error.message);
    this.code = error.code;
    this.kind = error.data?.kind;
    this.hint = typeof error.data?.hint === 'string' ? error.data.hint : undefined;
  }
}

export type ConnectionState =
  | { status: 'connecting' }
  | { status: 'open'; sessionId: string }
  | { status: 'closed'; reason: string; needsKey: boolean };

type NotificationHandler = (params: Record<string, unknown>) => void;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  onChunk?: (delta: string) => void;
}

const SESSION_KEY = 'persona-mcp.session';
const API_KEY = 'persona-mcp.api-key';

/** Reconnect delays in ms; the last one repeats. */
const BACKOFF = [500, 1000, 2000, 5000];

export class RpcClient {
  private socket: WebSocket | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly handlers = new Map<string, Set<NotificationHandler>>();
  private readonly stateListeners = new Set<(state: ConnectionState) => void>();
  /** Conversations this tab watches: subscribed again after a reconnect. */
  private readonly subscriptions = new Set<string>();
  private attempt = 0;
  private opened: Promise<void> | null = null;
  state: ConnectionState = { status: 'connecting' };

  constructor(private readonly baseUrl: string = defaultSocketUrl()) {}

  get apiKey(): string | null {
    return sessionStorage.getItem(API_KEY);
  }

  /** Keeps the key for this tab only (sessionStorage), then reconnects with it. */
  setApiKey(key: string): void {
    if (key.trim() === '') sessionStorage.removeItem(API_KEY);
    else sessionStorage.setItem(API_KEY, key.trim());
    // Another key may be another user, who may not attach to this tab's old session.
    sessionStorage.removeItem(SESSION_KEY);
    this.attempt = 0;
    this.socket?.close();
    this.socket = null;
    this.opened = null;
    void this.connect().catch(() => undefined);
  }

  onState(listener: (state: ConnectionState) => void): () => void {
    this.stateListeners.add(listener);
    listener(this.state);
    return () => this.stateListeners.delete(listener);
  }

  private setState(state: ConnectionState): void {
    this.state = state;
    for (const listener of this.stateListeners) listener(state);
  }

  /** Opens the socket (once); later calls wait for the same connection. */
  connect(): Promise<void> {
    this.opened ??= new Promise<void>((resolve, reject) => {
      const url = new URL(this.baseUrl);
      const session = sessionStorage.getItem(SESSION_KEY);
      if (session !== null) url.searchParams.set('session_id', session);
      const key = this.apiKey;
      if (key !== null) url.searchParams.set('token', key);
      this.setState({ status: 'connecting' });
      const socket = new WebSocket(url);
      this.socket = socket;
      let wasOpen = false;
      socket.addEventListener('open', () => {
        wasOpen = true;
        this.attempt = 0;
        void this.afterOpen().then(resolve, reject);
      });
      socket.addEventListener('message', (event) => this.onFrame(String(event.data)));
      socket.addEventListener('close', (event) => {
        if (this.socket !== socket) return;
        this.socket = null;
        this.opened = null;
        for (const [, call] of this.pending) call.reject(new Error('The connection to the server closed; the request may not have finished. Try again.'));
        this.pending.clear();
        void this.explainClose(wasOpen, event).then((state) => {
          this.setState(state);
          if (!wasOpen) reject(new Error(state.status === 'closed' ? state.reason : 'closed'));
          if (state.status === 'closed' && !state.needsKey) this.scheduleReconnect();
        });
      });
    });
    return this.opened;
  }

  private scheduleReconnect(): void {
    const delay = BACKOFF[Math.min(this.attempt, BACKOFF.length - 1)]!;
    this.attempt += 1;
    setTimeout(() => void this.connect().catch(() => undefined), delay);
  }

  /**
   * Browsers hide why a WebSocket upgrade was refused. The health endpoint tells whether the server is
   * up at all; if it is, a refused upgrade on a server that wants keys means the key is missing or wrong.
   */
  private async explainClose(wasOpen: boolean, event: CloseEvent): Promise<ConnectionState> {
    if (wasOpen) return { status: 'closed', reason: event.reason || 'The connection closed; reconnecting…', needsKey: false };
    try {
      const health = await fetch('/healthz', { cache: 'no-store' });
      if (!health.ok) return { status: 'closed', reason: `The server answers ${health.status}; reconnecting…`, needsKey: false };
      return {
        status: 'closed',
        reason:
          this.apiKey === null
            ? 'The server refused the connection: it needs an API key. Create one with `persona-mcp keys create --name NAME` and enter it here.'
            : 'The server refused this API key. Check it, or create a new one with `persona-mcp keys create --name NAME`.',
        needsKey: true,
      };
    } catch {
      return { status: 'closed', reason: 'The server is not reachable. Is `persona-mcp serve` running? Reconnecting…', needsKey: false };
    }
  }

  private async afterOpen(): Promise<void> {
    const info = await this.call<{ session_id: string }>('session.info');
    sessionStorage.setItem(SESSION_KEY, info.session_id);
    for (const conversationId of this.subscriptions) {
      await this.call('conversation.subscribe', { conversation_id: conversationId }).catch(() => this.subscriptions.delete(conversationId));
    }
    this.setState({ status: 'open', sessionId: info.session_id });
  }

  /** Forgets the session: the next connection starts a fresh one. */
  newSession(): void {
    sessionStorage.removeItem(SESSION_KEY);
    this.subscriptions.clear();
    this.socket?.close();
  }

  private onFrame(text: string): void {
    let frame: { id?: number | string | null; method?: string; params?: Record<string, unknown>; result?: unknown; error?: RpcErrorObject };
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.method !== undefined) {
      const params = frame.params ?? {};
      if (frame.method === 'persona.chat.chunk') {
        const call = this.pending.get(Number(params.request_id));
        if (call?.onChunk !== undefined && typeof params.delta === 'string') call.onChunk(params.delta);
        return;
      }
      for (const handler of this.handlers.get(frame.method) ?? []) handler(params);
      return;
    }
    if (typeof frame.id !== 'number') return;
    const call = this.pending.get(frame.id);
    if (call === undefined) return;
    this.pending.delete(frame.id);
    if (frame.error !== undefined) call.reject(new RpcError(frame.error));
    else call.resolve(frame.result);
  }

  /** Calls a method; `onChunk` receives `persona.chat.chunk` deltas of this request (with `stream: true`). */
  async call<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}, onChunk?: (delta: string) => void): Promise<T> {
    if (this.socket === null || this.socket.readyState !== WebSocket.OPEN) {
      if (method !== 'session.info' && method !== 'conversation.subscribe') await this.connect();
    }
    const socket = this.socket;
    if (socket === null || socket.readyState !== WebSocket.OPEN) throw new Error('Not connected to the server.');
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, ...(onChunk ? { onChunk } : {}) });
      socket.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  /** Listens to a notification method (`conversation.turn`, …). Returns the function that stops it. */
  on(method: string, handler: NotificationHandler): () => void {
    const set = this.handlers.get(method) ?? new Set();
    set.add(handler);
    this.handlers.set(method, set);
    return () => set.delete(handler);
  }

  async subscribe(conversationId: string): Promise<{ last_message_id: number; status: string }> {
    this.subscriptions.add(conversationId);
    return this.call('conversation.subscribe', { conversation_id: conversationId });
  }

  async unsubscribe(conversationId: string): Promise<void> {
    this.subscriptions.delete(conversationId);
    await this.call('conversation.unsubscribe', { conversation_id: conversationId }).catch(() => undefined);
  }
}

function defaultSocketUrl(): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/mcp`;
}

/** What to tell a person about a failed call: the server's message, plus what to do for the common kinds. */
export function explainError(error: unknown): { title: string; detail: string } {
  if (error instanceof RpcError) {
    switch (error.kind) {
      case 'llm_unavailable':
        return { title: 'The model server is not reachable', detail: `${error.message} Start it with \`ollama serve\`; your message was kept.` };
      case 'llm_busy':
        return { title: 'The model is busy', detail: `${error.message} Wait a moment and send again; your message was kept.` };
      case 'model_not_installed':
        return { title: 'The model is not installed', detail: error.message };
      case 'llm_timeout':
        return { title: 'The model took too long', detail: `${error.message} Try a shorter question or a smaller model.` };
      case 'rate_limited':
        return { title: 'Too many requests', detail: error.message };
      case 'unauthorized':
        return { title: 'Not allowed', detail: error.message };
      default:
        return { title: 'The server said no', detail: error.hint ? `${error.message} ${error.hint}` : error.message };
    }
  }
  return { title: 'Something went wrong', detail: error instanceof Error ? error.message : String(error) };
}
