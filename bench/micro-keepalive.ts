/**
 * `npx tsx bench/micro-keepalive.ts [rounds] [--against DIST]`: a model request after a person's pause
 * (issue 15, round 14). A streamed chat request (an ~8 KB prompt, a 21-line NDJSON answer) through the
 * server's `HttpClient` to a fake model in a child process (bench/lib/keepalive-llm.ts: one server like
 * Ollama, no Keep-Alive hint and idle connections kept; one like a Node server, 5 s), after pauses of
 * 0.1 s (back to back), 5 s and 30 s, `rounds` times each. Per request: the client's CPU (this process's
 * `process.cpuUsage`) and wall time to the first chunk and to the end, and whether it opened a connection.
 * With `--against DIST` the same requests also go through that build's client (B = this tree's `dist`,
 * A = DIST), A and B alternating which goes first, right after each other after the same pause.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { seedText } from './lib/chat-texts.js';

interface Client {
  request(path: string, options: { body: string }): Promise<{ headers: Record<string, unknown>; body: AsyncIterable<Uint8Array> }>;
  close(): void;
}

const args = process.argv.slice(2);
const againstAt = args.indexOf('--against');
const against = againstAt >= 0 ? args.splice(againstAt, 2)[1] : undefined;
const rounds = Number(args[0] ?? 4);
const PAUSES_MS = [100, 5_000, 30_000];

const fake = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'lib', 'keepalive-llm.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
const urls = JSON.parse(await new Promise<string>((resolve) => createInterface({ input: fake.stdout! }).once('line', resolve))) as Record<'ollama' | 'node', string>;

async function clientClass(dist: string): Promise<new (url: string) => Client> {
  const module = (await import(pathToFileURL(path.resolve(dist, 'adapters/llm-http/http-client.js')).href)) as { HttpClient: new (url: string) => Client };
  return module.HttpClient;
}
const builds: Record<string, new (url: string) => Client> = { B: await clientClass(path.join(import.meta.dirname, '..', 'dist')) };
if (against !== undefined) builds['A'] = await clientClass(against);

const messages = [
  { role: 'system', content: `You are Aria. ${seedText(0)} ${seedText(1)} ${seedText(2)}` },
  ...Array.from({ length: 32 }, (_, index) => ({ role: index % 2 === 0 ? 'user' : 'assistant', content: seedText(index + 3) })),
];
const body = JSON.stringify({ model: 'llama3.1:8b', messages, stream: true });

interface Sample {
  firstCpu: number;
  firstWall: number;
  endCpu: number;
  endWall: number;
  newConnection: boolean;
}

function cpuNow(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

async function timed(client: Client, seen: Set<string>): Promise<Sample> {
  const cpu0 = cpuNow();
  const wall0 = performance.now();
  const answer = await client.request('/api/chat', { body });
  const chunks = answer.body[Symbol.asyncIterator]();
  await chunks.next();
  const firstCpu = cpuNow() - cpu0;
  const firstWall = (performance.now() - wall0) * 1_000;
  while (!(await chunks.next()).done);
  const connection = String(answer.headers['x-connection']);
  const newConnection = !seen.has(connection);
  seen.add(connection);
  return { firstCpu, firstWall, endCpu: cpuNow() - cpu0, endWall: (performance.now() - wall0) * 1_000, newConnection };
}

const kinds = ['ollama', 'node'] as const;
const clients = Object.entries(builds).flatMap(([build, HttpClient]) =>
  kinds.map((kind) => ({ build, kind, client: new HttpClient(urls[kind]), seen: new Set<string>() })),
);
const samples = new Map<string, Sample[]>();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// Warm-up: each client's code and its first connection.
for (let index = 0; index < 20; index++) for (const each of clients) await timed(each.client, each.seen);

for (const pause of PAUSES_MS) {
  for (let round = 0; round < rounds; round++) {
    await sleep(pause);
    const order = round % 2 === 0 ? clients : [...clients].reverse();
    for (const each of order) {
      const key = `${pause / 1_000} s ${each.kind} ${each.build}`;
      samples.set(key, [...(samples.get(key) ?? []), await timed(each.client, each.seen)]);
    }
  }
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
console.log(`${rounds} requests per row after each pause; median µs; new connections of the requests`);
console.log('pause  backend  build | first chunk CPU | first chunk wall | whole CPU | whole wall | new connections');
for (const [key, list] of samples) {
  const [pause, , kind, build] = key.split(' ');
  const cell = (pick: (sample: Sample) => number): string => median(list.map(pick)).toFixed(0).padStart(8);
  console.log(
    `${pause!.padStart(4)} s  ${kind!.padEnd(7)} ${build} | ${cell((s) => s.firstCpu)} | ${cell((s) => s.firstWall)} | ${cell((s) => s.endCpu)} | ${cell((s) => s.endWall)} | ${list.filter((s) => s.newConnection).length}/${list.length}`,
  );
}
for (const each of clients) each.client.close();
fake.kill();
