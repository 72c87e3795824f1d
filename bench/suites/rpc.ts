/**
 * rpc: closed-loop `persona.list` and `persona.status` from 100 and 1,000 connections, against
 * persona-mcp and, in the same run, against the bare echo server answering the same frames with the
 * same bytes. Each connection keeps exactly one request in flight.
 */
import { Histogram, type LatencySummary } from '../lib/histogram.js';
import { fetchResults, frameOf, LIST, STATUS, type BenchMethod } from '../lib/frames.js';
import {
  defaultPlacement,
  LoadWorker,
  machineBusyMs,
  split,
  startEchoServer,
  startPersonaServer,
  type ServerProcess,
} from '../lib/processes.js';
import { fixed, printTable, writeResults } from '../lib/report.js';
import { benchDir, delay, type SuiteOptions } from '../lib/setup.js';

export interface LoadRun {
  target: ServerProcess['kind'];
  connections: number;
  method: string;
  requestsPerSecond: number;
  latencyMs: LatencySummary;
  errors: number;
  firstError: string | null;
  /** CPU the server used during the measured window, in % of one core. */
  serverCpuPercent: number;
  /** CPU the load generator used, in % of one core (near 100 % means it, not the server, was the limit). */
  loadCpuPercent: number;
  /**
   * Server CPU time per request answered in the measured window, in µs: robust to a busy machine. The
   * warm-up is left out: it holds the JIT compiling the server's code, a one-time cost that a bigger
   * program pays more of and a 1.5 s quick run cannot amortise (it made persona-mcp's first run of each
   * suite look up to 2× dearer than the next).
   */
  serverCpuUsPerRequest: number;
  /** CPU used by everything else on the machine meanwhile, in % of one core: other work skews the numbers. */
  otherCpuPercent: number;
}

/** One closed-loop measurement over already-open connections. */
export async function closedLoop(
  workers: LoadWorker[],
  server: ServerProcess,
  connections: number,
  method: BenchMethod,
  options: SuiteOptions,
): Promise<LoadRun> {
  const warmupMs = options.quick ? 500 : 1000;
  const durationMs = options.quick ? 1500 : 8000;
  // Server and machine CPU are read when the worker's warm-up ends and when its measured window ends
  // (timed from the command; the IPC hop is well under a millisecond against windows of seconds).
  const readAt = (ms: number): Promise<{ server: number; machine: number; at: number }> =>
    new Promise((resolve) => setTimeout(() => resolve({ server: server.cpuMs(), machine: machineBusyMs(), at: performance.now() }), ms));
  const windowStart = readAt(warmupMs);
  const windowEnd = readAt(warmupMs + durationMs);
  const answers = await Promise.all(
    workers.map((worker) => worker.run({ type: 'closed-loop', frames: [frameOf(method)], warmupMs, durationMs }, 'load-done')),
  );
  const [start, end] = await Promise.all([windowStart, windowEnd]);
  const elapsedMs = end.at - start.at;
  const serverCpuMs = end.server - start.server;
  const serverCpu = (serverCpuMs / elapsedMs) * 100;
  const machineCpu = ((end.machine - start.machine) / elapsedMs) * 100;
  const latency = Histogram.from(answers.map((answer) => answer.latency));
  const measuredMs = Math.max(...answers.map((answer) => answer.measuredMs));
  const completed = answers.reduce((sum, answer) => sum + answer.completed, 0);
  const loadCpu = answers.reduce((sum, answer) => sum + (answer.cpuMs / answer.measuredMs) * 100, 0);
  return {
    target: server.kind,
    connections,
    method: method.method,
    requestsPerSecond: Math.round((completed / measuredMs) * 1000),
    latencyMs: latency.summaryMs(),
    errors: answers.reduce((sum, answer) => sum + answer.errors, 0),
    firstError: answers.find((answer) => answer.firstError !== null)?.firstError ?? null,
    serverCpuPercent: Math.round(serverCpu),
    serverCpuUsPerRequest: Math.round((serverCpuMs * 1000 * (measuredMs / elapsedMs)) / Math.max(1, completed)),
    loadCpuPercent: Math.round(loadCpu),
    otherCpuPercent: Math.max(0, Math.round(machineCpu - serverCpu - loadCpu)),
  };
}

