/**
 * `npx tsx bench/micro-rpc.ts [requests] [connections] [--against DIST]`: the server's own cost of a cheap
 * request, without sockets, in the compiled server (dist/; `PERSONA_MICRO_DIST=/other/dist` for another build;
 * `--against /tmp/pmcp-a/dist` runs that build too, in the same process, the two taking turns). Builds the real core (temp data dir, warn-level logs, limits as the rpc suite sets
 * them) and the real WebSocket transport, attaches fake sockets to it, and runs a closed loop of
 * `persona.list` and `persona.status` frames through the transport's message handler — parse, rate
 * limits, dispatch, handler, metrics, request log, serialisation — reporting CPU µs per request.
 * What it leaves out is what the bare echo server pays too (ws framing, the socket syscalls), so it
 * shows where the gap to echo comes from, with far less noise than a two-process run on a busy machine.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import type * as AppModule from '../src/app/app.js';
import type * as ConfigModule from '../src/config/load.js';
import type * as LoggerModule from '../src/logger.js';
import type * as WebSocketModule from '../src/transports/websocket.js';
import { LIST, STATUS, frameOf, type BenchMethod } from './lib/frames.js';
import { BENCH_LIMITS } from './lib/setup.js';

const argv = process.argv.slice(2);
const againstAt = argv.indexOf('--against');
const againstDist = againstAt >= 0 ? argv.splice(againstAt, 2)[1] : undefined;
if (againstAt >= 0 && againstDist === undefined) {
  process.stderr.write("--against needs another build's dist/: npx tsx bench/micro-rpc.ts 40000 100 --against /tmp/pmcp-a/dist\n");
  process.exit(2);
}
const requests = Number(argv[0] ?? 200_000);
const connections = Number(argv[1] ?? 100);

class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readonly CLOSED = 3;
  readyState = 1;
  bufferedAmount = 0;
  onSend: (text: string | Buffer) => void = () => undefined;
  send(text: string | Buffer): void {
    this.onSend(text);
  }
  pause(): void {}
  resume(): void {}
  // The transport corks the connection's network stream while a run of the event loop sends (websocket.ts `send`).
  cork(): void {}
  uncork(): void {}
  ping(): void {}
  close(): void {}
  terminate(): void {}
}

/** One build's core and transport with `connections` fake sockets attached; `close` ends them. */
interface Server {
  sockets: FakeSocket[];
  close(): Promise<void>;
}

