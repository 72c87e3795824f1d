/**
 * `npx tsx bench/micro-slot-port.ts [calls] [rounds]`: what the cross-thread slot port costs a jobs
 * worker thread's background model call (bench/README.md, round 12, slots). In the compiled server
 * (dist/; `npm run build` first): a real Worker leases the main thread's slot through `RemoteSlots` ↔
 * `serveSlotLeases`, one `lease` (acquire → granted) and one `release` per call, `calls` in a row, no
 * model call between; against the same lease taken in the main thread's own queue. Reports, per call,
 * the wall µs and each thread's own CPU µs (its /proc/thread-self/schedstat run time), best of `rounds`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { MessageChannel, Worker } from 'node:worker_threads';
import type * as QueueModule from '../src/adapters/llm-queue/queued-provider.js';
import type * as ServerModule from '../src/adapters/llm-queue/slot-lease-server.js';
import type { LlmProvider } from '../src/ports/llm.js';

const calls = Number(process.argv[2] ?? 20_000);
const rounds = Number(process.argv[3] ?? 5);
const dist = path.resolve(import.meta.dirname, '../dist');
const distUrl = (file: string): string => pathToFileURL(path.join(dist, file)).href;

const { QueuedLlmProvider } = (await import(distUrl('adapters/llm-queue/queued-provider.js'))) as typeof QueueModule;
const { serveSlotLeases } = (await import(distUrl('adapters/llm-queue/slot-lease-server.js'))) as typeof ServerModule;

/** This thread's own CPU time so far, in µs (schedstat's first field is ns on the CPU). */
const threadCpuUs = (): number => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1000;

const BACKGROUND = { isBackground: true, isRequeued: false, isPreemptible: true };
// Leases never call the model.
const unused = {} as LlmProvider;

// The worker: `calls` leases and releases in a row on each `go`, then its own CPU and wall time.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
const cpu = () => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1000;
import(workerData.remoteSlots).then(({ RemoteSlots }) => {
  const leases = new RemoteSlots(workerData.port).of('ollama');
  const request = ${JSON.stringify(BACKGROUND)};
  parentPort.on('message', async (calls) => {
    const signal = new AbortController().signal;
    const cpuStart = cpu();
    const start = performance.now();
    for (let i = 0; i < calls; i++) (await leases.lease(request, signal, () => {})).release();
    parentPort.postMessage({ wallUs: (performance.now() - start) * 1000, cpuUs: cpu() - cpuStart });
  });
  parentPort.postMessage('ready');
});`;

const main = new QueuedLlmProvider(unused);
const { port1, port2 } = new MessageChannel();
serveSlotLeases(port1, () => main);
const worker = new Worker(WORKER, { eval: true, workerData: { port: port2, remoteSlots: distUrl('adapters/llm-queue/remote-slots.js') }, transferList: [port2] });
const next = (): Promise<unknown> => new Promise((resolve) => worker.once('message', resolve));
await next();

async function local(): Promise<{ wallUs: number; cpuUs: number }> {
  const signal = new AbortController().signal;
  const cpuStart = threadCpuUs();
  const start = performance.now();
  for (let i = 0; i < calls; i++) (await main.lease(BACKGROUND, signal, () => {})).release();
  return { wallUs: (performance.now() - start) * 1000, cpuUs: threadCpuUs() - cpuStart };
}

async function remote(): Promise<{ wallUs: number; mainCpuUs: number; workerCpuUs: number }> {
  const cpuStart = threadCpuUs();
  const done = next();
  worker.postMessage(calls);
  const { wallUs, cpuUs } = (await done) as { wallUs: number; cpuUs: number };
  return { wallUs, mainCpuUs: threadCpuUs() - cpuStart, workerCpuUs: cpuUs };
}

const best = { local: { wall: Infinity, cpu: Infinity }, remote: { wall: Infinity, main: Infinity, worker: Infinity } };
for (let round = 0; round < rounds; round++) {
  const l = await local();
  const r = await remote();
  best.local.wall = Math.min(best.local.wall, l.wallUs / calls);
  best.local.cpu = Math.min(best.local.cpu, l.cpuUs / calls);
  best.remote.wall = Math.min(best.remote.wall, r.wallUs / calls);
  best.remote.main = Math.min(best.remote.main, r.mainCpuUs / calls);
  best.remote.worker = Math.min(best.remote.worker, r.workerCpuUs / calls);
  process.stdout.write(
    `round ${round + 1}: local ${(l.wallUs / calls).toFixed(2)} µs wall, ${(l.cpuUs / calls).toFixed(2)} µs cpu | ` +
      `port ${(r.wallUs / calls).toFixed(2)} µs wall, main ${(r.mainCpuUs / calls).toFixed(2)} µs cpu, worker ${(r.workerCpuUs / calls).toFixed(2)} µs cpu\n`,
  );
}
process.stdout.write(
  `best of ${rounds} × ${calls} calls, per background call: in the main thread's own queue ${best.local.wall.toFixed(2)} µs wall / ${best.local.cpu.toFixed(2)} µs cpu; ` +
    `through the port ${best.remote.wall.toFixed(2)} µs wall, main thread ${best.remote.main.toFixed(2)} µs cpu, worker ${best.remote.worker.toFixed(2)} µs cpu\n`,
);
await worker.terminate();
