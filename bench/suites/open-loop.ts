/**
 * open-loop: a fixed offered rate (10,000 requests/s over 1,000 connections, persona.list and
 * persona.status alternating) whatever the server does; each request's latency runs from the time it
 * was *scheduled* to leave, so queueing behind a stall is counted rather than hidden (no coordinated
 * omission). The same schedule runs against the echo server for the floor.
 *
 * The two servers take turns in 1 s segments (persona-mcp, echo, persona-mcp, ...; each with its own load
 * process and connections, the idle one waiting), and each server's figures are the sum of its segments.
 * On a machine shared with other work the load changes from second to second: run one after the other,
 * the two servers met different machines, and echo's row was no floor for persona-mcp's. Taking turns,
 * both meet the same minutes. Besides the latencies the suite prints how late the generator itself sent
 * (p99 of its lateness against the schedule: a tail the generator shares with the servers) and what
 * stalled the server: event-loop delay, GC pauses, and its stalls of 10 ms or more by cause (busy: it
 * ran; starved: it did not get the CPU), counted from 150 ms before each measured part (round 6: the first
 * warm-up's cold start had filled the column; round 7: the scrape that reads them no longer lands on the
 * measured requests). What the cold start costs is its own column: the latency p99 of each
 * server's first warm-up, its first seconds under load after start-up.
 */
import { Histogram, type HistogramSnapshot, type LatencySummary } from '../lib/histogram.js';
import { fetchResults, frameOf, LIST, STATUS } from '../lib/frames.js';
import { defaultPlacement, LoadWorker, machineBusyMs, startEchoServer, startPersonaServer, type ServerProcess } from '../lib/processes.js';
import { fixed, printTable, writeResults } from '../lib/report.js';
import { scrapeMetrics, stallsBetween, type StallSummary } from '../lib/server-metrics.js';
import { benchDir, delay, type SuiteOptions } from '../lib/setup.js';
import { closeAll, connectAll } from './rpc.js';

const CONNECTIONS = 1000;
const RATE = 10_000;
/**
 * Each turn of one server: measured time, and the unrecorded start of every turn after its first.
 * `PERSONA_BENCH_SEGMENT_MS=10000` runs each server in one sustained stretch instead (the method before
 * round 5, for a quiet machine: a tail that builds up over seconds of load shows there).
 */
const SEGMENT_MS = Number(process.env.PERSONA_BENCH_SEGMENT_MS ?? 1000);
const SEGMENT_WARMUP_MS = 250;
/** How long before the end of each warm-up the server's stall counters are read (see the scrape below). */
const SCRAPE_LEAD_MS = 150;

export interface OpenLoopRun {
  target: ServerProcess['kind'];
  connections: number;
  offeredPerSecond: number;
  achievedPerSecond: number;
  /** Requests that got no answer within 2 s after the schedule ended. */
  lost: number;
  /** Sends that left more than 1 ms after their scheduled time (the generator fell behind). */
  lateSends: number;
  /** How late the generator sent the measured requests, against their schedule. */
  sendLatenessMs: LatencySummary;
  latencyMs: LatencySummary;
  errors: number;
  serverCpuPercent: number;
  /** Server CPU time per request, in µs. */
  serverCpuUsPerRequest: number;
  loadCpuPercent: number;
  otherCpuPercent: number;
  /**
   * Event-loop delay (the worst segment's), GC pauses and stalls (summed) in the server during the
   * measured parts of its segments (from 150 ms before the end of each warm-up: a scrape then).
   */
  stalls: StallSummary | null;
  /**
   * Latency of the first warm-up, the server's first seconds under load after start-up (cold code, first
   * reads): not in `latencyMs`, shown beside it so that what a first user meets is not hidden.
   */
  firstLoadMs: LatencySummary | null;
  /** Measured segments the figures add up. */
  segments: number;
  /** Each measured segment's schedule, ms since the epoch (to match against the server's stall log). */
  windows: Array<[number, number]>;
}

/** One server's segments added up. */
class Tally {
  readonly latency: HistogramSnapshot[] = [];
  readonly lateness: HistogramSnapshot[] = [];
  elapsedMs = 0;
  serverCpuMs = 0;
  machineCpuMs = 0;
  loadCpuMs = 0;
  sent = 0;
  sentTotal = 0;
  completed = 0;
  lateSends = 0;
  errors = 0;
  segments = 0;
  readonly windows: Array<[number, number]> = [];
  firstLoad: HistogramSnapshot | null = null;
  firstError: string | null = null;
  stalls: StallSummary | null = null;

