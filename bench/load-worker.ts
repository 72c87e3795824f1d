/**
 * A load-generator process, driven by the bench over IPC (`process.send`). It owns a set of WebSocket
 * connections and runs one command at a time against them:
 *
 * - `connect`: opens `count` connections, at most `concurrency` handshakes in flight (the server's
 *   listen backlog is 511; flooding it turns SYN drops into 1 s retransmits, which measures the
 *   kernel, not the server);
 * - `closed-loop`: every connection sends a request, waits for its answer, sends the next;
 * - `open-loop`: requests leave on a fixed schedule whatever the answers do, and latency is measured
 *   from the *scheduled* send time, so a stalled server cannot hide its stall (coordinated omission);
 * - `close`: closes every connection.
 *
 * Frames are built by string concatenation and answers are matched by scanning for `"id":`, not by
 * JSON.parse: the generator must stay much cheaper than the server it measures.
 */
import WebSocket from 'ws';
import { Histogram, type HistogramSnapshot } from './lib/histogram.js';

export type WorkerCommand =
  | { type: 'connect'; url: string; count: number; concurrency: number }
  | { type: 'closed-loop'; frames: FrameTemplate[]; warmupMs: number; durationMs: number }
  | { type: 'open-loop'; frames: FrameTemplate[]; ratePerSecond: number; warmupMs: number; durationMs: number }
  | { type: 'status' }
  | { type: 'close' };

/** A request as `prefix + id + suffix`, e.g. `{"jsonrpc":"2.0","id":` + 7 + `,"method":"persona.list"}`. */
export interface FrameTemplate {
  prefix: string;
  suffix: string;
}

export type WorkerReply =
  | { type: 'ready' }
  | { type: 'connected'; opened: number; failed: number; elapsedMs: number; handshake: HistogramSnapshot; firstError: string | null }
  | {
      type: 'load-done';
      completed: number;
      errors: number;
      sent: number;
      sentTotal: number;
      latency: HistogramSnapshot;
      measuredMs: number;
      cpuMs: number;
      lateSends: number;
      /** How late the generator itself sent (open loop only; empty for the closed loop). */
      sendLateness: HistogramSnapshot;
      /**
       * The measured part of the schedule, ms since the epoch (open loop only): to match the server's
       * stall log (`logStallsMs`) against the requests that were counted.
       */
      measuredFrom?: number;
      measuredTo?: number;
      /** Latency of the warm-up's requests (open loop only): what the first seconds under load cost. */
      warmupLatency?: HistogramSnapshot;
      firstError: string | null;
    }
  | { type: 'status'; open: number; closedUnexpectedly: number }
  | { type: 'closed' };

const sockets: WebSocket[] = [];
let closedUnexpectedly = 0;
let isClosing = false;

function reply(message: WorkerReply): void {
  process.send?.(message);
}

function connectOne(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = new WebSocket(url, { perMessageDeflate: false });
    socket.once('open', () => {
      sockets.push(socket);
      socket.on('close', () => {
        if (!isClosing) closedUnexpectedly += 1;
      });
      socket.on('error', () => undefined);
      resolve((performance.now() - started) * 1000);
    });
    socket.once('error', (error) => reject(error));
    socket.once('unexpected-response', (_request, response) => reject(new Error(`HTTP ${response.statusCode}`)));
  });
}

