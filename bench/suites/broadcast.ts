/**
 * broadcast: 1,000 subscribers (WebSocket connections of this process) watch one group conversation
 * between Aria and Kira, run by the compiled server against the instant fake Ollama. For each turn:
 * the time from the turn's end (the stored message's `created_at`, the server's clock, the same
 * machine) to the moment the **last** subscriber has it, and each delivery's latency; and the server's
 * CPU per delivered notification, net of a run with one subscriber (so that generating the turns —
 * prompts, the LLM stream, storage, background jobs — is not counted as broadcasting).
 */
import WebSocket from 'ws';
import { startInstantLlm } from '../lib/instant-llm.js';
import { defaultPlacement, startPersonaServer, type ServerProcess } from '../lib/processes.js';
import { fixed, printTable, writeResults } from '../lib/report.js';
import { benchDir, delay, type SuiteOptions } from '../lib/setup.js';
import { writeFileSync, readFileSync } from 'node:fs';

interface Percentiles {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface BroadcastRun {
  subscribers: number;
  turns: number;
  /** Notifications delivered to subscribers in the measured window (turns, speaker, status, end). */
  delivered: number;
  /** Per turn: from `created_at` to the last subscriber's receipt, ms. */
  lastReceiptMs: Percentiles;
  /** Every (turn, subscriber) delivery, ms. */
  deliveryMs: Percentiles;
  serverCpuMs: number;
  /** Subscribers that missed a turn (should be 0). */
  missed: number;
}

function percentiles(values: number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? Number.NaN };
}

/** A minimal JSON-RPC connection: requests by id, notifications to a callback. */
class Connection {
  private nextId = 1;
  private readonly pending = new Map<number, (frame: { result?: unknown; error?: unknown }) => void>();
  onNotification: (method: string, params: Record<string, unknown>, receivedAt: number) => void = () => {};

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const receivedAt = Date.now();
      const frame = JSON.parse(data.toString()) as { id?: number; method?: string; params?: Record<string, unknown>; result?: unknown; error?: unknown };
      if (frame.method !== undefined) this.onNotification(frame.method, frame.params ?? {}, receivedAt);
      else if (typeof frame.id === 'number') this.pending.get(frame.id)?.(frame);
    });
  }

  static open(url: string): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { perMessageDeflate: false });
      socket.once('open', () => resolve(new Connection(socket)));
      socket.once('error', reject);
    });
  }

  call(method: string, params: Record<string, unknown> = {}): Promise<any> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, (frame) => {
        this.pending.delete(id);
        if (frame.error !== undefined) reject(new Error(`${method}: ${JSON.stringify(frame.error)}`));
        else resolve(frame.result);
      });
      this.socket.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  close(): void {
    this.socket.close();
  }
}

/** Opens `count` connections, at most 100 handshakes in flight. */
async function openMany(url: string, count: number): Promise<Connection[]> {
  const connections: Connection[] = [];
  for (let start = 0; start < count; start += 100) {
    connections.push(...(await Promise.all(Array.from({ length: Math.min(100, count - start) }, () => Connection.open(url)))));
  }
  return connections;
}

