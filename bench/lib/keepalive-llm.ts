/**
 * The fake model of `bench/micro-keepalive.ts`, in its own process: two servers answering `POST /api/chat`
 * with a short NDJSON stream, which differ only in how they treat idle connections:
 * - `ollama`: as Ollama (Go's net/http) does, no `Keep-Alive` header and idle connections kept open;
 * - `node`: a Node server's default, `Keep-Alive: timeout=5` and idle connections closed after 5 s.
 * Each answer says which connection it came on (`x-connection`, numbered in the order they were made).
 * Prints `{ ollama, node }` (the URLs) as one JSON line, then serves until killed.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

const LINES = Array.from({ length: 20 }, (_, index) => `${JSON.stringify({ message: { role: 'assistant', content: `word${index} ` }, done: false })}\n`);
const DONE = `${JSON.stringify({ message: { role: 'assistant', content: '' }, done: true, eval_count: 20 })}\n`;

async function start(keepAliveTimeout: number): Promise<string> {
  const numbers = new WeakMap<Socket, number>();
  let made = 0;
  const server: Server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/x-ndjson', 'x-connection': String(numbers.get(request.socket)) });
      // The first line at once, the rest a moment later: the client's first chunk is the first line alone.
      response.write(LINES[0]);
      setImmediate(() => response.end(LINES.slice(1).join('') + DONE));
    });
  });
  server.keepAliveTimeout = keepAliveTimeout; // 0: no Keep-Alive header and no idle limit
  server.on('connection', (socket: Socket) => numbers.set(socket, ++made));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

process.stdout.write(`${JSON.stringify({ ollama: await start(0), node: await start(5_000) })}\n`);
