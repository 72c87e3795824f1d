/**
 * `npx tsx bench/micro-ws-frames.ts [turns] [rounds]`: the server's CPU of sending a streamed reply's frames
 * to one WebSocket client (12 `persona.chat.chunk` notifications and the result, as a chat-bench turn sends
 * them) in two ways, alternating round by round in one process: each frame its own write (what
 * `transports/websocket.ts` did before round 8) and the connection's stream corked until `process.nextTick`
 * (what it does now: the frames of one run of the event loop leave in one write). The client runs in a child
 * process, so only the sending side's CPU is counted. Prints the median CPU µs per turn of each way.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

const turns = Number(process.argv[2] ?? 2_000);
const rounds = Number(process.argv[3] ?? 8);
const FRAMES_PER_TURN = 13;

const server = http.createServer();
const wss = new WebSocketServer({ noServer: true });
let connection: { socket: WebSocket; stream: Duplex } | null = null;
server.on('upgrade', (request, stream, head) => wss.handleUpgrade(request, stream, head, (socket) => (connection = { socket, stream })));
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as { port: number };
const wsModule = JSON.stringify(createRequire(import.meta.url).resolve('ws'));
const client = spawn(process.execPath, ['-e', `const W = require(${wsModule}); const w = new W('ws://127.0.0.1:${port}'); w.on('message', () => {}); setInterval(() => {}, 1000);`], { stdio: 'inherit' });
while (connection === null) await new Promise((resolve) => setTimeout(resolve, 20));
const { socket, stream } = connection as { socket: WebSocket; stream: Duplex };

const frame = (index: number): string =>
  JSON.stringify({ jsonrpc: '2.0', method: 'persona.chat.chunk', params: { request_id: 'req-1', delta: ` word${index} and a few more` } });
const sendTurn = (isCorked: boolean): void => {
  if (isCorked) {
    stream.cork();
    process.nextTick(() => stream.uncork());
  }
  for (let index = 0; index < FRAMES_PER_TURN; index++) socket.send(frame(index));
};
const round = async (isCorked: boolean, count: number): Promise<number> => {
  const before = process.cpuUsage();
  for (let turn = 0; turn < count; turn++) {
    sendTurn(isCorked);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / count;
};
for (let warm = 0; warm < 3; warm++) {
  await round(false, 500);
  await round(true, 500);
}
const separate: number[] = [];
const corked: number[] = [];
for (let index = 0; index < rounds; index++) {
  separate.push(await round(false, turns));
  corked.push(await round(true, turns));
}
const median = (values: number[]): string => [...values].sort((a, b) => a - b)[values.length >> 1]!.toFixed(1);
process.stdout.write(
  `${FRAMES_PER_TURN} frames per turn, CPU µs per turn: each frame its own write ${median(separate)} (${separate.map((value) => value.toFixed(0)).join(' ')}), corked ${median(corked)} (${corked.map((value) => value.toFixed(0)).join(' ')})\n`,
);
client.kill();
server.close();
process.exit(0);
