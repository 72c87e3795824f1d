/**
 * Prometheus metrics (prom-client) for `GET /metrics`: connections, requests by method and outcome,
 * request latency, LLM tokens and turn time, chat queue depth, job queue depth and database size.
 * Gauges that mirror state are collected when scraped, so the hot path only bumps counters.
 */
import { readdir, stat } from 'node:fs/promises';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DomainEvent } from '../../ports/events.js';
import type { MeasuredRequest, MetricsExporter } from '../../ports/metrics.js';
import type { TurnStage } from '../../ports/turn-timing.js';
import type { LoopStall } from './loop-stalls.js';
import { RequestMetrics } from './request-metrics.js';

export interface MetricsSources {
  activeConnections(): number;
  llmQueue(): { running: number; queued: number; preempted: number; cluster?: { running: number; queued: number } };
  /** Database file size in bytes (may be async: read at scrape time). */
  databaseSizeBytes(): Promise<number>;
  /** Pending and running background jobs, when a job queue runs. */
  jobQueue?(): Promise<{ pending: number; running: number }>;
}

/** Latency buckets from 0.1 ms to 10 s: non-LLM requests live in the lowest ones, chat turns in the top. */
const LATENCY_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const LLM_BUCKETS_SECONDS = [0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120];
/** A turn's stages take from tens of microseconds (a cached read) to seconds (the model): fine at the low end. */
const STAGE_BUCKETS_SECONDS = [
  0.00005, 0.0001, 0.0002, 0.0003, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05,
  0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
];

