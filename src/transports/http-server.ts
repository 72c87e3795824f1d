/**
 * The HTTP listener: health endpoints, then whatever routes other transports add (MCP Streamable HTTP,
 * metrics, the web page). WebSocket upgrades are handed to the upgrade handler. Everything listens on
 * one port.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { APPLICATION_ERRORS } from '../rpc/error-codes.js';
import type { RequestGuard } from './request-guard.js';

/** Returns true when it answered the request. */
export type HttpRoute = (request: IncomingMessage, response: ServerResponse, url: URL) => boolean | Promise<boolean>;
export type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer, url: URL) => void | Promise<void>;

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  response.end(text);
}

export class HttpServer {
  readonly server: Server;
  private readonly routes: HttpRoute[] = [];
  private upgradeHandler: UpgradeHandler | null = null;

  /**
   * @param guard Host allow-list and Origin check, applied to every request and upgrade before any
   *   route sees it (null: none, for tests of other parts only).
   */
  constructor(
    private readonly logger: Logger,
    private readonly guard: RequestGuard | null = null,
  ) {
    this.server = createServer((request, response) => void this.handle(request, response));
    this.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      const verdict = this.guard?.check(request) ?? { ok: true };
      if (!verdict.ok) {
        this.logger.warn({ host: request.headers.host, origin: request.headers.origin, path: url.pathname }, 'refused a WebSocket upgrade (Host/Origin)');
        refuseUpgrade(socket, verdict.status, verdict.message);
        return;
      }
      if (this.upgradeHandler === null) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
        return;
      }
      Promise.resolve(this.upgradeHandler(request, socket, head, url)).catch((error: unknown) => {
        this.logger.error({ err: error }, 'WebSocket upgrade failed');
        if (socket.writable) socket.end('HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\n');
      });
    });
    // A client that sends garbage must not take the server down: answer 400 and drop the socket.
    this.server.on('clientError', (error, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      this.logger.debug({ err: error }, 'HTTP client error');
    });
  }

  addRoute(route: HttpRoute): void {
    this.routes.push(route);
  }

  onUpgrade(handler: UpgradeHandler): void {
    this.upgradeHandler = handler;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const verdict = this.guard?.check(request) ?? { ok: true };
    if (!verdict.ok) {
      this.logger.warn({ host: request.headers.host, origin: request.headers.origin, path: url.pathname }, 'refused an HTTP request (Host/Origin)');
      sendJson(response, verdict.status, { jsonrpc: '2.0', id: null, error: { code: FORBIDDEN_CODE, message: verdict.message } });
      return;
    }
    try {
      for (const route of this.routes) {
        if (await route(request, response, url)) return;
      }
      sendJson(response, 404, { error: `Nothing at ${url.pathname}. The JSON-RPC API is a WebSocket at /mcp; health at /healthz and /readyz.` });
    } catch (error) {
      this.logger.error({ err: error, path: url.pathname }, 'HTTP handler failed');
      if (!response.headersSent) sendJson(response, 500, { error: 'Internal error; it has been logged.' });
      else response.destroy();
    }
  }

  listen(port: number, host: string): Promise<{ port: number; host: string }> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        const address = this.server.address();
        resolve({ port: typeof address === 'object' && address !== null ? address.port : port, host });
      });
    });
  }

  /**
   * Stops accepting at once and resolves when every socket is gone. Idle keep-alive sockets close now;
   * requests still running get `graceMs` to finish, then every socket left is destroyed. Upgraded
   * (WebSocket) sockets are not the HTTP server's to wait for: their transport closes them.
   */
  close(graceMs = 2000): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server.listening) {
        resolve();
        return;
      }
      const timer = setTimeout(() => this.server.closeAllConnections(), graceMs);
      timer.unref();
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      this.server.closeIdleConnections();
    });
  }
}

/** The application error code of `forbidden` (error-codes.ts), for answers given before any route. */
const FORBIDDEN_CODE = APPLICATION_ERRORS.forbidden.code;

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

/** Answers an upgrade request with a plain HTTP error and closes the socket (no WebSocket is made). */
export function refuseUpgrade(socket: Duplex, status: number, message: string, headers: Record<string, string> = {}): void {
  const reason = STATUS_TEXT[status] ?? 'Error';
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(message)}\r\n${extra}Connection: close\r\n\r\n${message}`,
  );
}
