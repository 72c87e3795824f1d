import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closedPortUrl } from '../../../test/helpers/llm-events.js';
import { causeCode } from '../ollama/ollama-errors.js';
import { HttpClient } from './http-client.js';

let server: Server | undefined;
let client: HttpClient | undefined;

afterEach(async () => {
  client?.close();
  server?.closeAllConnections();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
  client = undefined;
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  server = createServer(handler);
  server.on('connection', (socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sockets };
}

describe('HttpClient', () => {
  it('sends JSON, reads the answer, and keeps one connection for consecutive requests', async () => {
    const bodies: string[] = [];
    const { url, sockets } = await serve((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        bodies.push(`${req.method} ${req.url} ${req.headers['content-type'] ?? ''} ${body}`);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ echoed: body.length }));
      });
    });
    client = new HttpClient(url);
    const first = await client.request('/api/embed', { body: '{"input":["ä"]}' });
    expect(first).toMatchObject({ ok: true, status: 200, url: `${url}/api/embed` });
    expect(await first.json()).toEqual({ echoed: 15 });
    // undici hands a connection back to its pool on the next turn of the event loop after the answer ended;
    // a request sent before that opens a second one (the server's calls always have I/O between them).
    await new Promise((resolve) => setImmediate(resolve));
    expect(await (await client.request('/api/tags')).text()).toBe('{"echoed":0}');
    expect(bodies).toEqual(['POST /api/embed application/json {"input":["ä"]}', 'GET /api/tags  ']);
    expect(sockets.size).toBe(1);
  });

  it('keeps the base URL\'s path and credentials (a backend behind a proxy) on every request', async () => {
    const seen: string[] = [];
    const { url } = await serve((req, res) => {
      seen.push(`${req.url} ${req.headers.authorization ?? ''}`);
      res.writeHead(200).end('{}');
    });
    client = new HttpClient(url.replace('http://', 'http://ann:s%40fe@') + '/ollama/');
    await (await client.request('/api/tags')).text();
    await (await client.request('/api/chat', { body: '{}' })).text();
    const basic = `Basic ${Buffer.from('ann:s@fe').toString('base64')}`;
    expect(seen).toEqual([`/ollama/api/tags ${basic}`, `/ollama/api/chat ${basic}`]);
  });

  it('streams the body chunk by chunk, and an abort mid-answer ends it without an uncaught error', async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(200).write('first\n');
    });
    client = new HttpClient(url);
    const controller = new AbortController();
    const answer = await client.request('/api/chat', { body: '{}', signal: controller.signal });
    const chunks = answer.body[Symbol.asyncIterator]();
    expect(Buffer.from((await chunks.next()).value as Uint8Array).toString()).toBe('first\n');
    controller.abort();
    await expect(chunks.next()).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 50)); // an uncaught error would fail the test run here
  });

  it('keeps the connection when the reader stops after the last line of a whole answer and the request is then aborted', async () => {
    const { url, sockets } = await serve((_req, res) => {
      res.writeHead(200).end('{"done":false}\n{"done":true}\n');
    });
    client = new HttpClient(url);
    for (let round = 0; round < 3; round++) {
      const controller = new AbortController();
      const answer = await client.request('/api/chat', { body: '{}', signal: controller.signal });
      await answer.body[Symbol.asyncIterator]().next(); // the reader saw the final line and stops
      controller.abort(); // what RequestScope.dispose does when a request is over
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(sockets.size).toBe(1);
  });

  it('keeps an idle connection past a Node server\'s 5 s when the backend gives no Keep-Alive hint (Ollama)', async () => {
    const { url, sockets } = await serve((_req, res) => res.writeHead(200).end('ok'));
    server!.keepAliveTimeout = 0; // as Go's net/http: no Keep-Alive header, idle connections never closed
    client = new HttpClient(url);
    await (await client.request('/api/tags')).text();
    // A person's pause between two turns; undici's default (4 s) closed the connection during it.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    expect(await (await client.request('/api/tags')).text()).toBe('ok');
    expect(sockets.size).toBe(1);
  }, 10_000);

  it('opens a new connection, sending nothing twice, when a backend without a hint closed the idle one', async () => {
    let hits = 0;
    const { url, sockets } = await serve((req, res) => {
      hits++;
      res.writeHead(200).end('ok');
      // as uvicorn or a proxy does: idle connections closed soon, without a Keep-Alive header saying so
      res.on('finish', () => setTimeout(() => req.socket.end(), 20));
    });
    server!.keepAliveTimeout = 0;
    client = new HttpClient(url);
    await (await client.request('/api/chat', { body: '{}' })).text();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await (await client.request('/api/chat', { body: '{}' })).text()).toBe('ok');
    expect({ hits, connections: sockets.size }).toEqual({ hits: 2, connections: 2 });
  });

  it('sends a request again on a new connection when the kept-alive one was closed by the server', async () => {
    let hits = 0;
    const { url, sockets } = await serve((_req, res) => {
      hits++;
      res.writeHead(200).end('ok');
    });
    client = new HttpClient(url);
    await (await client.request('/api/tags')).text();
    // The server drops the idle connection without the client noticing in time (as a restart does).
    for (const socket of sockets) socket.resetAndDestroy();
    expect(await (await client.request('/api/tags')).text()).toBe('ok');
    expect(hits).toBe(2);
  });

  it('sends a request again, once, when a kept-alive connection is reset instead of answered', async () => {
    const served = new WeakSet<Socket>();
    let hits = 0;
    const { url, sockets } = await serve((req, res) => {
      hits++;
      // The second request on a connection meets a backend that is closing it (the race a restart causes).
      if (served.has(req.socket)) return void req.socket.resetAndDestroy();
      served.add(req.socket);
      res.writeHead(200).end('ok');
    });
    client = new HttpClient(url);
    await (await client.request('/api/tags')).text();
    await new Promise((resolve) => setImmediate(resolve));
    expect(await (await client.request('/api/chat', { body: '{}' })).text()).toBe('ok');
    expect({ hits, connections: sockets.size }).toEqual({ hits: 3, connections: 2 });
  });

  it('fails with the socket error as the cause when nothing listens', async () => {
    client = new HttpClient(await closedPortUrl());
    const failure = await client.request('/api/tags').catch((error: unknown) => error);
    expect(causeCode(failure)).toBe('ECONNREFUSED');
  });

  it('does not send a request whose signal is already aborted', async () => {
    let hits = 0;
    const { url } = await serve((_req, res) => {
      hits++;
      res.end();
    });
    client = new HttpClient(url);
    await expect(client.request('/api/tags', { signal: AbortSignal.abort() })).rejects.toThrow(/aborted/);
    expect(hits).toBe(0);
  });
});
