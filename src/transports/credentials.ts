/** Reads an API key from a request: `Authorization: Bearer KEY`, or `?token=KEY` (browsers cannot set headers on WebSockets). */
import type { IncomingMessage } from 'node:http';

export function requestApiKey(request: IncomingMessage, url: URL): string | null {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match?.[1]) return match[1];
  }
  return url.searchParams.get('token');
}
