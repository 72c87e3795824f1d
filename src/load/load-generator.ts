/**
 * The engine of `persona-mcp load`: N WebSocket connections send a mix of JSON-RPC requests for a
 * while, and every answer's latency goes into a histogram.
 *
 * - **open loop** (`rate`): requests leave on a fixed schedule (request i at start + i / rate, round
 *   robin over the connections) whatever the server does, and latency runs from the *scheduled* time.
 *   A server that stalls for a second is charged that second for every request that should have left
 *   meanwhile — no coordinated omission. When the generator itself falls behind (> 1 ms), the send is
 *   counted as late, and its latency still runs from the schedule.
 * - **closed loop**: each connection sends its next request when the previous answer arrived (after an
 *   optional think time). This measures what a fixed number of users experience; its latencies are
 *   service times under that concurrency, not latencies at a given rate (use the open loop for those).
 *
 * Requests scheduled during the warm-up are sent but not recorded. Answers still missing a grace period
 * after the end count as lost.
 */
import WebSocket from 'ws';
import { Histogram, type LatencySummary } from './histogram.js';

export interface RequestKind {
  method: string;
  params: Record<string, unknown>;
  /** Relative share of the mix. */
  weight: number;
}

export interface LoadOptions {
  url: string;
  apiKey?: string | undefined;
  connections: number;
  durationMs: number;
  warmupMs: number;
  mix: RequestKind[];
  mode: 'open' | 'closed';
  /** Open loop: requests per second offered. */
  ratePerSecond?: number;
  /** Closed loop: pause after each answer before the next request (ms). */
  thinkMs?: number;
  /** How long to wait for stragglers after the end before counting them lost. Defaults to 5 s. */
  graceMs?: number;
  onTick?: (progress: { elapsedMs: number; completed: number; errors: number }) => void;
}

export interface MethodFigures {
  latencyMs: LatencySummary;
  errors: number;
}

export interface LoadResult {
  mode: 'open' | 'closed';
  connections: number;
  durationMs: number;
  warmupMs: number;
  offeredPerSecond: number | null;
  achievedPerSecond: number;
  sent: number;
  completed: number;
  /** Answers that were JSON-RPC errors, by code. */
  errors: Record<string, number>;
  errorMessages: Record<string, string>;
  lost: number;
  lateSends: number;
  latencyMs: LatencySummary;
  perMethod: Record<string, MethodFigures>;
}

/** The order requests are taken from the mix: weights spread evenly (smooth weighted round robin). */
export function mixSequence(mix: readonly RequestKind[]): number[] {
  const total = mix.reduce((sum, kind) => sum + kind.weight, 0);
  const current = mix.map(() => 0);
  const sequence: number[] = [];
  for (let step = 0; step < total; step++) {
    let best = 0;
    mix.forEach((kind, index) => {
      current[index]! += kind.weight;
      if (current[index]! > current[best]!) best = index;
    });
    current[best]! -= total;
    sequence.push(best);
  }
  return sequence;
}

interface Pending {
  kind: number;
  /** performance.now() the latency runs from (the schedule, in the open loop). */
  from: number;
  isRecorded: boolean;
  resolve?: () => void;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  if (options.mix.length === 0) throw new Error('The request mix is empty.');
  if (options.mode === 'open' && !(options.ratePerSecond! > 0)) throw new Error('The open loop needs a rate above 0 requests per second.');
  const sockets = await Promise.all(Array.from({ length: options.connections }, () => connect(options.url, options.apiKey)));
  const sequence = mixSequence(options.mix);
  const overall = new Histogram();
  const perKind = options.mix.map(() => ({ histogram: new Histogram(), errors: 0 }));
  const errors: Record<string, number> = {};
  const errorMessages: Record<string, string> = {};
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let completed = 0;
  let lateSends = 0;
  let recordedSent = 0;
  let errorCount = 0;
  const frames = options.mix.map((kind) => ({ prefix: `{"jsonrpc":"2.0","method":${JSON.stringify(kind.method)},"params":${JSON.stringify(kind.params)},"id":` }));

  for (const socket of sockets) {
    socket.on('message', (data) => {
      const at = performance.now();
      let frame: { id?: unknown; error?: { code?: number; message?: string } };
      try {
        frame = JSON.parse(data.toString()) as typeof frame;
      } catch {
        return;
      }
      if (typeof frame.id !== 'number') return; // notifications
      const request = pending.get(frame.id);
      if (request === undefined) return;
      pending.delete(frame.id);
      if (request.isRecorded) {
        completed += 1;
        const micros = (at - request.from) * 1000;
        overall.record(micros);
        perKind[request.kind]!.histogram.record(micros);
        if (frame.error !== undefined) {
          const code = String(frame.error.code ?? 'unknown');
          errors[code] = (errors[code] ?? 0) + 1;
          errorMessages[code] ??= String(frame.error.message ?? '');
          perKind[request.kind]!.errors += 1;
          errorCount += 1;
        }
      }
      request.resolve?.();
    });
  }

