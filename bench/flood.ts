/**
 * `npx tsx bench/flood.ts [seconds]`: does one client sending over its rate hurt the others? Starts the
 * compiled server as the suites do (pinned to CPU 0, a temp data dir; `PERSONA_BENCH_SERVER` for another
 * build) with the default per-connection rate (`limits.rateLimitPerSecond` 100, burst 200) and the
 * per-key and per-address budgets lifted (the flooder and the measured client share loopback's address;
 * on a real server they would not). A well-behaved client sends `persona.list` one at a time, 15 ms
 * apart (well under its own connection's rate), for `seconds` (default 5) alone, then again beside a
 * flooder (`flood-worker.ts`, its own process on the other CPU: one
 * connection sending as fast as its socket takes frames and reading the refusals). Prints the client's
 * latency percentiles in each phase, the flooder's frames sent, answered and refused, and the server's CPU.
 * A third phase floods without reading the answers (the server closes such a client with 1008 once its
 * unread answers pass `limits.maxQueuedBytesPerConnection` for `limits.slowClientGraceMs`).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { defaultPlacement, ROOT, startPersonaServer } from './lib/processes.js';
import { printTable } from './lib/report.js';
import { benchDir, delay } from './lib/setup.js';

const seconds = Number(process.argv[2] ?? 5);
/** Pause between the measured client's requests: it stays well under its own rate (100/s). */
const GAP_MS = 15;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Closed loop, one request at a time with `GAP_MS` between: each request's latency in ms. */
async function wellBehaved(url: string, durationMs: number): Promise<number[]> {
  const socket = new WebSocket(url);
  await once(socket, 'open');
  const latencies: number[] = [];
  const end = performance.now() + durationMs;
  let id = 0;
  while (performance.now() < end) {
    const started = performance.now();
    const answer = new Promise<void>((resolve, reject) => {
      socket.once('message', (data) => {
        const parsed = JSON.parse(data.toString()) as { error?: unknown };
        if (parsed.error !== undefined) reject(new Error(`persona.list failed: ${JSON.stringify(parsed.error)}`));
        else resolve();
      });
    });
    socket.send(JSON.stringify({ jsonrpc: '2.0', id: ++id, method: 'persona.list' }));
    await answer;
    latencies.push(performance.now() - started);
    await delay(GAP_MS);
  }
  socket.terminate();
  return latencies.sort((a, b) => a - b);
}

interface FloodCount {
  sent: number;
  answered: number;
  refused: number;
  /** The close code when the server closed the flooder (1008: it did not read its answers). */
  closedBy: number | null;
}

async function withFlooder<T>(url: string, cpus: string | null, mode: 'read' | 'unread', run: () => Promise<T>): Promise<{ result: T; flood: FloodCount }> {
  const inner = ['--import', 'tsx', path.join(ROOT, 'bench', 'flood-worker.ts'), url, String(seconds + 30), mode];
  const child = cpus === null ? spawn(process.execPath, inner, { cwd: ROOT }) : spawn('taskset', ['-c', cpus, process.execPath, ...inner], { cwd: ROOT });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => process.stderr.write(`[flooder] ${chunk.toString()}`));
  while (!output.includes('open')) await once(child.stdout, 'data');
  // Let the flood reach its steady state before measuring.
  await delay(1000);
  const result = await run();
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
  const line = output.split('\n').find((entry) => entry.startsWith('{'));
  return { result, flood: JSON.parse(line ?? '{"sent":0,"answered":0,"refused":0,"closedBy":null}') as FloodCount };
}

const placement = defaultPlacement(true);
const dir = benchDir('flood');
// The bench lifts every limit; this bench measures the per-connection one, so it puts the defaults back.
const { writeFileSync, readFileSync } = await import('node:fs');
const config = JSON.parse(readFileSync(dir.configFile, 'utf8')) as { limits: Record<string, number> };
config.limits.rateLimitPerSecond = 100;
config.limits.rateLimitBurst = 200;
writeFileSync(dir.configFile, JSON.stringify(config, null, 2));
const server = await startPersonaServer({ dataDir: dir.dataDir, configFile: dir.configFile, cpus: placement.serverCpus });
try {
  // Warm the request path first, so neither phase measures cold code.
  await wellBehaved(server.url, 1000);
  const rows: Array<Array<string | number>> = [];
  const row = (phase: string, latencies: number[], cpuMs: number, flood: FloodCount | null): void => {
    rows.push([
      phase,
      latencies.length,
      percentile(latencies, 50).toFixed(2),
      percentile(latencies, 99).toFixed(2),
      (latencies.at(-1) ?? Number.NaN).toFixed(1),
      Math.round(cpuMs / seconds / 10),
      flood === null ? '-' : flood.sent.toLocaleString('en'),
      flood === null ? '-' : flood.answered.toLocaleString('en'),
      flood === null ? '-' : flood.refused.toLocaleString('en'),
      flood === null || flood.closedBy === null ? '-' : String(flood.closedBy),
    ]);
  };
  let before = server.cpuMs();
  const alone = await wellBehaved(server.url, seconds * 1000);
  row('alone', alone, server.cpuMs() - before, null);
  for (const mode of ['read', 'unread'] as const) {
    let cpuMs = 0;
    const flooded = await withFlooder(server.url, placement.loadCpus, mode, async () => {
      before = server.cpuMs();
      const latencies = await wellBehaved(server.url, seconds * 1000);
      cpuMs = server.cpuMs() - before;
      return latencies;
    });
    row(mode === 'read' ? 'beside a flooder' : 'beside a flooder not reading', flooded.result, cpuMs, flooded.flood);
  }
  printTable(
    `flood: a well-behaved client's persona.list (one at a time, ${GAP_MS} ms apart, ${seconds} s per phase) alone and beside one connection flooding over its rate (limits.rateLimitPerSecond 100); server ${path.relative(ROOT, process.env.PERSONA_BENCH_SERVER ?? 'dist/cli/main.js')}; load average ${os.loadavg().map((value) => value.toFixed(1)).join(' ')}`,
    ['phase', 'requests', 'p50 ms', 'p99 ms', 'max ms', 'server cpu %', 'flood sent', 'flood answered', 'flood refused', 'flooder closed'],
    rows,
  );
} finally {
  await server.stop();
  dir.remove();
}