async function runOnce(subscribers: number, turns: number, options: SuiteOptions): Promise<BroadcastRun> {
  const dir = benchDir('broadcast');
  const llm = await startInstantLlm(['llama3.1:8b', 'nomic-embed-text:latest']);
  // A short pause between turns so that each turn's deliveries finish before the next one starts.
  const config = JSON.parse(readFileSync(dir.configFile, 'utf8')) as Record<string, unknown>;
  writeFileSync(dir.configFile, JSON.stringify({ ...config, social: { groupTurnDelayMs: 300, groupMaxTurns: 200 } }));
  const placement = defaultPlacement(options.isPinned);
  let server: ServerProcess | null = null;
  let connections: Connection[] = [];
  try {
    server = await startPersonaServer({ dataDir: dir.dataDir, configFile: dir.configFile, ollamaHost: llm.url, cpus: placement.serverCpus, nodeFlags: options.serverNodeFlags });
    const control = await Connection.open(server.url);
    const started = await control.call('conversation.start', { personas: ['aria', 'kira'], topic: 'the oldest song in the world', max_turns: turns, auto_run: false });
    const conversationId = started.conversation_id as string;
    connections = await openMany(server.url, subscribers);
    /** message id → created_at (ms) and each subscriber's receipt time. */
    const turnsSeen = new Map<number, { createdAt: number; receipts: number[] }>();
    let delivered = 0;
    let ended = 0;
    let allEnded: () => void = () => {};
    const finished = new Promise<void>((resolve) => (allEnded = resolve));
    for (const connection of connections) {
      connection.onNotification = (method, params, receivedAt) => {
        delivered += 1;
        if (method === 'conversation.turn') {
          const message = params.message as { id: number; role: string; created_at: string };
          if (message.role !== 'assistant') return;
          const entry = turnsSeen.get(message.id) ?? { createdAt: Date.parse(message.created_at), receipts: [] };
          entry.receipts.push(receivedAt);
          turnsSeen.set(message.id, entry);
        } else if (method === 'conversation.ended') {
          ended += 1;
          if (ended === connections.length) allEnded();
        }
      };
      await connection.call('conversation.subscribe', { conversation_id: conversationId });
    }
    await delay(500);
    const cpuBefore = server.cpuMs();
    await control.call('conversation.resume', { conversation_id: conversationId });
    const timeout = delay(turns * 5_000 + 30_000).then(() => {
      throw new Error(`the group did not end within the time allowed (${ended}/${connections.length} subscribers saw the end)`);
    });
    await Promise.race([finished, timeout]);
    const serverCpuMs = server.cpuMs() - cpuBefore;
    const lastReceipts: number[] = [];
    const deliveries: number[] = [];
    let missed = 0;
    for (const entry of turnsSeen.values()) {
      missed += connections.length - entry.receipts.length;
      lastReceipts.push(Math.max(...entry.receipts) - entry.createdAt);
      for (const receipt of entry.receipts) deliveries.push(receipt - entry.createdAt);
    }
    control.close();
    return {
      subscribers,
      turns: turnsSeen.size,
      delivered,
      lastReceiptMs: percentiles(lastReceipts),
      deliveryMs: percentiles(deliveries),
      serverCpuMs,
      missed,
    };
  } finally {
    for (const connection of connections) connection.close();
    await server?.stop();
    await llm.close();
    dir.remove();
  }
}

export async function runBroadcastSuite(options: SuiteOptions): Promise<unknown> {
  const turns = options.quick ? 6 : 20;
  const subscribers = options.quick ? 200 : 1000;
  const baseline = await runOnce(1, turns, options);
  const loaded = await runOnce(subscribers, turns, options);
  // CPU the extra subscribers cost, per notification they received.
  const extraEvents = loaded.delivered - baseline.delivered;
  const cpuUsPerEvent = extraEvents > 0 ? ((loaded.serverCpuMs - baseline.serverCpuMs) * 1000) / extraEvents : Number.NaN;
  printTable(
    `broadcast: one group conversation (Aria and Kira, ${turns} turns, instant fake LLM), subscribers on one connection each`,
    ['subscribers', 'turns', 'delivered', 'last receipt p50 / p99 ms', 'delivery p50 / p99 ms', 'missed', 'server CPU ms'],
    [baseline, loaded].map((run) => [
      run.subscribers,
      run.turns,
      run.delivered,
      `${fixed(run.lastReceiptMs.p50, 0)} / ${fixed(run.lastReceiptMs.p99, 0)}`,
      `${fixed(run.deliveryMs.p50, 0)} / ${fixed(run.deliveryMs.p99, 0)}`,
      run.missed,
      fixed(run.serverCpuMs, 0),
    ]),
  );
  process.stdout.write(`server CPU per delivered notification (net of the 1-subscriber run): ${fixed(cpuUsPerEvent, 1)} µs\n`);
  const file = writeResults('broadcast', options, { baseline, loaded, cpuUsPerEvent });
  process.stdout.write(`wrote ${file}\n`);
  return { baseline, loaded, cpuUsPerEvent };
}