async function connect(url: string, count: number, concurrency: number): Promise<void> {
  const handshake = new Histogram();
  let failed = 0;
  let firstError: string | null = null;
  let next = 0;
  const started = performance.now();
  const lane = async (): Promise<void> => {
    while (next < count) {
      next += 1;
      try {
        handshake.record(await connectOne(url));
      } catch (error) {
        failed += 1;
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  reply({
    type: 'connected',
    opened: count - failed,
    failed,
    elapsedMs: performance.now() - started,
    handshake: handshake.snapshot(),
    firstError,
  });
}

/** The id of an answer: our servers write `{"jsonrpc":"2.0","id":N,...}`, so the scan stops early. */
function idOf(text: string): number {
  const at = text.indexOf('"id":');
  return at < 0 ? -1 : Number.parseInt(text.slice(at + 5, at + 25), 10);
}

function isError(text: string): boolean {
  // An answer's top-level error member comes right after the id; results never start with it.
  return text.includes('"error":{"code"');
}

function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

async function closedLoop(frames: FrameTemplate[], warmupMs: number, durationMs: number): Promise<void> {
  const latency = new Histogram();
  let completed = 0;
  let errors = 0;
  let sent = 0;
  let firstError: string | null = null;
  let isRecording = false;
  let isRunning = true;
  let nextId = 1;
  const startedAt = new Float64Array(sockets.length);
  const cpuBefore = { value: 0 };

  const listeners = sockets.map((socket, index) => {
    const frame = frames[index % frames.length]!;
    const send = (): void => {
      startedAt[index] = performance.now();
      sent += 1;
      socket.send(frame.prefix + nextId++ + frame.suffix);
    };
    const onMessage = (data: WebSocket.RawData): void => {
      const text = data.toString();
      if (isRecording) {
        latency.record((performance.now() - startedAt[index]!) * 1000);
        completed += 1;
        if (isError(text)) {
          errors += 1;
          firstError ??= text.slice(0, 300);
        }
      }
      if (isRunning) send();
    };
    socket.on('message', onMessage);
    return { socket, onMessage, send };
  });
  for (const listener of listeners) listener.send();
  await delay(warmupMs);
  isRecording = true;
  const measureStart = performance.now();
  cpuBefore.value = cpuMs();
  await delay(durationMs);
  isRecording = false;
  const measuredMs = performance.now() - measureStart;
  const cpu = cpuMs() - cpuBefore.value;
  isRunning = false;
  await delay(200); // let in-flight answers drain before the next command reuses the sockets
  for (const { socket, onMessage } of listeners) socket.off('message', onMessage);
  reply({
    type: 'load-done',
    completed,
    errors,
    sent,
    sentTotal: sent,
    latency: latency.snapshot(),
    measuredMs,
    cpuMs: cpu,
    lateSends: 0,
    sendLateness: new Histogram().snapshot(),
    firstError,
  });
}

async function openLoop(frames: FrameTemplate[], ratePerSecond: number, warmupMs: number, durationMs: number): Promise<void> {
  const latency = new Histogram();
  const warmupLatency = new Histogram();
  const sendLateness = new Histogram();
  const intervalMs = 1000 / ratePerSecond;
  const total = Math.floor(((warmupMs + durationMs) / 1000) * ratePerSecond);
  const firstRecorded = Math.floor((warmupMs / 1000) * ratePerSecond);
  let completed = 0;
  let errors = 0;
  let sent = 0;
  let lateSends = 0;
  let firstError: string | null = null;
  const start = performance.now() + 20;
  const scheduled = (id: number): number => start + id * intervalMs;
  const epochOffset = Date.now() - performance.now();

  const listeners = sockets.map((socket) => {
    const onMessage = (data: WebSocket.RawData): void => {
      const text = data.toString();
      const id = idOf(text);
      if (id < firstRecorded) {
        warmupLatency.record((performance.now() - scheduled(id)) * 1000);
        return;
      }
      latency.record((performance.now() - scheduled(id)) * 1000);
      completed += 1;
      if (isError(text)) {
        errors += 1;
        firstError ??= text.slice(0, 300);
      }
    };
    socket.on('message', onMessage);
    return { socket, onMessage };
  });

  let cpuAtMeasure = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (sent < total && scheduled(sent) <= now) {
        const id = sent;
        if (id === firstRecorded) cpuAtMeasure = cpuMs();
        // More than 1 ms behind schedule means the generator itself could not keep up.
        const lateMs = now - scheduled(id);
        if (lateMs > 1) lateSends += 1;
        if (id >= firstRecorded) sendLateness.record(lateMs * 1000);
        const frame = frames[id % frames.length]!;
        sockets[id % sockets.length]!.send(frame.prefix + id + frame.suffix);
        sent += 1;
      }
      if (sent < total) setImmediate(tick);
      else resolve();
    };
    tick();
  });
  // Answers still missing after a grace period count as lost (they would be infinite latency).
  const expected = total - firstRecorded;
  const deadline = performance.now() + 2000;
  while (completed < expected && performance.now() < deadline) await delay(10);
  const cpu = cpuMs() - cpuAtMeasure;
  for (const { socket, onMessage } of listeners) socket.off('message', onMessage);
  reply({
    type: 'load-done',
    completed,
    errors,
    sent: expected,
    sentTotal: sent,
    latency: latency.snapshot(),
    measuredMs: durationMs,
    cpuMs: cpu,
    lateSends,
    sendLateness: sendLateness.snapshot(),
    measuredFrom: Math.round(epochOffset + scheduled(firstRecorded)),
    measuredTo: Math.round(epochOffset + scheduled(total)),
    warmupLatency: warmupLatency.snapshot(),
    firstError,
  });
}

async function closeAll(): Promise<void> {
  isClosing = true;
  await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.readyState === WebSocket.CLOSED) return resolve();
          socket.once('close', () => resolve());
          socket.close(1000);
          setTimeout(() => {
            socket.terminate();
            resolve();
          }, 2000).unref();
        }),
    ),
  );
  sockets.length = 0;
  reply({ type: 'closed' });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

process.on('message', (message: WorkerCommand) => {
  const run = async (): Promise<void> => {
    switch (message.type) {
      case 'connect':
        return connect(message.url, message.count, message.concurrency);
      case 'closed-loop':
        return closedLoop(message.frames, message.warmupMs, message.durationMs);
      case 'open-loop':
        return openLoop(message.frames, message.ratePerSecond, message.warmupMs, message.durationMs);
      case 'status':
        return reply({ type: 'status', open: sockets.filter((socket) => socket.readyState === WebSocket.OPEN).length, closedUnexpectedly });
      case 'close':
        return closeAll();
    }
  };
  run().catch((error: unknown) => {
    process.stderr.write(`load worker: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
});
process.on('disconnect', () => process.exit(0));
reply({ type: 'ready' });
