/**
 * `npx tsx bench/ab.ts ENTRY_A ENTRY_B [rounds] [connections]`: compares two builds of the server
 * (each a `cli/main.js` of a dist/ copy, e.g. one with a candidate optimisation) on closed-loop
 * persona.list and persona.status, alternating A and B `rounds` times (default 3) so that background
 * load hits both alike. Reports throughput and, more robust on a shared machine, server CPU time per
 * request (median over rounds).
 */
import { LIST, STATUS } from './lib/frames.js';
import { defaultPlacement, LoadWorker, startPersonaServer } from './lib/processes.js';
import { fixed, printTable } from './lib/report.js';
import { benchDir, delay } from './lib/setup.js';
import { closeAll, closedLoop, connectAll } from './suites/rpc.js';

const [entryA, entryB, roundsArg, connectionsArg] = process.argv.slice(2);
if (entryA === undefined || entryB === undefined) {
  process.stderr.write('usage: npx tsx bench/ab.ts ENTRY_A ENTRY_B [rounds] [connections]\n');
  process.exit(2);
}
const rounds = Number(roundsArg ?? 3);
const connections = Number(connectionsArg ?? 100);
const placement = defaultPlacement(true);
const options = { quick: true, isPinned: true, serverNodeFlags: [] };
const samples = new Map<string, { rps: number[]; cpu: number[] }>();

const worker = await LoadWorker.start(placement.loadCpus);
try {
  for (let round = 0; round < rounds; round++) {
    for (const [name, entry] of [
      ['A', entryA],
      ['B', entryB],
    ] as const) {
      process.env.PERSONA_BENCH_SERVER = entry;
      const dir = benchDir('ab');
      const server = await startPersonaServer({ dataDir: dir.dataDir, configFile: dir.configFile, cpus: placement.serverCpus });
      try {
        await connectAll([worker], server.url, connections);
        for (const method of [LIST, STATUS]) {
          const run = await closedLoop([worker], server, connections, method, options);
          const key = `${name} ${method.method}`;
          const entryOf = samples.get(key) ?? { rps: [], cpu: [] };
          entryOf.rps.push(run.requestsPerSecond);
          entryOf.cpu.push(run.serverCpuUsPerRequest);
          samples.set(key, entryOf);
          process.stderr.write(
            `  round ${round + 1} ${key}: ${run.requestsPerSecond} req/s, ${run.serverCpuUsPerRequest} µs/req, other cpu ${run.otherCpuPercent}%\n`,
          );
        }
        await closeAll([worker]);
      } finally {
        await server.stop();
        dir.remove();
      }
      await delay(200);
    }
  }
} finally {
  await worker.stop();
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
printTable(
  `A/B over ${rounds} alternating rounds, ${connections} connections (A = ${entryA}, B = ${entryB})`,
  ['build', 'method', 'req/s median', 'server µs/req median', 'µs/req all'],
  [...samples]
    .sort()
    .map(([key, value]) => [key.split(' ')[0]!, key.split(' ')[1]!, median(value.rps), fixed(median(value.cpu), 0), value.cpu.join(' ')]),
);
