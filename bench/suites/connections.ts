/**
 * connections: opens N idle WebSocket connections (1k, 5k, 10k) to a fresh persona-mcp and reports the
 * server's resident memory per connection (VmRSS after − before, / N), the time to open them all, the
 * handshake latency, and whether every one is still open after an idle pause. Clients are spread over
 * load processes of at most 5,000 sockets each.
 */
import type { LatencySummary } from '../lib/histogram.js';
import { Histogram } from '../lib/histogram.js';
import { defaultPlacement, LoadWorker, split, startEchoServer, startPersonaServer, type ServerProcess } from '../lib/processes.js';
import { fetchResults, LIST } from '../lib/frames.js';
import { fixed, printTable, writeResults } from '../lib/report.js';
import { benchDir, delay, type SuiteOptions } from '../lib/setup.js';

const SOCKETS_PER_WORKER = 5000;
/** Handshakes in flight per load process; the server's listen backlog is 511. */
const CONNECT_CONCURRENCY = 100;

export interface ConnectionsRun {
  target: ServerProcess['kind'];
  connections: number;
  opened: number;
  failed: number;
  stillOpen: number;
  connectSeconds: number;
  connectionsPerSecond: number;
  handshakeMs: LatencySummary;
  rssBeforeMiB: number;
  rssAfterMiB: number;
  rssPerConnectionKiB: number;
  /** A request on a fresh connection while all N are open: the server still answers. */
  answersWhileHeld: boolean;
}

export async function runConnectionsSuite(options: SuiteOptions): Promise<ConnectionsRun[]> {
  const placement = defaultPlacement(options.isPinned);
  const counts = options.quick ? [1000, 2000] : [1000, 5000, 10_000];
  // The bare ws server at the ends of the range: what connecting and holding costs on this machine anyway.
  const plan: Array<{ target: ServerProcess['kind']; connections: number }> = [
    ...counts.map((connections) => ({ target: 'persona-mcp' as const, connections })),
    { target: 'echo', connections: counts[0]! },
    ...(options.quick ? [] : [{ target: 'echo' as const, connections: counts.at(-1)! }]),
  ];
  const idleMs = options.quick ? 1000 : 3000;
  const maxWorkers = Math.ceil(Math.max(...counts) / SOCKETS_PER_WORKER);
  const workers = await Promise.all(Array.from({ length: maxWorkers }, () => LoadWorker.start(placement.loadCpus)));
  const runs: ConnectionsRun[] = [];
  try {
    for (const { target, connections } of plan) {
      const dir = benchDir('connections');
      const server =
        target === 'echo'
          ? await startEchoServer({ 'persona.list': { personas: [], total_count: 0, available_count: 0 } }, placement.serverCpus)
          : await startPersonaServer({
              dataDir: dir.dataDir,
              configFile: dir.configFile,
              cpus: placement.serverCpus,
              nodeFlags: options.serverNodeFlags,
            });
      try {
        // Warm up (modules loaded, JIT, first connection's allocations) before the baseline.
        await fetchResults(server.url, [LIST]);
        await delay(300);
        const rssBefore = server.rssKib();
        const active = workers.slice(0, Math.ceil(connections / SOCKETS_PER_WORKER));
        const shares = split(connections, active.length);
        const started = performance.now();
        const answers = await Promise.all(
          active.map((worker, index) =>
            worker.run({ type: 'connect', url: server.url, count: shares[index]!, concurrency: CONNECT_CONCURRENCY }, 'connected'),
          ),
        );
        const connectMs = performance.now() - started;
        await delay(idleMs);
        const rssAfter = server.rssKib();
        const answersWhileHeld = await fetchResults(server.url, [LIST]).then(
          () => true,
          () => false,
        );
        const statuses = await Promise.all(active.map((worker) => worker.run({ type: 'status' }, 'status')));
        const opened = answers.reduce((sum, answer) => sum + answer.opened, 0);
        const run: ConnectionsRun = {
          target,
          connections,
          opened,
          failed: answers.reduce((sum, answer) => sum + answer.failed, 0),
          stillOpen: statuses.reduce((sum, status) => sum + status.open, 0),
          connectSeconds: Math.round(connectMs) / 1000,
          connectionsPerSecond: Math.round((opened / connectMs) * 1000),
          handshakeMs: Histogram.from(answers.map((answer) => answer.handshake)).summaryMs(),
          rssBeforeMiB: Math.round(rssBefore / 102.4) / 10,
          rssAfterMiB: Math.round(rssAfter / 102.4) / 10,
          rssPerConnectionKiB: Math.round(((rssAfter - rssBefore) / opened) * 100) / 100,
          answersWhileHeld,
        };
        const firstError = answers.find((answer) => answer.firstError !== null)?.firstError;
        if (firstError) process.stderr.write(`  connections: ${run.failed} failed, first: ${firstError}\n`);
        runs.push(run);
        process.stderr.write(
          `  connections ${target} ${connections}: ${run.stillOpen} held, ${run.rssPerConnectionKiB} KiB each, ${run.connectSeconds} s\n`,
        );
        await Promise.all(active.map((worker) => worker.run({ type: 'close' }, 'closed')));
      } finally {
        await server.stop();
        dir.remove();
      }
    }
  } finally {
    await Promise.all(workers.map((worker) => worker.stop()));
  }

  printTable(
    `connections: idle WebSocket connections held by one persona-mcp process (held = still open after ${idleMs / 1000} s idle)`,
    [
      'server',
      'conns',
      'held',
      'failed',
      'connect s',
      'conn/s',
      'handshake p50 ms',
      'p99 ms',
      'RSS before MiB',
      'RSS after MiB',
      'KiB/conn',
      'answers',
    ],
    runs.map((run) => [
      run.target,
      run.connections,
      run.stillOpen,
      run.failed,
      fixed(run.connectSeconds),
      run.connectionsPerSecond,
      fixed(run.handshakeMs.p50),
      fixed(run.handshakeMs.p99),
      fixed(run.rssBeforeMiB, 1),
      fixed(run.rssAfterMiB, 1),
      fixed(run.rssPerConnectionKiB, 1),
      run.answersWhileHeld ? 'yes' : 'NO',
    ]),
  );
  const file = writeResults('connections', options, { placement, idleMs, runs });
  process.stdout.write(`wrote ${file}\n`);
  return runs;
}
