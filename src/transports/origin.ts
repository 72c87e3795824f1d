/**
 * Origin checks against cross-site WebSocket hijacking and cross-site HTTP requests: a browser page
 * from another site must not drive a server on the user's machine. Clients that send no Origin
 * (scripts, bots, MCP hosts) are not browsers and pass.
 */
import type { IncomingMessage } from 'node:http';

export function isOriginAllowed(request: IncomingMessage, allowedOrigins: readonly string[]): boolean {
  const origin = request.headers.origin;
  if (origin === undefined || origin === '') return true;
  if (allowedOrigins.includes('*') || allowedOrigins.includes(origin)) return true;
  const host = request.headers.host;
  if (host === undefined) return false;
  try {
    const parsed = new URL(origin);
    return parsed.host === host;
  } catch {
    return false;
  }
}