async function startServer(dist: string): Promise<Server> {
  const load = <T>(file: string): Promise<T> => import(pathToFileURL(path.join(dist, file)).href) as Promise<T>;
  const { createCore } = await load<typeof AppModule>('app/app.js');
  const { loadConfig } = await load<typeof ConfigModule>('config/load.js');
  const { createLogger } = await load<typeof LoggerModule>('logger.js');
  const { WebSocketTransport } = await load<typeof WebSocketModule>('transports/websocket.js');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'persona-micro-'));
  const config = loadConfig({
    cwd: dataDir,
    env: {},
    flags: {
      dataDir,
      port: 0,
      logLevel: 'warn',
      ...Object.fromEntries(Object.entries(BENCH_LIMITS).map(([key, value]) => [`limits.${key}`, value])),
    },
  });
  const logger = createLogger('warn');
  const core = await createCore(config, { logger });
  const limits = config.limits;
  const transport = new WebSocketTransport({
    engine: core.engine,
    logger,
    stats: core.stats,
    maxFrameBytes: limits.maxFrameBytes,
    shutdownSignal: core.shutdownSignal,
    maxConnections: limits.maxConnections,
    maxConnectionsPerIp: limits.maxConnectionsPerIp,
    maxConnectionsPerUser: limits.maxConnectionsPerUser,
    rateLimit: { ratePerSecond: limits.rateLimitPerSecond, burst: limits.rateLimitBurst },
    rateLimits: core.cluster.rateLimits({ perKey: limits.rateLimitPerKeyPerSecond, perAddress: limits.rateLimitPerAddressPerSecond }, core.services.clock),
    authenticate: (apiKey) => core.auth.authenticate(apiKey),
    claimSession: (sessionId, userId) => core.services.sessions.claim(sessionId, userId),
    isKeyRevoked: (keyId) => core.auth.isRevoked(keyId),
  });
  const caller = await core.auth.authenticate(null);
  const sockets = Array.from({ length: connections }, (_, index) => {
    const socket = new FakeSocket();
    (transport as unknown as { accept(socket: unknown, stream: unknown, session: unknown, ip: string, keyId: string | null): void }).accept(
      socket,
      socket,
      { id: `micro-session-${index}`, userId: caller.userId, role: caller.role },
      '127.0.0.1',
      caller.keyId,
    );
    return socket;
  });
  return {
    sockets,
    async close() {
      for (const socket of sockets) socket.emit('close', 1000);
      await core.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Bytes the JavaScript heap allocated between `start` and `stop`: what was used before each GC minus
 * what was left after the one before it (v8.GCProfiler reports both), plus the growth since the last.
 * Allocation per request is what sets how often the young generation is collected under load.
 */
class AllocationMeter {
  private readonly profiler = new v8.GCProfiler();
  private usedAtStart = 0;

  start(): void {
    this.usedAtStart = v8.getHeapStatistics().used_heap_size;
    this.profiler.start();
  }

  stop(): { bytes: number; collections: number } {
    const usedAtEnd = v8.getHeapStatistics().used_heap_size;
    const { statistics } = this.profiler.stop() as unknown as {
      statistics: Array<{ beforeGC: { heapStatistics: { usedHeapSize: number } }; afterGC: { heapStatistics: { usedHeapSize: number } } }>;
    };
    let bytes = 0;
    let usedAfterLast = this.usedAtStart;
    for (const entry of statistics) {
      bytes += Math.max(0, entry.beforeGC.heapStatistics.usedHeapSize - usedAfterLast);
      usedAfterLast = entry.afterGC.heapStatistics.usedHeapSize;
    }
    return { bytes: bytes + Math.max(0, usedAtEnd - usedAfterLast), collections: statistics.length };
  }
}

async function loop(
  sockets: FakeSocket[],
  method: BenchMethod,
  total: number,
): Promise<{ usPerRequest: number; wallUsPerRequest: number; answerBytes: number; bytesPerRequest: number; collections: number }> {
  const template = frameOf(method);
  let answerBytes = 0;
  let sent = 0;
  let answered = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  // A server that answers in the same turn calls `onSend` from inside `emit`: the next frame then waits in
  // `ready` for the outer loop instead of nesting another call (a real socket's next frame comes from a
  // later read, never from inside a send).
  const ready: FakeSocket[] = [];
  let isSending = false;
  const sendNext = (socket: FakeSocket): void => {
    ready.push(socket);
    if (isSending) return;
    isSending = true;
    for (let next = ready.pop(); next !== undefined; next = ready.pop()) {
      if (sent >= total) continue;
      sent += 1;
      next.emit('message', Buffer.from(`${template.prefix}${sent}${template.suffix}`), false);
    }
    isSending = false;
  };
  for (const socket of sockets) {
    socket.onSend = (text) => {
      // An error answer has "error" right after its id; the scan stays short, as the echo server's.
      if (text.lastIndexOf('"error"', 40) !== -1) throw new Error(`error answer: ${text}`);
      answerBytes = text.length;
      answered += 1;
      if (answered === total) done();
      else sendNext(socket);
    };
  }
  const meter = new AllocationMeter();
  meter.start();
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (const socket of sockets) sendNext(socket);
  await finished;
  const used = process.cpuUsage(cpu);
  const allocated = meter.stop();
  return {
    usPerRequest: (used.user + used.system) / total,
    wallUsPerRequest: ((performance.now() - started) * 1000) / total,
    answerBytes,
    bytesPerRequest: allocated.bytes / total,
    collections: allocated.collections,
  };
}

// The compiled server (as the other suites measure it), or another build's dist/ to compare (`PERSONA_MICRO_DIST`);
// with `--against DIST` both builds in this process, their loops taking turns so that the machine's load meets both.
const builds = [{ name: againstDist === undefined ? 'this' : 'B (this)', dist: process.env.PERSONA_MICRO_DIST ?? path.join(import.meta.dirname, '..', 'dist') }];
if (againstDist !== undefined) builds.unshift({ name: 'A (against)', dist: againstDist });
const servers: Server[] = [];
try {
  for (const build of builds) servers.push(await startServer(path.resolve(build.dist)));
  // warm-up: JIT, caches
  for (const server of servers) for (const method of [LIST, STATUS]) await loop(server.sockets, method, Math.min(20_000, requests));
  const rows: string[] = [];
  for (let round = 0; round < 3; round++) {
    for (const [index, server] of servers.entries()) {
      for (const method of [LIST, STATUS]) {
        const run = await loop(server.sockets, method, requests);
        rows.push(
          `round ${round + 1} ${builds.length > 1 ? `${builds[index]!.name} ` : ''}${method.method.padEnd(15)} ${run.usPerRequest.toFixed(2).padStart(6)} µs CPU/request (${run.wallUsPerRequest.toFixed(2)} wall), ` +
            `${Math.round(run.bytesPerRequest).toLocaleString('en').padStart(6)} bytes allocated/request (${run.collections} GCs), answers of ${run.answerBytes} characters`,
        );
      }
    }
  }
  process.stdout.write(`${rows.join('\n')}\nload average ${os.loadavg().map((value) => value.toFixed(2)).join(' ')}\n`);
} finally {
  for (const server of servers) await server.close();
}
