/**
 * `npx tsx bench/cold-start.ts [connections] [rounds]`: what a freshly started server pays for its first
 * requests, in server CPU, which a busy machine does not blur the way it blurs the open loop's `first 2 s`
 * latency column. Starts the compiled server as the suites do (pinned to CPU 0, the bench limits, a temp
 * data dir; `PERSONA_BENCH_SERVER` for another build) and the echo server beside it, opens `connections`
 * WebSockets to each (default 1,000), then sends one request on every connection at once (persona.status
 * and persona.list alternating, as the open loop), waits for every answer, and repeats for `rounds`
 * (default 6): the server CPU of each round from /proc, and per request. Round 1 is each connection's
 * first request on code V8 has not compiled yet; a warm server pays ~35 µs a request in the open loop.
 */
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { fetchResults, LIST, STATUS } from './lib/frames.js';
import { defaultPlacement, startEchoServer, startPersonaServer, type ServerProcess } from './lib/processes.js';
import { printTable } from './lib/report.js';
import { benchDir, delay } from './lib/setup.js';

const connections = Number(process.argv[2] ?? 1000);
const rounds = Number(process.argv[3] ?? 6);
const methods = [STATUS, LIST];

async function openAll(url: string): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  // 100 handshakes in flight at a time, as the suites' load workers.
  for (let start = 0; start < connections; start += 100) {
    const batch = Array.from({ length: Math.min(100, connections - start) }, () =>
      new Promise<WebSocket>((resolve, reject) => {
        const socket = new WebSocket(url);
        socket.once('open', () => resolve(socket));
        socket.once('error', reject);
      }),
    );
    sockets.push(...(await Promise.all(batch)));
  }
  return sockets;
}

let nextId = 0;
/** One request on every connection at once; resolves with the wall time when all are answered. */
function round(sockets: WebSocket[]): Promise<number> {
  const started = performance.now();
  return Promise.all(
    sockets.map(
      (socket, index) =>
        new Promise<void>((resolve, reject) => {
          const { method, params } = methods[index % methods.length]!;
          socket.once('message', (data) => {
            const answer = JSON.parse(data.toString()) as { error?: unknown };
            if (answer.error !== undefined) reject(new Error(`${method} failed: ${JSON.stringify(answer.error)}`));
            else resolve();
          });
          socket.send(JSON.stringify({ jsonrpc: '2.0', id: ++nextId, method, ...(params ? { params } : {}) }));
        }),
    ),
  ).then(() => performance.now() - started);
}

/**
 * The server's main thread (the event loop) on a CPU, in ms: from the scheduler's nanosecond count, so
 * rounds are not blurred by /proc's 10 ms ticks, and without the GC helper threads.
 */
function mainThreadMs(server: ServerProcess): number {
  return Number(readFileSync(`/proc/${server.pid}/task/${server.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
}

async function measure(server: ServerProcess, sockets: WebSocket[]): Promise<Array<{ cpuMs: number; loopMs: number; wallMs: number }>> {
  const results: Array<{ cpuMs: number; loopMs: number; wallMs: number }> = [];
  for (let index = 0; index < rounds; index++) {
    const before = server.cpuMs();
    const loopBefore = mainThreadMs(server);
    const wallMs = await round(sockets);
    // Work the answers left behind (writes completing) belongs to the round.
    await delay(100);
    results.push({ cpuMs: server.cpuMs() - before, loopMs: mainThreadMs(server) - loopBefore, wallMs });
  }
  return results;
}

const placement = defaultPlacement(true);
const dir = benchDir('cold-start');
const persona = await startPersonaServer({ dataDir: dir.dataDir, configFile: dir.configFile, cpus: placement.serverCpus });
let echo: ServerProcess | null = null;
try {
  // The echo server's canned answers come from a connection of its own: the measured ones stay unused until round 1.
  echo = await startEchoServer(await fetchResults(persona.url, methods), placement.serverCpus);
  const rows: Array<Array<string | number>> = [];
  for (const server of [persona, echo]) {
    const sockets = await openAll(server.url);
    await delay(500);
    const measured = await measure(server, sockets);
    measured.forEach(({ cpuMs, loopMs, wallMs }, index) =>
      rows.push([server.kind, index + 1, Math.round(cpuMs), Math.round((cpuMs * 1000) / connections), Math.round((loopMs * 1000) / connections), Math.round(wallMs)]),
    );
    for (const socket of sockets) socket.terminate();
  }
  printTable(
    `cold start: one request on each of ${connections.toLocaleString('en')} fresh connections at once, ${rounds} rounds (server CPU from /proc, 10 ms ticks; load average ${(await import('node:os')).loadavg().map((value) => value.toFixed(1)).join(' ')})`,
    ['server', 'round', 'server cpu ms', 'µs/request', 'main thread µs/request', 'wall ms'],
    rows,
  );
} finally {
  await persona.stop();
  await echo?.stop();
  dir.remove();
}