/** Event-loop stalls from 10 ms (the watch's threshold) to seconds. */
const STALL_BUCKETS_SECONDS = [0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

const GAUGES_NAMED_LIKE_COUNTERS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/**
 * prom-client defaults whose collection costs the event loop time in proportion to the open connections,
 * on every scrape: `nodejs_active_handles` builds an array of every libuv handle object (10,000 sockets at
 * 10,000 connections) and groups them by class name; `process_open_fds` lists `/proc/self/fd` with a
 * synchronous `readdir`. With 1,000 connections they were ~1.5 ms of a 3.3 ms scrape, the first scrape 41 ms
 * (bench/README.md, round 6). `nodejs_active_resources{type}` stays and counts the same handles by type;
 * `process_open_fds` is collected again below with the listing done off the event loop.
 */
const DEFAULTS_COSTING_PER_CONNECTION = ['nodejs_active_handles', 'process_open_fds'];

/** Where Linux lists a process's open file descriptors (one entry each). */
const OPEN_FDS_DIR = '/proc/self/fd';

/**
 * How many file descriptors the process has open. Linux 6.2 and later give the count as the size of
 * `/proc/self/fd` (one `stat`, ~0.07 ms); listing the directory, which older kernels need (their size is
 * 0), costs ~1.5 ms of CPU at 2,000 descriptors (1,000 connections), paid on every scrape (bench/README.md,
 * round 7). The listing counts its own descriptor, hence the − 1. Null when neither works.
 */
export async function openFileDescriptors(): Promise<number | null> {
  const size = await stat(OPEN_FDS_DIR).then((info) => info.size, () => 0);
  if (size > 0) return size;
  const entries = await readdir(OPEN_FDS_DIR).catch(() => null);
  return entries === null ? null : entries.length - 1;
}

export class PrometheusMetrics implements MetricsExporter {
  readonly registry = new Registry();
  private readonly requests: RequestMetrics;
  private readonly llmTokens: Counter<'kind'>;
  private readonly llmTurnSeconds: Histogram;
  private readonly turnStageSeconds: Histogram<'stage'>;
  private readonly transcriptNotices: Counter;

  constructor(sources: MetricsSources, knownMethods: Iterable<string>) {
    const registers = [this.registry];
    // No prefix: stock Node.js dashboards query prom-client's own names (`process_cpu_seconds_total`,
    // `nodejs_eventloop_lag_seconds`, ...), and a prefix ending in `_process_` doubled them.
    collectDefaultMetrics({ register: this.registry });
    // prom-client's three `_total` gauges break the exposition rules (`promtool check metrics`: only
    // counters end in `_total`); their by-type gauges stay, and `sum(nodejs_active_handles)` gives the total.
    for (const name of GAUGES_NAMED_LIKE_COUNTERS) this.registry.removeSingleMetric(name);
    for (const name of DEFAULTS_COSTING_PER_CONNECTION) this.registry.removeSingleMetric(name);
    if (process.platform === 'linux') {
      new Gauge({
        name: 'process_open_fds',
        help: 'Number of open file descriptors.',
        registers,
        async collect() {
          const open = await openFileDescriptors();
          if (open !== null) this.set(open);
        },
      });
    }
    new Gauge({ name: 'persona_mcp_connections', help: 'Open WebSocket connections.', registers, collect() { this.set(sources.activeConnections()); } });
    // Counted on every request: plain numbers per method, made into families when scraped (request-metrics.ts).
    // Unknown method names come from clients: they are all counted as "unknown", so labels stay bounded.
    this.requests = new RequestMetrics(knownMethods, LATENCY_BUCKETS_SECONDS);
    this.requests.register(
      this.registry,
      { requests: 'persona_mcp_requests_total', duration: 'persona_mcp_request_duration_seconds' },
      { requests: 'JSON-RPC requests by method and outcome (ok or error kind).', duration: 'Time to handle a JSON-RPC request.' },
    );
    this.llmTokens = new Counter({ name: 'persona_mcp_llm_tokens_total', help: 'Tokens of stored chat turns (prompt and completion).', labelNames: ['kind'], registers });
    this.llmTurnSeconds = new Histogram({ name: 'persona_mcp_chat_turn_seconds', help: 'Wall time of chat turns that produced a reply.', buckets: LLM_BUCKETS_SECONDS, registers });
    this.turnStageSeconds = new Histogram({
      name: 'persona_mcp_turn_stage_seconds',
      help: 'Time of each stage of a persona turn (admission, store_user, history, energy, contributors and contributor_<name>, prompt, llm, store_reply, after_turn).',
      labelNames: ['stage'],
      buckets: STAGE_BUCKETS_SECONDS,
      registers,
    });
    this.transcriptNotices = new Counter({
      name: 'persona_mcp_transcript_notices_total',
      help: 'Transcript-updated notices put on MCP Streamable HTTP listen streams (2026-07-28), one per participant of each stored message; none while no stream is open.',
      registers,
    });
    new Gauge({
      name: 'persona_mcp_llm_queue',
      help: 'Chat turns running at the LLM backend and waiting for a slot.',
      labelNames: ['state'],
      registers,
      collect() {
        const queue = sources.llmQueue();
        this.set({ state: 'running' }, queue.running);
        this.set({ state: 'queued' }, queue.queued);
      },
    });
    new Counter({
      name: 'persona_mcp_llm_preemptions_total',
      help: 'Background LLM calls this node aborted to give their slot to a chat a person waits for (each runs again from the start).',
      registers,
      collect() {
        // The queue keeps the count; a scrape copies it (reset, then the running total).
        this.reset();
        this.inc(sources.llmQueue().preempted);
      },
    });
    new Gauge({
      name: 'persona_mcp_llm_cluster_queue',
      help: 'Chat turns running at the LLM backends and waiting for a slot on every node (several nodes sharing Redis; 0 on one node).',
      labelNames: ['state'],
      registers,
      collect() {
        const cluster = sources.llmQueue().cluster ?? { running: 0, queued: 0 };
        this.set({ state: 'running' }, cluster.running);
        this.set({ state: 'queued' }, cluster.queued);
      },
    });
    new Gauge({
      name: 'persona_mcp_database_size_bytes',
      help: 'Size of the SQLite database.',
      registers,
      async collect() {
        this.set(await sources.databaseSizeBytes());
      },
    });
    if (sources.jobQueue) {
      const jobQueue = sources.jobQueue;
      new Gauge({
        name: 'persona_mcp_jobs',
        help: 'Background jobs pending and running.',
        labelNames: ['state'],
        registers,
        async collect() {
          const stats = await jobQueue();
          this.set({ state: 'pending' }, stats.pending);
          this.set({ state: 'running' }, stats.running);
        },
      });
    }
  }

  /**
   * Counts the event-loop stalls a `LoopStallWatch` reports, by cause (`busy`: the server's own work;
   * `starved`: the process did not get a CPU), in `persona_mcp_event_loop_stall_seconds`.
   */
  observeStalls(watch: { subscribe(listener: (stall: LoopStall) => void): void }): void {
    const stalls = new Histogram({
      name: 'persona_mcp_event_loop_stall_seconds',
      help: 'Event-loop stalls of 10 ms or more, by cause: busy (the process used the CPU meanwhile: its code, a synchronous call, GC) or starved (it did not get a CPU).',
      labelNames: ['cause'],
      buckets: STALL_BUCKETS_SECONDS,
      registers: [this.registry],
    });
    for (const cause of ['busy', 'starved']) stalls.zero({ cause });
    watch.subscribe((stall) => stalls.observe({ cause: stall.cause }, stall.stalledMs / 1000));
  }

  observeRequest(outcome: MeasuredRequest): void {
    this.requests.observe(outcome.method, outcome.outcome, outcome.durationMs / 1000);
  }

  /** One stage of one turn (stage names are fixed in code, contributor names included: bounded labels). */
  observeTurnStage(stage: TurnStage, ms: number): void {
    this.turnStageSeconds.observe({ stage }, ms / 1000);
  }

  observeTranscriptNotice(): void {
    this.transcriptNotices.inc();
  }

  observeEvent(event: DomainEvent): void {
    if (event.type !== 'messageStored' || event.message.role !== 'assistant') return;
    this.llmTokens.inc({ kind: 'completion' }, event.message.tokens);
    if (event.message.promptTokens !== null) this.llmTokens.inc({ kind: 'prompt' }, event.message.promptTokens);
    if (event.message.processingMs !== null) this.llmTurnSeconds.observe(event.message.processingMs / 1000);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
