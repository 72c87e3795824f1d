/**
 * The HTTP listener: health endpoints, then whatever routes other transports add (MCP Streamable HTTP,
 * metrics, the web page). WebSocket upgrades are handed to the upgrade handler. Everything listens on
 * one port.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';

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

  constructor(private readonly logger: Logger) {
    this.server = createServer((request, response) => void this.handle(request, response));
    this.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      const url = new URL(request.url ?? '/', 'http://localhost');
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

  /** Stops accepting; open keep-alive sockets are closed once idle. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }
}
