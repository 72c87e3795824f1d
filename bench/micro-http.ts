/**
 * `npx tsx bench/micro-http.ts [calls] [rounds]`: the client CPU of one model request by HTTP client alone
 * (issue 15, round 7: which client `src/adapters/llm-http/http-client.ts` should use). The same POST (a
 * 34-message chat prompt, ~8 KB) to the instant fake model in a child process, its streamed NDJSON answer
 * read to the end, with an AbortSignal passed as the adapters pass one, by:
 * - `node:http`: `http.request` with a keep-alive agent, the answer's chunks iterated (what the server used
 *   in rounds 2–6);
 * - `undici request`: undici's `Pool.request` (what it uses now);
 * - `undici dispatch`: undici's `Pool.dispatch` with a bare handler that only counts bytes (the floor:
 *   no body stream at all).
 * The clients alternate round by round after the same warm-up; the medians are printed last.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Pool, type Dispatcher } from 'undici';
import { seedText } from './lib/chat-texts.js';

const calls = Number(process.argv[2] ?? 2_000);
const rounds = Number(process.argv[3] ?? 8);
const fake = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'lib', 'micro-turn-llm.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = new URL(await new Promise<string>((resolve) => createInterface({ input: fake.stdout! }).once('line', resolve)));
const messages = [
  { role: 'system', content: `You are Aria. ${seedText(0)} ${seedText(1)} ${seedText(2)}` },
  ...Array.from({ length: 32 }, (_, index) => ({ role: index % 2 === 0 ? 'user' : 'assistant', content: seedText(index + 3) })),
  { role: 'user', content: seedText(99) },
];
const body = JSON.stringify({ model: 'llama3.1:8b', messages, stream: true, options: { num_predict: 200, num_ctx: 8192 } });
const headers = { 'content-type': 'application/json', accept: 'application/x-ndjson' };

const agent = new http.Agent({ keepAlive: true, timeout: 4_000 });
const pool = new Pool(url.origin, { keepAliveTimeout: 4_000, headersTimeout: 0, bodyTimeout: 0, connectTimeout: 0 });

function viaNodeHttp(signal: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { hostname: url.hostname, port: url.port, path: '/api/chat', method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) }, agent },
      (response) => {
        let bytes = 0;
        (async () => {
          for await (const chunk of response) bytes += (chunk as Buffer).length;
          return bytes;
        })().then(resolve, reject);
      },
    );
    request.on('error', reject);
    const onAbort = (): void => void request.destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    request.once('close', () => signal.removeEventListener('abort', onAbort));
    request.end(body);
  });
}

async function viaUndiciRequest(signal: AbortSignal): Promise<number> {
  const answer = await pool.request({ path: '/api/chat', method: 'POST', body, headers, signal });
  let bytes = 0;
  for await (const chunk of answer.body) bytes += (chunk as Buffer).length;
  return bytes;
}

function viaUndiciDispatch(signal: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart: (controller) => signal.addEventListener('abort', () => controller.abort(signal.reason), { once: true }),
      onResponseData: (_controller, chunk) => void (bytes += chunk.length),
      onResponseEnd: () => resolve(bytes),
      onResponseError: (_controller, error) => reject(error),
    };
    pool.dispatch({ path: '/api/chat', method: 'POST', body, headers }, handler);
  });
}

const clients = { 'node:http': viaNodeHttp, 'undici request': viaUndiciRequest, 'undici dispatch': viaUndiciDispatch };
const perRequest = new Map<string, number[]>();
try {
  for (const run of Object.values(clients)) for (let index = 0; index < 1_500; index++) await run(new AbortController().signal);
  for (let round = 0; round < rounds; round++) {
    const order = Object.entries(clients);
    for (const [name, run] of round % 2 === 0 ? order : order.reverse()) {
      const before = process.cpuUsage();
      for (let index = 0; index < calls; index++) await run(new AbortController().signal);
      const used = process.cpuUsage(before);
      perRequest.set(name, [...(perRequest.get(name) ?? []), Math.round((used.user + used.system) / calls)]);
    }
  }
  for (const [name, values] of perRequest) {
    const sorted = [...values].sort((a, b) => a - b);
    process.stdout.write(`${name.padEnd(16)} median CPU µs per request ${sorted[sorted.length >> 1]} (rounds: ${values.join(', ')})\n`);
  }
} finally {
  agent.destroy();
  await pool.close();
  fake.kill();
}
