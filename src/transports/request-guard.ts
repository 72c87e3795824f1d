/**
 * The checks every HTTP request and WebSocket upgrade passes before anything else sees it, against
 * browsers being turned on a server of this machine:
 *
 * - **Host allow-list** (DNS rebinding): a page on `attacker.example` whose name the attacker re-points
 *   at 127.0.0.1 reaches this server with `Host: attacker.example:PORT` — and, as the page and the
 *   server then look like one origin, with a matching `Origin`. Only Host names this server answers to
 *   are accepted: the loopback names, the address it listens on (unless a wildcard), and
 *   `http.allowedHosts`.
 * - **Origin** (cross-site WebSocket hijacking, cross-site requests; the MCP transport's security
 *   guidance): a request carrying an `Origin` must come from the server's own origin — scheme, host and
 *   port: `http://` and the (allowed) `Host`, as the server speaks plain HTTP (`https://` when a trusted
 *   proxy, `http.trustedProxies`, says `X-Forwarded-Proto: https`) — or one listed in
 *   `http.allowedOrigins`. Otherwise 403. Clients that send no Origin (scripts, bots, MCP hosts) are not
 *   browsers and pass.
 */
import type { IncomingMessage } from 'node:http';

export interface RequestGuardOptions {
  /** Host names (or `host:port`) accepted besides the defaults; `"*"` accepts any Host. */
  allowedHosts: readonly string[];
  /** Browser origins accepted besides the server's own; `"*"` accepts any. */
  allowedOrigins: readonly string[];
  /** The interface the server listens on; a specific address is accepted as a Host name too. */
  listenHost: string;
  /** Whether a request comes from a trusted proxy, whose `X-Forwarded-Proto` gives the scheme the browser used. Defaults to none. */
  isFromTrustedProxy?: (request: IncomingMessage) => boolean;
}

export type GuardVerdict = { ok: true } | { ok: false; status: 403; message: string };

/** Names that always mean this machine. Browsers cannot be made to resolve them elsewhere. */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];
const WILDCARD_ADDRESSES = new Set(['0.0.0.0', '::', '']);

export class RequestGuard {
  private readonly anyHost: boolean;
  private readonly anyOrigin: boolean;
  /** Lower-case host names accepted on any port. */
  private readonly hostNames = new Set<string>();
  /** Lower-case `host:port` pairs accepted (entries of `http.allowedHosts` that name a port). */
  private readonly hostPorts = new Set<string>();
  private readonly origins: Set<string>;
  private readonly isFromTrustedProxy: (request: IncomingMessage) => boolean;

  constructor(options: RequestGuardOptions) {
    this.isFromTrustedProxy = options.isFromTrustedProxy ?? (() => false);
    this.anyHost = options.allowedHosts.includes('*');
    this.anyOrigin = options.allowedOrigins.includes('*');
    this.origins = new Set(options.allowedOrigins.map((origin) => origin.replace(/\/+$/, '').toLowerCase()));
    for (const name of LOOPBACK_NAMES) this.hostNames.add(name);
    const listen = stripBrackets(options.listenHost.toLowerCase());
    if (!WILDCARD_ADDRESSES.has(listen)) this.hostNames.add(listen);
    for (const entry of options.allowedHosts) {
      const parsed = splitHost(entry.toLowerCase());
      if (parsed === null) continue;
      if (parsed.port === null) this.hostNames.add(parsed.name);
      else this.hostPorts.add(`${parsed.name}:${parsed.port}`);
    }
  }

  /** Whether the request may go on; when not, the status and a message that says what to change. */
  check(request: IncomingMessage): GuardVerdict {
    const host = request.headers.host;
    if (!this.isHostAllowed(host)) {
      return {
        ok: false,
        status: 403,
        message:
          host === undefined || host === ''
            ? 'Forbidden: the request has no Host header.'
            : `Forbidden: Host "${host}" is not a name of this server (DNS rebinding protection); add it to http.allowedHosts if you reach the server by that name.`,
      };
    }
    if (!this.isOriginAllowed(request, host as string)) {
      return { ok: false, status: 403, message: `Forbidden: pages from origin "${request.headers.origin}" may not connect; add it to http.allowedOrigins.` };
    }
    return { ok: true };
  }

  private isHostAllowed(host: string | undefined): boolean {
    if (this.anyHost) return true;
    if (host === undefined || host === '') return false;
    const parsed = splitHost(host.toLowerCase());
    if (parsed === null) return false;
    if (this.hostNames.has(parsed.name) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(parsed.name)) return true;
    return parsed.port !== null && this.hostPorts.has(`${parsed.name}:${parsed.port}`);
  }

  private isOriginAllowed(request: IncomingMessage, host: string): boolean {
    const { origin } = request.headers;
    if (origin === undefined || origin === '') return true;
    if (this.anyOrigin || this.origins.has(origin.toLowerCase())) return true;
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false; // "null" (sandboxed frames, file://) and anything else unparsable
    }
    // The server's own pages: the scheme they were loaded with, and the host and port of the Host header (already one of ours).
    return url.protocol === this.schemeOf(request) && url.host === host.toLowerCase();
  }

  /** `http:` (the server speaks plain HTTP), or what a trusted proxy that terminates TLS says the browser used. */
  private schemeOf(request: IncomingMessage): string {
    if (!this.isFromTrustedProxy(request)) return 'http:';
    const forwarded = request.headers['x-forwarded-proto'];
    const proto = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim().toLowerCase();
    return proto === 'https' ? 'https:' : 'http:';
  }
}

/** `example.com:8000` → name and port; `[::1]:8000` → `::1` and port; null when malformed. */
function splitHost(host: string): { name: string; port: string | null } | null {
  const bracketed = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/.exec(host);
  if (bracketed) return { name: bracketed[1] as string, port: bracketed[2] ?? null };
  const plain = /^([a-z0-9_.-]+)(?::(\d{1,5}))?$/.exec(host);
  if (plain) return { name: (plain[1] as string).replace(/\.$/, ''), port: plain[2] ?? null };
  // A bare IPv6 address in an allow-list entry.
  if (/^[0-9a-f:]+$/.test(host) && host.includes(':')) return { name: host, port: null };
  return null;
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