  const send = (socket: WebSocket, kind: number, from: number, isRecorded: boolean, resolve?: () => void): void => {
    const id = nextId++;
    pending.set(id, { kind, from, isRecorded, ...(resolve ? { resolve } : {}) });
    if (isRecorded) recordedSent += 1;
    if (socket.readyState !== WebSocket.OPEN) {
      pending.delete(id);
      if (isRecorded) {
        errors.closed = (errors.closed ?? 0) + 1;
        errorMessages.closed ??= 'the connection was closed';
        errorCount += 1;
      }
      resolve?.();
      return;
    }
    socket.send(`${frames[kind]!.prefix}${id}}`);
  };

  const start = performance.now() + 20;
  const measureFrom = start + options.warmupMs;
  const end = measureFrom + options.durationMs;
  const ticker = setInterval(() => options.onTick?.({ elapsedMs: performance.now() - start, completed, errors: errorCount }), 1000);
  try {
    if (options.mode === 'open') {
      const interval = 1000 / options.ratePerSecond!;
      const total = Math.floor(((options.warmupMs + options.durationMs) / 1000) * options.ratePerSecond!);
      let index = 0;
      await new Promise<void>((resolve) => {
        const tick = (): void => {
          const now = performance.now();
          while (index < total && start + index * interval <= now) {
            const scheduled = start + index * interval;
            if (now - scheduled > 1) lateSends += 1;
            send(sockets[index % sockets.length]!, sequence[index % sequence.length]!, scheduled, scheduled >= measureFrom);
            index += 1;
          }
          if (index >= total) return resolve();
          // Timers are coarse (≥ 1 ms): sleep only when the next send is further away than that.
          const wait = start + index * interval - performance.now();
          if (wait > 2) setTimeout(tick, wait - 1.5);
          else setImmediate(tick);
        };
        tick();
      });
    } else {
      let turn = 0;
      await Promise.all(
        sockets.map(async (socket) => {
          while (performance.now() < end) {
            const from = performance.now();
            await new Promise<void>((resolve) => send(socket, sequence[turn++ % sequence.length]!, from, from >= measureFrom, resolve));
            if (options.thinkMs) await new Promise((resolve) => setTimeout(resolve, options.thinkMs));
          }
        }),
      );
    }
    // Stragglers get a grace period; what is still missing then is lost.
    const deadline = performance.now() + (options.graceMs ?? 5000);
    while ([...pending.values()].some((request) => request.isRecorded) && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  } finally {
    clearInterval(ticker);
    await Promise.all(sockets.map((socket) => close(socket)));
  }
  const measuredMs = options.durationMs;
  const lost = [...pending.values()].filter((request) => request.isRecorded).length;
  return {
    mode: options.mode,
    connections: options.connections,
    durationMs: options.durationMs,
    warmupMs: options.warmupMs,
    offeredPerSecond: options.mode === 'open' ? options.ratePerSecond! : null,
    achievedPerSecond: Math.round((completed / measuredMs) * 1000 * 10) / 10,
    sent: recordedSent,
    completed,
    errors,
    errorMessages,
    lost,
    lateSends,
    latencyMs: overall.summaryMs(),
    perMethod: Object.fromEntries(options.mix.map((kind, index) => [kind.method, { latencyMs: perKind[index]!.histogram.summaryMs(), errors: perKind[index]!.errors }])),
  };
}

function connect(url: string, apiKey: string | undefined): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers: apiKey === undefined ? {} : { authorization: `Bearer ${apiKey}` }, handshakeTimeout: 10_000 });
    socket.once('open', () => {
      socket.removeAllListeners('error');
      socket.on('error', () => undefined);
      resolve(socket);
    });
    socket.once('error', (error) => reject(new Error(`cannot connect to ${url}: ${error.message}`)));
    socket.once('unexpected-response', (_request, response) => {
      socket.terminate();
      reject(new Error(`cannot connect to ${url}: HTTP ${response.statusCode}${response.statusCode === 401 ? ' (give an API key with --api-key)' : ''}`));
    });
  });
}

function close(socket: WebSocket): Promise<void> {
  if (socket.readyState === WebSocket.CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.terminate();
      resolve();
    }, 1000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.close(1000);
  });
}