  addStalls(segment: StallSummary | null): void {
    if (segment === null) return;
    const total = this.stalls;
    if (total === null) {
      this.stalls = segment;
      return;
    }
    total.loopDelayMs = {
      p50: Math.max(total.loopDelayMs.p50, segment.loopDelayMs.p50),
      p99: Math.max(total.loopDelayMs.p99, segment.loopDelayMs.p99),
      max: Math.max(total.loopDelayMs.max, segment.loopDelayMs.max),
    };
    total.gc = {
      count: total.gc.count + segment.gc.count,
      totalMs: Math.round((total.gc.totalMs + segment.gc.totalMs) * 10) / 10,
      over10ms: total.gc.over10ms + segment.gc.over10ms,
      majorCount: total.gc.majorCount + segment.gc.majorCount,
    };
    if (total.stalls !== null && segment.stalls !== null) {
      for (const cause of ['busy', 'starved'] as const) {
        total.stalls[cause] = {
          count: total.stalls[cause].count + segment.stalls[cause].count,
          totalMs: Math.round((total.stalls[cause].totalMs + segment.stalls[cause].totalMs) * 10) / 10,
        };
      }
    }
  }
}

export async function runOpenLoopSuite(options: SuiteOptions): Promise<OpenLoopRun[]> {
  const placement = defaultPlacement(options.isPinned);
  const warmupMs = options.quick ? 1000 : 2000;
  const durationMs = options.quick ? 3000 : 10_000;
  const segments = Math.max(1, Math.round(durationMs / SEGMENT_MS));
  const dir = benchDir('open-loop');
  const persona = await startPersonaServer({
    dataDir: dir.dataDir,
    configFile: dir.configFile,
    cpus: placement.serverCpus,
    nodeFlags: options.serverNodeFlags,
  });
  const methods = [LIST, STATUS];
  const frames = methods.map(frameOf);
  const echo = await startEchoServer(await fetchResults(persona.url, methods), placement.serverCpus);
  const servers = [persona, echo];
  const workers = await Promise.all(servers.map(() => LoadWorker.start(placement.loadCpus)));
  const tallies = servers.map(() => new Tally());
  const runs: OpenLoopRun[] = [];
  try {
    for (const [index, server] of servers.entries()) await connectAll([workers[index]!], server.url, CONNECTIONS);
    // A process's first /metrics render runs cold (~40 ms): done here, before any load, not in a segment.
    for (const server of servers) await scrapeMetrics(server.url);
    for (let segment = 0; segment < segments; segment++) {
      // Alternate which server goes first, so neither always follows the other's load.
      const order = segment % 2 === 0 ? [0, 1] : [1, 0];
      for (const index of order) {
        const server = servers[index]!;
        const tally = tallies[index]!;
        const cpuBefore = server.cpuMs();
        const machineBefore = machineBusyMs();
        const started = performance.now();
        const segmentWarmupMs = segment === 0 ? warmupMs : SEGMENT_WARMUP_MS;
        const running = workers[index]!.run(
          { type: 'open-loop', frames, ratePerSecond: RATE, warmupMs: segmentWarmupMs, durationMs: SEGMENT_MS },
          'load-done',
          warmupMs + SEGMENT_MS + 30_000,
        );
        // Stalls and GC are counted from shortly before the end of the warm-up: the warm-up's own, the first
        // one's above all, are not the measured requests'. The scrape itself stalls the server for a few ms
        // (round 7: 1-9 ms under this load, the first one of a process 40 ms): taken at the end of the
        // warm-up it fell on the first measured requests of every segment, so it is taken SCRAPE_LEAD_MS
        // before, and its backlog drains within the warm-up.
        await delay(segmentWarmupMs - SCRAPE_LEAD_MS);
        const metricsBefore = await scrapeMetrics(server.url);
        const answer = await running;
        tally.elapsedMs += performance.now() - started;
        tally.serverCpuMs += server.cpuMs() - cpuBefore;
        tally.machineCpuMs += machineBusyMs() - machineBefore;
        tally.addStalls(stallsBetween(metricsBefore, await scrapeMetrics(server.url)));
        tally.loadCpuMs += answer.cpuMs;
        tally.latency.push(answer.latency);
        tally.lateness.push(answer.sendLateness);
        tally.sent += answer.sent;
        tally.sentTotal += answer.sentTotal;
        tally.completed += answer.completed;
        tally.lateSends += answer.lateSends;
        tally.errors += answer.errors;
        tally.segments += 1;
        if (segment === 0 && answer.warmupLatency !== undefined) tally.firstLoad = answer.warmupLatency;
        if (answer.measuredFrom !== undefined && answer.measuredTo !== undefined) tally.windows.push([answer.measuredFrom, answer.measuredTo]);
        tally.firstError ??= answer.firstError;
      }
    }
    for (const [index, server] of servers.entries()) {
      const tally = tallies[index]!;
      const serverCpu = (tally.serverCpuMs / tally.elapsedMs) * 100;
      const loadCpu = (tally.loadCpuMs / tally.elapsedMs) * 100;
      const run: OpenLoopRun = {
        target: server.kind,
        connections: CONNECTIONS,
        offeredPerSecond: RATE,
        achievedPerSecond: Math.round((tally.completed / (tally.segments * SEGMENT_MS)) * 1000),
        lost: tally.sent - tally.completed,
        lateSends: tally.lateSends,
        sendLatenessMs: Histogram.from(tally.lateness).summaryMs(),
        latencyMs: Histogram.from(tally.latency).summaryMs(),
        errors: tally.errors,
        serverCpuPercent: Math.round(serverCpu),
        serverCpuUsPerRequest: Math.round((tally.serverCpuMs * 1000) / tally.sentTotal),
        loadCpuPercent: Math.round(loadCpu),
        otherCpuPercent: Math.max(0, Math.round(((tally.machineCpuMs / tally.elapsedMs) * 100) - serverCpu - loadCpu)),
        stalls: tally.stalls,
        firstLoadMs: tally.firstLoad === null ? null : Histogram.from([tally.firstLoad]).summaryMs(),
        segments: tally.segments,
        windows: tally.windows,
      };
      if (tally.firstError) process.stderr.write(`  open-loop ${server.kind}: first error ${tally.firstError}\n`);
      runs.push(run);
      process.stderr.write(`  open-loop ${server.kind}: p99 ${run.latencyMs.p99} ms at ${run.achievedPerSecond}/s\n`);
    }
    for (const worker of workers) await closeAll([worker]);
    await delay(200);
  } finally {
    for (const worker of workers) await worker.stop();
    await persona.stop();
    await echo.stop();
    dir.remove();
  }

  printTable(
    `open-loop: ${RATE.toLocaleString('en')} requests/s offered over ${CONNECTIONS.toLocaleString('en')} connections for ${durationMs / 1000} s, ` +
      `the servers taking turns in ${SEGMENT_MS / 1000} s segments (latency from the scheduled send time)`,
    [
      'server',
      'offered/s',
      'achieved/s',
      'lost',
      'late sends',
      'gen late p99 ms',
      'p50 ms',
      'p90 ms',
      'p99 ms',
      'p99.9 ms',
      'max ms',
      'srv cpu%',
      'srv µs/req',
      'load cpu%',
      'other cpu%',
      'errors',
      'loop delay p99 / max ms',
      'GC pauses (>10 ms) / total ms',
      'stalls busy / starved (ms)',
      `first ${warmupMs / 1000} s p99 / max ms`,
    ],
    runs.map((run) => [
      run.target,
      run.offeredPerSecond,
      run.achievedPerSecond,
      run.lost,
      run.lateSends,
      fixed(run.sendLatenessMs.p99),
      fixed(run.latencyMs.p50),
      fixed(run.latencyMs.p90),
      fixed(run.latencyMs.p99),
      fixed(run.latencyMs.p999),
      fixed(run.latencyMs.max),
      run.serverCpuPercent,
      run.serverCpuUsPerRequest,
      run.loadCpuPercent,
      run.otherCpuPercent,
      run.errors,
      run.stalls ? `${fixed(run.stalls.loopDelayMs.p99)} / ${fixed(run.stalls.loopDelayMs.max)}` : '—',
      run.stalls ? `${run.stalls.gc.count} (${run.stalls.gc.over10ms}) / ${fixed(run.stalls.gc.totalMs)}` : '—',
      run.stalls?.stalls
        ? `${run.stalls.stalls.busy.count} (${fixed(run.stalls.stalls.busy.totalMs)}) / ${run.stalls.stalls.starved.count} (${fixed(run.stalls.stalls.starved.totalMs)})`
        : '—',
      run.firstLoadMs ? `${fixed(run.firstLoadMs.p99)} / ${fixed(run.firstLoadMs.max)}` : '—',
    ]),
  );
  const file = writeResults('open-loop', options, { placement, warmupMs, durationMs, segmentMs: SEGMENT_MS, segmentWarmupMs: SEGMENT_WARMUP_MS, runs });
  process.stdout.write(`wrote ${file}\n`);
  return runs;
}