/** Connects `connections` spread over the workers; throws when any fails. */
export async function connectAll(workers: LoadWorker[], url: string, connections: number): Promise<void> {
  const shares = split(connections, workers.length);
  const answers = await Promise.all(
    workers.map((worker, index) => worker.run({ type: 'connect', url, count: shares[index]!, concurrency: 100 }, 'connected')),
  );
  const failed = answers.reduce((sum, answer) => sum + answer.failed, 0);
  if (failed > 0)
    throw new Error(`${failed} of ${connections} connections to ${url} failed: ${answers.find((answer) => answer.firstError)?.firstError}`);
}

export async function closeAll(workers: LoadWorker[]): Promise<void> {
  await Promise.all(workers.map((worker) => worker.run({ type: 'close' }, 'closed')));
}

export async function runRpcSuite(options: SuiteOptions): Promise<LoadRun[]> {
  const placement = defaultPlacement(options.isPinned);
  const dir = benchDir('rpc');
  const persona = await startPersonaServer({
    dataDir: dir.dataDir,
    configFile: dir.configFile,
    cpus: placement.serverCpus,
    nodeFlags: options.serverNodeFlags,
  });
  const methods = [LIST, STATUS];
  const echo = await startEchoServer(await fetchResults(persona.url, methods), placement.serverCpus);
  const workers = [await LoadWorker.start(placement.loadCpus)];
  const runs: LoadRun[] = [];
  try {
    for (const connections of [100, 1000]) {
      for (const server of [persona, echo]) {
        await connectAll(workers, server.url, connections);
        for (const method of methods) {
          const run = await closedLoop(workers, server, connections, method, options);
          runs.push(run);
          process.stderr.write(`  rpc ${server.kind} ${connections} conns ${method.method}: ${run.requestsPerSecond} req/s\n`);
        }
        await closeAll(workers);
        await delay(200);
      }
    }
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
    await persona.stop();
    await echo.stop();
    dir.remove();
  }

  const rows: Array<Array<string | number>> = [];
  const comparisons = [];
  for (const run of runs.filter((candidate) => candidate.target === 'persona-mcp')) {
    const baseline = runs.find(
      (candidate) => candidate.target === 'echo' && candidate.connections === run.connections && candidate.method === run.method,
    )!;
    const ratio = run.requestsPerSecond / baseline.requestsPerSecond;
    comparisons.push({
      connections: run.connections,
      method: run.method,
      ratio: Math.round(ratio * 1000) / 1000,
      cpuCostRatio: Math.round((baseline.serverCpuUsPerRequest / run.serverCpuUsPerRequest) * 1000) / 1000,
    });
    for (const entry of [run, baseline]) {
      rows.push([
        entry.connections,
        entry.method,
        entry.target,
        entry.requestsPerSecond,
        fixed(entry.latencyMs.p50),
        fixed(entry.latencyMs.p99),
        fixed(entry.latencyMs.p999),
        entry.serverCpuPercent,
        entry.serverCpuUsPerRequest,
        entry.loadCpuPercent,
        entry.otherCpuPercent,
        entry.errors,
        entry === run ? `${Math.round(ratio * 100)} %` : '',
      ]);
    }
  }
  printTable(
    'rpc: closed loop, one request in flight per connection',
    [
      'conns',
      'method',
      'server',
      'req/s',
      'p50 ms',
      'p99 ms',
      'p99.9 ms',
      'srv cpu%',
      'srv µs/req',
      'load cpu%',
      'other cpu%',
      'errors',
      'vs echo',
    ],
    rows,
  );
  const file = writeResults('rpc', options, { placement, runs, comparisons });
  process.stdout.write(`wrote ${file}\n`);
  return runs;
}
