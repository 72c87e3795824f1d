/**
 * chat: `persona.chat` turns in a conversation that already holds 10,000 stored messages, against an
 * instant fake LLM (lib/instant-llm.ts). Server time per turn = the client's round trip minus the time
 * the request spent inside the fake; with `stream: true`, the first `persona.chat.chunk` notification's
 * latency from the send. Turns run one after another on one connection (a person chatting).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import * as sourceApp from '../../src/app/app.js';
import * as sourceConfig from '../../src/config/schema.js';
import { seedText } from '../lib/chat-texts.js';
import { Histogram, type LatencySummary } from '../lib/histogram.js';
import { startInstantLlm, type LlmCall } from '../lib/instant-llm.js';
import { defaultPlacement, machineBusyMs, serverEntry, startPersonaServer } from '../lib/processes.js';
import { scrapeMetrics, stallsBetween, type StallSummary } from '../lib/server-metrics.js';
import { stagesBetween, type StageSummary } from '../lib/turn-stages.js';
import { fixed, printTable, writeResults } from '../lib/report.js';
import { benchDir, type SuiteOptions } from '../lib/setup.js';

const MODEL = 'llama3.1:8b';
const SESSION_ID = 'bench_chat_session';
const STORED_MESSAGES = 10_000;

export interface ChatRun {
  mode: 'plain' | 'streaming';
  turns: number;
  roundTripMs: LatencySummary;
  /** Time inside the fake for the turn's own calls (its embedding look-ups and its chat stream). */
  llmMs: LatencySummary;
  /** Calls to the fake per turn, the turn's own and background work (memory formation, summaries). */
  llmCallsPerTurn: number;
  /** The same calls per turn by what they were for (`kindOfCall`): the turn's chat, embeddings, each background task. */
  llmCallsByKind: Record<string, number>;
  /** Round trip minus time inside the fake LLM, per turn. */
  serverMs: LatencySummary;
  /**
   * `serverMs` minus the time the server's event loop waited, runnable, for a CPU held by other processes
   * during the turn: nearer the server's own latency on this shared VM, where the tail of `serverMs` is
   * mostly other processes' (load 2–13). This process's waits (the client's, the fake model's) stay in:
   * subtracting them too took more than the whole turn at load 15 (both wait at once when both are busy).
   */
  serverOwnMs: LatencySummary;
  /** Server time before the turn's chat request reached the LLM (store, history, memory recall, prompt), embedding calls excluded. */
  beforeLlmMs: LatencySummary;
  /** Server time from the end of the LLM stream to the answer (store the reply, score, respond). */
  afterLlmMs: LatencySummary;
  /** `processing_time` the server reported, in ms. */
  reportedMs: LatencySummary;
  /** Streaming only: send → first persona.chat.chunk. */
  firstChunkMs: LatencySummary | null;
  /**
   * Server CPU time per turn (user + system, from /proc), in ms: robust to a busy machine. Measured after
   * the background jobs the turns queued have run (`backlogMs`), so it includes them.
   */
  serverCpuMsPerTurn: number;
  /** The part of `serverCpuMsPerTurn` on the main thread (the event loop the turns run on); the rest is worker threads'. */
  loopCpuMsPerTurn: number;
  /** How long the background jobs still ran after the last turn's answer. */
  backlogMs: number;
  /** The server's event-loop delay, GC pauses and stalls over the mode's turns and their jobs (null without /metrics). */
  stalls: StallSummary | null;
  /** Median number of messages in the prompt sent to the LLM (history that fit the token budget + system). */
  promptMessages: number;
  /** The server's own per-stage timings of these turns (`persona_mcp_turn_stage_seconds`). */
  stages: StageSummary[];
  /** CPU used meanwhile by everything but the server and this process, in % of one core. */
  otherCpuPercent: number;
}

/** Writes the conversation's 10,000 messages through the real Store, as 5,000 past turns. */
/**
 * The fake-LLM time on a turn's critical path: its chat stream (the request whose body carries the
 * turn's marker as a chat) and the embedding look-ups of its text that came before it. Calls made by
 * background jobs meanwhile are not the turn's.
 */
