/**
 * The web app and the files it shows, over plain HTTP on the server's one port:
 * - `/` and the built app's files (`dist/web`, made by `npm run build` at install), under a strict
 *   Content-Security-Policy: scripts, styles and fonts only from this server, no inline script;
 * - `/media/ID` and `/media/ID/thumbnail`: stored attachments, avatars and scene pictures, served with
 *   the type read from their content, `nosniff` and a sandboxing CSP, so nothing uploaded can run;
 * - `/avatars/ID.svg`: generated avatars (drawn by the server, never from user input).
 * The app talks to the server only over the JSON-RPC WebSocket at `/mcp`, like every other client.
 */
import { readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HttpRoute } from './http-server.js';

export interface WebAppDeps {
  /** The built app; defaults to `dist/web` of this package. */
  directory?: string;
  readMedia(id: string, variant: 'original' | 'thumbnail'): Promise<{ mimeType: string; data: Buffer } | null>;
  /** The generated avatar of a persona id, or null when there is no such persona. */
  avatarSvg(personaId: string): string | null;
}

/** Where `npm run build` puts the app: `<package>/dist/web` (the same from `src/` under tsx and from `dist/`). */
export function builtWebAppDir(): string {
  return fileURLToPath(new URL('../../dist/web/', import.meta.url));
}

/**
 * The app's CSP. `connect-src 'self'` covers the WebSocket to the same host and port (CSP 3);
 * `img-src`/`media-src` allow `blob:` for previews of files being attached, `data:` for pasted images.
 */
export const APP_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "media-src 'self' blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Served files may not run anything, be framed, or be read as another type than the one sent. */
const UPLOAD_HEADERS = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; sandbox",
  'cross-origin-resource-policy': 'same-origin',
  'referrer-policy': 'no-referrer',
};

const APP_HEADERS = {
  'content-security-policy': APP_CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

const MEDIA_PATH = /^\/media\/([0-9a-f]{64})(\/thumbnail)?$/;
const AVATAR_PATH = /^\/avatars\/([^/]{1,200})\.svg$/;

export function webAppRoute(deps: WebAppDeps): HttpRoute {
  const directory = deps.directory ?? builtWebAppDir();
  let files: Map<string, string> | null = null;
  /** The app's files by URL path, listed once: only files that exist in the build are ever served. */
  const listFiles = (): Map<string, string> => {
    if (files !== null && files.size > 0) return files;
    const found = new Map<string, string>();
    const walk = (folder: string, prefix: string): void => {
      let entries: string[];
      try {
        entries = readdirSync(folder);
      } catch {
        return;
      }
      for (const entry of entries) {
        const full = path.join(folder, entry);
        if (statSync(full).isDirectory()) walk(full, `${prefix}${entry}/`);
        else found.set(`${prefix}${entry}`, full);
      }
    };
    walk(directory, '/');
    files = found;
    return found;
  };

  return async (request, response, url) => {
    const pathname = url.pathname;
    const media = MEDIA_PATH.exec(pathname);
    const avatar = media === null ? AVATAR_PATH.exec(pathname) : null;
    const appFile = media === null && avatar === null ? (pathname === '/' ? '/index.html' : pathname) : null;
    if (appFile !== null && !listFiles().has(appFile) && pathname !== '/') return false;
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('Only GET and HEAD are served here; the API is the WebSocket at /mcp.');
      return true;
    }

    if (media !== null) {
      const stored = await deps.readMedia(media[1]!, media[2] ? 'thumbnail' : 'original');
      if (stored === null) return notFound(response, 'No such file.');
      send(request, response, 200, stored.data, {
        ...UPLOAD_HEADERS,
        'content-type': stored.mimeType,
        'content-disposition': 'inline',
        // Named by their content: the same URL never means other bytes.
        'cache-control': 'private, max-age=31536000, immutable',
      });
      return true;
    }

    if (avatar !== null) {
      const svg = deps.avatarSvg(decodeURIComponent(avatar[1]!));
      if (svg === null) return notFound(response, 'No such persona.');
      send(request, response, 200, Buffer.from(svg), { ...UPLOAD_HEADERS, 'content-type': 'image/svg+xml', 'cache-control': 'private, max-age=3600' });
      return true;
    }

    const file = listFiles().get(appFile!);
    if (file === undefined) {
      response
        .writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '60' })
        .end('The web app is not built. Run `npm run build` (npm ci does it) and restart persona-mcp. The API works: it is the WebSocket at /mcp.');
      return true;
    }
    const extension = path.extname(file);
    const isHashed = appFile!.startsWith('/assets/');
    send(request, response, 200, await readFile(file), {
      ...APP_HEADERS,
      'content-type': TYPES[extension] ?? 'application/octet-stream',
      // Vite names assets by their hash; the page itself must be revalidated to pick up a new build.
      'cache-control': isHashed ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
    return true;
  };
}

function send(request: IncomingMessage, response: ServerResponse, status: number, body: Buffer, headers: Record<string, string>): void {
  response.writeHead(status, { ...headers, 'content-length': body.length });
  response.end(request.method === 'HEAD' ? undefined : body);
}

function notFound(response: ServerResponse, message: string): true {
  response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' }).end(message);
  return true;
}
