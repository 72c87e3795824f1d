/**
 * The floor of a chat turn (bench/floor.ts): a bare server made only of the libraries persona-mcp uses,
 * doing a turn's I/O with none of its logic — `ws` (one JSON-RPC frame in, the reply out, plain or as
 * `persona.chat.chunk` notifications, one a line of the model's stream as persona-mcp sends them), undici's
 * `Pool` to the model (the turn's own chat request, then the background calls recorded from persona-mcp's
 * turns, replayed at their rate after the reply), better-sqlite3 with persona-mcp's pragmas writing, in the
 * same number of write transactions, the rows a turn writes into the same schema (a copy of the rows
 * persona-mcp wrote last, so their sizes, indexes, FTS5 and change-log triggers are the real ones).
 *
 * Frames of one run of the event loop leave in one write, as persona-mcp's transport sends them.
 *
 * Which pieces run is `FLOOR_PIECES` (a comma list of `ws`, `model`, `sql`; `ws` always): without `model`
 * the reply is the recorded one, without `sql` nothing is written. What the turn looks like (bodies,
 * rates, frame sizes) comes from bench/floor.ts in the JSON file `FLOOR_SHAPE_FILE` (`FloorShape`). `system.status`
 * answers `{jobs: {due, running}}` so the chat suite's client can wait for the background work.
 * Prints `floor listening on ws://127.0.0.1:PORT/mcp` when ready; stops on SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { Pool } from 'undici';
import { WebSocketServer, type WebSocket } from 'ws';
import { MESSAGE_SLOT, type FloorShape } from './lib/floor-shape.js';
import { FloorWrites } from './lib/floor-writes.js';


const shape = JSON.parse(readFileSync(process.env.FLOOR_SHAPE_FILE ?? '', 'utf8')) as FloorShape;
const pieces = new Set((process.env.FLOOR_PIECES ?? 'ws,model,sql').split(','));
const hasModel = pieces.has('model');
const hasSql = pieces.has('sql');
const [bodyHead, bodyTail] = shape.chatBody.split(JSON.stringify(MESSAGE_SLOT).slice(1, -1)) as [string, string];

const pool = new Pool(process.env.FLOOR_MODEL_URL ?? 'http://127.0.0.1:1', { keepAliveTimeout: 5 * 60_000, headersTimeout: 0, bodyTimeout: 0, connectTimeout: 0 });

async function modelCall(path: string, body: string, onLine?: (line: string) => void): Promise<void> {
  const answer = await pool.request({ path, method: 'POST', headers: { 'content-type': 'application/json' }, body });
  // A background answer is read as its user would: parsed (an embedding's vectors, an appraisal's JSON).
  if (onLine === undefined) return void (await answer.body.json());
  let rest = '';
  for await (const chunk of answer.body) {
    const lines = (rest + (chunk as Buffer).toString('utf8')).split('\n');
    rest = lines.pop()!;
    for (const line of lines) if (line !== '') onLine(line);
  }
  if (rest !== '') onLine(rest);
}

const writes = hasSql ? new FloorWrites(shape) : null;
let backgroundRunning = 0;
let callsOwed = 0;
let nextCall = 0;

/** After the reply: the batch, then the background model calls due this turn, then the jobs' writes. */
async function afterReply(userMessageId: number | bigint, replyId: number | bigint): Promise<void> {
  backgroundRunning++;
  try {
    writes?.afterReply(userMessageId, replyId);
    if (hasModel && shape.backgroundCalls.length > 0) {
      callsOwed += shape.backgroundCalls.length / shape.shapeTurns;
      for (; callsOwed >= 1 - 1e-9; callsOwed--) {
        const call = shape.backgroundCalls[nextCall++ % shape.backgroundCalls.length]!;
        await modelCall(call.path, call.body);
      }
    }
    writes?.runJobs();
  } finally {
    backgroundRunning--;
  }
}

function resultFrame(id: unknown, reply: string, startedAt: number, isStreaming: boolean): string {
  const head = `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":{"response":${JSON.stringify(reply)},"processing_time":${((performance.now() - startedAt) / 1000).toFixed(6)},"pad":"`;
  const tail = '"}}';
  const target = isStreaming ? shape.resultBytes.streaming : shape.resultBytes.plain;
  return `${head}${'x'.repeat(Math.max(0, target - head.length - tail.length))}${tail}`;
}

/**
 * Sends a frame, the frames of one run of the event loop in one write (the socket corked until the next tick),
 * as persona-mcp's transport does: a streamed reply's lines arrive from the model together.
 */
function send(ws: WebSocket, socket: Duplex, frame: string): void {
  if (!socket.writableCorked) {
    socket.cork();
    process.nextTick(() => socket.uncork());
  }
  ws.send(frame);
}

async function turn(ws: WebSocket, socket: Duplex, id: unknown, message: string, isStreaming: boolean): Promise<void> {
  const startedAt = performance.now();
  const userId = writes?.userMessage(message) ?? 0;
  let reply = '';
  const sendDelta = (delta: string): void => {
    reply += delta;
    if (isStreaming) send(ws, socket, `{"jsonrpc":"2.0","method":"persona.chat.chunk","params":{"request_id":${JSON.stringify(id)},"delta":${JSON.stringify(delta)}}}`);
  };
  if (hasModel) {
    const body = `${bodyHead}${JSON.stringify(message).slice(1, -1)}${bodyTail}`;
    await modelCall('/api/chat', body, (line) => {
      const content = (JSON.parse(line) as { message?: { content?: string } }).message?.content ?? '';
      if (content !== '') sendDelta(content);
    });
  } else for (const delta of shape.deltas) sendDelta(delta);
  const replyId = writes?.reply(reply, userId) ?? 0;
  send(ws, socket, resultFrame(id, reply, startedAt, isStreaming));
  setImmediate(() => void afterReply(userId, replyId).catch((error: unknown) => process.stderr.write(`floor: background failed: ${String(error)}\n`)));
}

const http = createServer((_request, response) => response.writeHead(404).end());
const server = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false, maxPayload: 4 * 1_048_576 });
http.on('upgrade', (request, socket, head) => {
  server.handleUpgrade(request, socket, head, (ws) => {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as { id?: unknown; method?: string; params?: { message?: string; stream?: boolean } };
      if (frame.method === 'system.status') {
        const jobs = { due: backgroundRunning, running: 0 };
        return send(ws, socket, JSON.stringify({ jsonrpc: '2.0', id: frame.id, result: { jobs } }));
      }
      turn(ws, socket, frame.id, frame.params?.message ?? '', frame.params?.stream === true).catch((error: unknown) =>
        send(ws, socket, JSON.stringify({ jsonrpc: '2.0', id: frame.id, error: { code: -32603, message: String(error) } })),
      );
    });
    ws.on('error', () => undefined);
  });
});
http.listen(0, '127.0.0.1', () => {
  const { port } = http.address() as AddressInfo;
  process.stderr.write(`floor listening on ws://127.0.0.1:${port}/mcp\n`);
});
process.on('SIGTERM', () => process.exit(0));