export function criticalLlmMs(calls: LlmCall[], marker: string): number {
  const chat = calls.find((call) => call.path === '/api/chat' && call.body.includes(marker));
  if (chat === undefined) return 0;
  return chat.finished - chat.arrived + embeddingsBeforeMs(calls, chat, marker);
}

function embeddingsBeforeMs(calls: LlmCall[], chat: LlmCall, marker: string): number {
  return calls
    .filter((call) => call.path === '/api/embed' && call.arrived <= chat.arrived && call.body.includes(marker))
    .reduce((sum, call) => sum + (call.finished - call.arrived), 0);
}

/** The turn's server time split at its chat request: before it reached the LLM, and after the stream ended. */
function phasesOf(calls: LlmCall[], marker: string, timing: TurnTiming): { beforeMs: number; afterMs: number } | null {
  const chat = calls.find((call) => call.path === '/api/chat' && call.body.includes(marker));
  if (chat === undefined) return null;
  return { beforeMs: chat.arrived - timing.sentAt - embeddingsBeforeMs(calls, chat, marker), afterMs: timing.answeredAt - chat.finished };
}

/**
 * What a call to the fake was for, from its path and prompt: the turn's own chat (its marker), an
 * embedding, or a background task (recognised by its prompt's wording in src/domain).
 */
export function kindOfCall(call: LlmCall): string {
  if (call.path === '/api/embed') return 'embed';
  // A background task's instructions are in its last message; a turn's last message is the person's.
  const last = (JSON.parse(call.body) as { messages?: Array<{ content?: string }> }).messages?.at(-1)?.content ?? '';
  if (/^bench-(plain|streaming)-\d+: /.test(last)) return 'turn';
  if (last.endsWith('JSON:')) return 'appraisal';
  if (last.includes('poignancy')) return 'rating';
  if (last.includes('The number:')) return 'judgement';
  if (last.includes('"Fact:"')) return 'doc2query';
  if (last.startsWith('Summarise the following')) return 'summary';
  return 'other';
}

export function callsByKind(calls: readonly LlmCall[], turns: number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const call of calls) counts[kindOfCall(call)] = (counts[kindOfCall(call)] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).map(([kind, count]) => [kind, Math.round((count / turns) * 100) / 100]));
}

/** Messages in the prompt of the turn's chat call (system + the history that fit + the new message). */
function promptMessagesOf(calls: LlmCall[], marker: string): number {
  const chat = calls.find((call) => call.path === '/api/chat' && call.body.includes(marker));
  return chat === undefined ? 0 : ((JSON.parse(chat.body) as { messages?: unknown[] }).messages?.length ?? 0);
}

/**
 * The build under test's own `createCore` and config schema: a server built from another commit
 * (`PERSONA_BENCH_SERVER`) gets a database of its own schema version.
 */
async function buildUnderTest(): Promise<{ createCore: typeof sourceApp.createCore; configSchema: typeof sourceConfig.configSchema }> {
  if (process.env.PERSONA_BENCH_SERVER === undefined) return { createCore: sourceApp.createCore, configSchema: sourceConfig.configSchema };
  const dist = path.resolve(path.dirname(serverEntry()), '..');
  const app = (await import(pathToFileURL(path.join(dist, 'app', 'app.js')).href)) as typeof sourceApp;
  const config = (await import(pathToFileURL(path.join(dist, 'config', 'schema.js')).href)) as typeof sourceConfig;
  return { createCore: app.createCore, configSchema: config.configSchema };
}

export async function seed(dataDir: string, ollamaHost: string): Promise<void> {
  const { createCore, configSchema } = await buildUnderTest();
  const core = await createCore(configSchema.parse({ dataDir, logLevel: 'silent', llm: { ollamaHost } }));
  try {
    const persona = core.services.personas.resolve('aria');
    const { state } = await core.services.personas.snapshot(persona);
    const start = Date.now() - STORED_MESSAGES * 60_000;
    for (let turn = 0; turn < STORED_MESSAGES / 2; turn++) {
      const now = start + turn * 120_000;
      const { conversation } = await core.store.appendUserTurn({
        sessionId: SESSION_ID,
        personaId: persona.id,
        content: seedText(turn),
        tokens: 30,
        now,
      });
      await core.store.appendAssistantTurn({
        conversationId: conversation.id,
        personaId: persona.id,
        content: `Aria hears you: ${seedText(turn + 1)}`,
        tokens: 35,
        promptTokens: 900,
        processingMs: 800,
        now: now + 60_000,
        personaState: { ...state, updatedAt: now + 60_000 },
      });
    }
    await core.store.setActivePersona(SESSION_ID, persona.id, Date.now());
  } finally {
    await core.close();
  }
}

