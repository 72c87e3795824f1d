/**
 * open-loop: a fixed offered rate (10,000 requests/s over 1,000 connections, persona.list and
 * persona.status alternating) whatever the server does; each request's latency runs from the time it
 * was *scheduled* to leave, so queueing behind a stall is counted rather than hidden (no coordinated
 * omission). The same schedule runs against the echo server for the floor.
 */
import { Histogram, type LatencySummary } from '../lib/histogram.js';
import { fetchResults, frameOf, LIST, STATUS } from '../lib/frames.js';
import { defaultPlacement, LoadWorker, machineBusyMs, startEchoServer, startPersonaServer, type ServerProcess } from '../lib/processes.js';
import { fixed, printTable, writeResults } from '../lib/report.js';
import { scrapeMetrics, stallsBetween, type StallSummary } from '../lib/server-metrics.js';
import { benchDir, delay, type SuiteOptions } from '../lib/setup.js';
import { closeAll, connectAll } from './rpc.js';

const CONNECTIONS = 1000;
const RATE = 10_000;

export interface OpenLoopRun {
  target: ServerProcess['kind'];
  connections: number;
  offeredPerSecond: number;
  achievedPerSecond: number;
  /** Requests that got no answer within 2 s after the schedule ended. */
  lost: number;
  /** Sends that left more than 1 ms after their scheduled time (the generator fell behind). */
  lateSends: number;
  latencyMs: LatencySummary;
  errors: number;
  serverCpuPercent: number;
  /** Server CPU time per request, in µs. */
  serverCpuUsPerRequest: number;
  loadCpuPercent: number;
  otherCpuPercent: number;
  /** Event-loop delay and GC pauses in the server during the run (null for the echo server). */
  stalls: StallSummary | null;
}

export async function runOpenLoopSuite(options: SuiteOptions): Promise<OpenLoopRun[]> {
  const placement = defaultPlacement(options.isPinned);
  const warmupMs = options.quick ? 1000 : 2000;
  const durationMs = options.quick ? 3000 : 10_000;
  const dir = benchDir('open-loop');
  const persona = await startPersonaServer({
    dataDir: dir.dataDir,
    configFile: dir.configFile,
    cpus: placement.serverCpus,
    nodeFlags: options.serverNodeFlags,
  });
  const methods = [LIST, STATUS];
  const echo = await startEchoServer(await fetchResults(persona.url, methods), placement.serverCpus);
  const worker = await LoadWorker.start(placement.loadCpus);
  const runs: OpenLoopRun[] = [];
  try {
    for (const server of [persona, echo]) {
      await connectAll([worker], server.url, CONNECTIONS);
      const metricsBefore = await scrapeMetrics(server.url);
      const cpuBefore = server.cpuMs();
      const machineBefore = machineBusyMs();
      const started = performance.now();
      const answer = await worker.run(
        { type: 'open-loop', frames: methods.map(frameOf), ratePerSecond: RATE, warmupMs, durationMs },
        'load-done',
        warmupMs + durationMs + 30_000,
      );
      const elapsedMs = performance.now() - started;
      const serverCpuMs = server.cpuMs() - cpuBefore;
      const stalls = stallsBetween(metricsBefore, await scrapeMetrics(server.url));
      const serverCpu = (serverCpuMs / elapsedMs) * 100;
      const machineCpu = ((machineBusyMs() - machineBefore) / elapsedMs) * 100;
      const loadCpu = (answer.cpuMs / elapsedMs) * 100;
      const run: OpenLoopRun = {
        target: server.kind,
        connections: CONNECTIONS,
        offeredPerSecond: RATE,
        achievedPerSecond: Math.round((answer.completed / durationMs) * 1000),
        lost: answer.sent - answer.completed,
        lateSends: answer.lateSends,
        latencyMs: Histogram.from([answer.latency]).summaryMs(),
        errors: answer.errors,
        serverCpuPercent: Math.round(serverCpu),
        serverCpuUsPerRequest: Math.round((serverCpuMs * 1000) / answer.sentTotal),
        loadCpuPercent: Math.round(loadCpu),
        otherCpuPercent: Math.max(0, Math.round(machineCpu - serverCpu - loadCpu)),
        stalls,
      };
      if (answer.firstError) process.stderr.write(`  open-loop ${server.kind}: first error ${answer.firstError}\n`);
      runs.push(run);
      process.stderr.write(`  open-loop ${server.kind}: p99 ${run.latencyMs.p99} ms at ${run.achievedPerSecond}/s\n`);
      await closeAll([worker]);
      await delay(200);
    }
  } finally {
    await worker.stop();
    await persona.stop();
    await echo.stop();
    dir.remove();
  }

  printTable(
    `open-loop: ${RATE.toLocaleString('en')} requests/s offered over ${CONNECTIONS.toLocaleString('en')} connections for ${durationMs / 1000} s (latency from the scheduled send time)`,
    [
      'server',
      'offered/s',
      'achieved/s',
      'lost',
      'late sends',
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
    ],
    runs.map((run) => [
      run.target,
      run.offeredPerSecond,
      run.achievedPerSecond,
      run.lost,
      run.lateSends,
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
    ]),
  );
  const file = writeResults('open-loop', options, { placement, warmupMs, durationMs, runs });
  process.stdout.write(`wrote ${file}\n`);
  return runs;
}