export interface TurnTiming {
  /** performance.now() at send and at the final answer (the fake LLM runs on the same clock). */
  sentAt: number;
  answeredAt: number;
  roundTripMs: number;
  firstChunkMs: number | null;
  reportedMs: number;
  /** The `persona.chat.chunk` deltas received, in order, and the final answer frame's length in bytes. */
  deltas: string[];
  resultBytes: number;
}

export class ChatClient {
  private nextId = 1;
  private constructor(private readonly socket: WebSocket) {}

  static async connect(url: string): Promise<ChatClient> {
    const socket = new WebSocket(`${url}?session_id=${SESSION_ID}`, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return new ChatClient(socket);
  }

  turn(message: string, isStreaming: boolean): Promise<TurnTiming> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      let firstChunkMs: number | null = null;
      const deltas: string[] = [];
      const started = performance.now();
      const onMessage = (data: WebSocket.RawData): void => {
        const text = data.toString();
        const frame = JSON.parse(text) as {
          id?: number;
          method?: string;
          params?: { delta?: string };
          result?: { processing_time: number };
          error?: unknown;
        };
        if (frame.method === 'persona.chat.chunk') {
          firstChunkMs ??= performance.now() - started;
          deltas.push(frame.params?.delta ?? '');
          return;
        }
        if (frame.id !== id) return;
        const answeredAt = performance.now();
        this.socket.off('message', onMessage);
        if (frame.error !== undefined || frame.result === undefined)
          return reject(new Error(`persona.chat failed: ${JSON.stringify(frame.error)}`));
        resolve({
          sentAt: started,
          answeredAt,
          roundTripMs: answeredAt - started,
          firstChunkMs,
          reportedMs: frame.result.processing_time * 1000,
          deltas,
          resultBytes: Buffer.byteLength(text),
        });
      };
      this.socket.on('message', onMessage);
      this.socket.send(
        JSON.stringify({ jsonrpc: '2.0', id, method: 'persona.chat', params: { message, ...(isStreaming ? { stream: true } : {}) } }),
      );
    });
  }

  /** One request/answer (not a turn): the result, or an error for an error answer. */
  request(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const onMessage = (data: WebSocket.RawData): void => {
        const frame = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: unknown };
        if (frame.id !== id) return;
        this.socket.off('message', onMessage);
        if (frame.error !== undefined) reject(new Error(`${method} failed: ${JSON.stringify(frame.error)}`));
        else resolve(frame.result);
      };
      this.socket.on('message', onMessage);
      this.socket.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  /**
   * Waits (at most `timeoutMs`) until the server's background jobs that are due have run, so the CPU
   * and LLM calls measured per turn include the work the turns queued (formation, judgement), not a
   * backlog left for after the measurement. Returns how long it waited.
   */
  async waitForJobs(timeoutMs = 60_000): Promise<number> {
    const started = performance.now();
    while (performance.now() - started < timeoutMs) {
      const status = (await this.request('system.status')) as { jobs?: { due: number; running: number } | null };
      if (status.jobs == null || (status.jobs.due === 0 && status.jobs.running === 0)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return performance.now() - started;
  }

  close(): void {
    this.socket.close();
  }
}

export async function runChatSuite(options: SuiteOptions): Promise<ChatRun[]> {
  const placement = defaultPlacement(options.isPinned);
  // PERSONA_BENCH_CHAT_TURNS: more turns per mode for a p99 that is not one turn's (150 turns: the 2nd worst).
  const turns = Number(process.env.PERSONA_BENCH_CHAT_TURNS ?? (options.quick ? 40 : 150));
  const warmup = options.quick ? 15 : 50;
  const llm = await startInstantLlm([MODEL, 'nomic-embed-text:latest']);
  const dir = benchDir('chat');
  const seedStarted = performance.now();
  await seed(dir.dataDir, llm.url);
  process.stderr.write(`  chat: seeded ${STORED_MESSAGES} messages in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s\n`);
  const server = await startPersonaServer({
    dataDir: dir.dataDir,
    configFile: dir.configFile,
    ollamaHost: llm.url,
    cpus: placement.serverCpus,
    nodeFlags: options.serverNodeFlags,
  });
  const runs: ChatRun[] = [];
  try {
    const client = await ChatClient.connect(server.url);
    for (let index = 0; index < warmup; index++) await client.turn(`warming up ${index}: ${seedText(index)}`, index % 2 === 1);
    // The warm-up's background jobs run out before the first mode's CPU reading, or plain would pay for them.
    await client.waitForJobs();
    for (const mode of ['plain', 'streaming'] as const) {
      const roundTrip = new Histogram();
      const llmTime = new Histogram();
      const serverTime = new Histogram();
      const serverOwnTime = new Histogram();
      const reported = new Histogram();
      const firstChunk = new Histogram();
      const beforeLlm = new Histogram();
      const afterLlm = new Histogram();
      const prompts: number[] = [];
      const metricsBefore = await scrapeMetrics(server.url);
      const cpuBefore = server.cpuMs();
      const loopCpuBefore = server.loopCpuMs();
      const machineBefore = machineBusyMs();
      const ownBefore = process.cpuUsage();
      const startedAt = performance.now();
      const callsBefore = llm.calls.length;
      for (let index = 0; index < turns; index++) {
        const marker = `bench-${mode}-${index}`;
        const llmBefore = llm.calls.length;
        const waitBefore = server.runqueueWaitMs();
        const timing = await client.turn(`${marker}: ${seedText(index + 11)}`, mode === 'streaming');
        const waitedMs = server.runqueueWaitMs() - waitBefore;
        const insideLlm = criticalLlmMs(llm.calls.slice(llmBefore), marker);
        const phases = phasesOf(llm.calls.slice(llmBefore), marker, timing);
        if (phases !== null) {
          beforeLlm.record(phases.beforeMs * 1000);
          afterLlm.record(phases.afterMs * 1000);
        }
        prompts.push(promptMessagesOf(llm.calls.slice(llmBefore), marker));
        roundTrip.record(timing.roundTripMs * 1000);
        llmTime.record(insideLlm * 1000);
        serverTime.record((timing.roundTripMs - insideLlm) * 1000);
        serverOwnTime.record(Math.max(0, timing.roundTripMs - insideLlm - waitedMs) * 1000);
        reported.record(timing.reportedMs * 1000);
        if (timing.firstChunkMs !== null) firstChunk.record(timing.firstChunkMs * 1000);
      }
      const backlogMs = await client.waitForJobs();
      const serverCpuMs = server.cpuMs() - cpuBefore;
      const loopCpuMs = server.loopCpuMs() - loopCpuBefore;
      const elapsedMs = performance.now() - startedAt;
      const own = process.cpuUsage(ownBefore);
      const otherCpuMs = machineBusyMs() - machineBefore - serverCpuMs - (own.user + own.system) / 1000;
      const metricsAfter = await scrapeMetrics(server.url);
      const stages = stagesBetween(metricsBefore, metricsAfter);
      const serverCpuMsPerTurn = Math.round((serverCpuMs / turns) * 100) / 100;
      const llmCallsPerTurn = Math.round(((llm.calls.length - callsBefore) / turns) * 10) / 10;
      prompts.sort((a, b) => a - b);
      runs.push({
        mode,
        turns,
        roundTripMs: roundTrip.summaryMs(),
        llmMs: llmTime.summaryMs(),
        serverMs: serverTime.summaryMs(),
        serverOwnMs: serverOwnTime.summaryMs(),
        beforeLlmMs: beforeLlm.summaryMs(),
        afterLlmMs: afterLlm.summaryMs(),
        reportedMs: reported.summaryMs(),
        firstChunkMs: mode === 'streaming' ? firstChunk.summaryMs() : null,
        serverCpuMsPerTurn,
        loopCpuMsPerTurn: Math.round((loopCpuMs / turns) * 100) / 100,
        backlogMs: Math.round(backlogMs),
        stalls: stallsBetween(metricsBefore, metricsAfter),
        llmCallsPerTurn,
        llmCallsByKind: callsByKind(llm.calls.slice(callsBefore), turns),
        promptMessages: prompts[Math.floor(prompts.length / 2)] ?? 0,
        stages,
        otherCpuPercent: Math.max(0, Math.round((otherCpuMs / elapsedMs) * 100)),
      });
    }
    client.close();
  } finally {
    await server.stop();
    await llm.close();
    dir.remove();
  }

  printTable(
    `chat: persona.chat turns, ${STORED_MESSAGES.toLocaleString('en')} stored messages in the conversation, instant fake LLM, server on CPU ${placement.serverCpus ?? 'any'} (ms)`,
    [
      'mode',
      'turns',
      'round trip p50',
      'p99',
      'LLM p50',
      'LLM calls/turn',
      'server p50',
      'server p99',
      'server p99.9',
      'own p50',
      'own p99',
      'before LLM p50',
      'after LLM p50',
      'first chunk p50',
      'first chunk p99',
      'srv cpu ms/turn',
      'loop cpu ms/turn',
      'jobs after s',
      'GCs/100 turns',
      'GC ms/turn',
      'loop delay p99',
      'prompt msgs',
      'other cpu%',
    ],
    runs.map((run) => [
      run.mode,
      run.turns,
      fixed(run.roundTripMs.p50),
      fixed(run.roundTripMs.p99),
      fixed(run.llmMs.p50),
      fixed(run.llmCallsPerTurn, 1),
      fixed(run.serverMs.p50),
      fixed(run.serverMs.p99),
      fixed(run.serverMs.p999),
      fixed(run.serverOwnMs.p50),
      fixed(run.serverOwnMs.p99),
      fixed(run.beforeLlmMs.p50),
      fixed(run.afterLlmMs.p50),
      run.firstChunkMs ? fixed(run.firstChunkMs.p50) : '-',
      run.firstChunkMs ? fixed(run.firstChunkMs.p99) : '-',
      fixed(run.serverCpuMsPerTurn),
      fixed(run.loopCpuMsPerTurn),
      fixed(run.backlogMs / 1000, 1),
      run.stalls ? fixed((run.stalls.gc.count * 100) / run.turns, 1) : '-',
      run.stalls ? fixed(run.stalls.gc.totalMs / run.turns) : '-',
      run.stalls ? fixed(run.stalls.loopDelayMs.p99) : '-',
      run.promptMessages,
      run.otherCpuPercent,
    ]),
  );
  for (const run of runs)
    process.stdout.write(
      `LLM calls per turn (${run.mode}): ${Object.entries(run.llmCallsByKind)
        .sort((a, b) => b[1] - a[1])
        .map(([kind, count]) => `${kind} ${count}`)
        .join(', ')}\n`,
    );
  const stageNames = [...new Set(runs.flatMap((run) => run.stages.map((stage) => stage.stage)))];
  printTable(
    'chat: where the server time of a turn goes (the server\'s persona_mcp_turn_stage_seconds; ms; after_turn runs after the answer)',
    ['stage', ...runs.flatMap((run) => [`${run.mode} p50`, 'p99', 'mean'])],
    stageNames.map((name) => [
      name,
      ...runs.flatMap((run) => {
        const stage = run.stages.find((candidate) => candidate.stage === name);
        return stage === undefined ? ['-', '-', '-'] : [fixed(stage.p50Ms), fixed(stage.p99Ms), fixed(stage.meanMs)];
      }),
    ]),
  );
  const file = writeResults('chat', options, { placement, storedMessages: STORED_MESSAGES, model: MODEL, runs });
  process.stdout.write(`wrote ${file}\n`);
  return runs;
}
