/**
 * `npx tsx bench/micro-llm.ts [calls] [rounds] [--against DIST] [--openai] [--kind chat|appraisal|embed] [--bare]`:
 * the server's own CPU of a chat turn's model call, as a turn makes it — `ModelRouter` → `QueuedLlmProvider` → the `auto` provider →
 * `OllamaProvider` → `HttpClient`, read by `collectReply` — against the instant fake model
 * (`bench/lib/micro-turn-llm.ts`, one NDJSON line per word) in a child process, so only the client's CPU is
 * counted. With `--openai`, the call goes to an OpenAI-compatible backend instead (`llm.provider: openai`,
 * `OpenAiProvider`), the fake of test/fakes streaming Server-Sent Events (`bench/lib/micro-openai-llm.ts`). The prompt is 34 messages of the chat bench's texts (what a chat bench turn sends). Runs the
 * compiled server (dist/, or another build's with `PERSONA_MICRO_DIST=/x/dist`); prints CPU µs per call for
 * each round. With `--against /y/dist`, the two builds run in one process, alternating round by round
 * (after the same warm-up), and the medians are printed last: on this shared machine a figure moves by half
 * between minutes, so only alternating rounds compare.
 *
 * `--kind appraisal`: a chat turn's background call instead, as `TurnAppraiser` makes it (unstreamed, its
 * prompt for one exchange with two memories, the answer parsed); `--kind embed`: a formation's embedding
 * request, as `LlmEmbedder` makes it (three texts: two memories and a deferred query; vectors normalised).
 * `--bare` adds a build of no logic to the alternation: undici's `Pool` sending the same request body and
 * reading the answer (`json()`, or the stream's chunks), as bench/floor-server.ts does — what our client adds
 * above it is the difference (Ollama only). `--paced`: the fake writes a streamed reply one line a write (a
 * `setImmediate` between), so the client reads a token at a time as from a real model (Ollama only).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import type * as BackendsModule from '../src/adapters/llm-router/backends-from-config.js';
import type * as RouterModule from '../src/adapters/llm-router/model-router.js';
import type * as HostModule from '../src/adapters/host/host-model.js';
import type * as ConfigModule from '../src/config/load.js';
import type * as ReplyModule from '../src/services/llm-reply.js';
import type * as AppraiserModule from '../src/services/turn-appraiser.js';
import type * as EmbedderModule from '../src/adapters/embedders/llm-embedder.js';
import { Pool } from 'undici';
import { seedText } from './lib/chat-texts.js';

const argv = process.argv.slice(2);
const openAiAt = argv.indexOf('--openai');
const isOpenAi = openAiAt >= 0;
if (isOpenAi) argv.splice(openAiAt, 1);
const againstAt = argv.indexOf('--against');
const against = againstAt >= 0 ? argv.splice(againstAt, 2)[1] : undefined;
const kindAt = argv.indexOf('--kind');
const kind = kindAt >= 0 ? argv.splice(kindAt, 2)[1]! : 'chat';
if (!['chat', 'appraisal', 'embed'].includes(kind)) {
  process.stderr.write('--kind is chat, appraisal or embed\n');
  process.exit(2);
}
const pacedAt = argv.indexOf('--paced');
const isPaced = pacedAt >= 0;
if (isPaced) argv.splice(pacedAt, 1);
const bareAt = argv.indexOf('--bare');
const isBare = bareAt >= 0;
if (isBare) argv.splice(bareAt, 1);
const calls = Number(argv[0] ?? 2_000);
const rounds = Number(argv[1] ?? 3);
const dists = [process.env.PERSONA_MICRO_DIST ?? path.join(import.meta.dirname, '..', 'dist'), ...(against === undefined ? [] : [against])].map((dist) => path.resolve(dist));

const fake = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'lib', isOpenAi ? 'micro-openai-llm.ts' : 'micro-turn-llm.ts'), ...(isPaced ? ['--paced'] : [])], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise<string>((resolve) => createInterface({ input: fake.stdout! }).once('line', resolve));
const messages = [
  { role: 'system' as const, content: `You are Aria. ${seedText(0)} ${seedText(1)} ${seedText(2)}` },
  ...Array.from({ length: 32 }, (_, index) => ({ role: index % 2 === 0 ? ('user' as const) : ('assistant' as const), content: seedText(index + 3) })),
  { role: 'user' as const, content: seedText(99) },
];

/** One build's model call: its router over its backends, as the server composes them. */
async function callOf(dist: string): Promise<() => Promise<number>> {
  const load = <T>(file: string): Promise<T> => import(pathToFileURL(path.join(dist, file)).href) as Promise<T>;
  const { backendsFromConfig } = await load<typeof BackendsModule>('adapters/llm-router/backends-from-config.js');
  const { ModelRouter } = await load<typeof RouterModule>('adapters/llm-router/model-router.js');
  const { HostModelBridge } = await load<typeof HostModule>('adapters/host/host-model.js');
  const { loadConfig } = await load<typeof ConfigModule>('config/load.js');
  const { collectReply } = await load<typeof ReplyModule>('services/llm-reply.js');
  const backend = isOpenAi ? { 'llm.provider': 'openai', 'llm.openai.baseUrl': url } : { 'llm.ollamaHost': url };
  const config = loadConfig({ cwd: process.cwd(), env: {}, flags: { port: 0, logLevel: 'warn', ...backend } });
  const silent = { info: () => undefined, warn: () => undefined, debug: () => undefined, error: () => undefined };
  const built = backendsFromConfig(config.llm, { logger: silent, hostModel: new HostModelBridge() });
  const router = new ModelRouter(
    built.backends,
    built.defaultBackend,
    {
      defaultModel: () => config.llm.model,
      contextTokens: () => config.llm.contextTokens,
      modelContextTokens: () => config.llm.modelContextTokens,
      fallback: () => config.llm.fallback,
      taskModels: () => config.llm.tasks,
      latencyBudgetMs: () => config.llm.latencyBudgetMs ?? null,
      embedModel: () => config.memory.embedModel,
    },
    silent,
  );
  if (kind === 'appraisal') {
    const { TurnAppraiser } = await load<typeof AppraiserModule>('services/turn-appraiser.js');
    const appraiser = new TurnAppraiser({ llm: router, logger: silent, contextTokens: () => 8192, isEnabled: () => true, restates: () => true, now: Date.now });
    let userMessageId = 0;
    return async () => {
      const appraisal = await appraiser.appraise({ ...appraisalRequest, userMessageId: ++userMessageId, model: config.llm.model }, new AbortController().signal);
      return appraisal?.importance.length ?? 0;
    };
  }
  if (kind === 'embed') {
    const { LlmEmbedder } = await load<typeof EmbedderModule>('adapters/embedders/llm-embedder.js');
    const embedder = new LlmEmbedder(router, config.memory.embedModel);
    return async () => (await embedder.embed(embedTexts, new AbortController().signal)).length;
  }
  return async () => {
    let deltas = 0;
    await collectReply(router.chat({ model: config.llm.model, messages, maxTokens: 200, contextTokens: 8192, task: 'chat' }, new AbortController().signal), { onDelta: () => (deltas += 1) });
    return deltas;
  };
}

/** The turn's appraisal of micro-background's turns: one exchange, two memories. */
const appraisalRequest = {
  personaName: 'Aria',
  spoken: `${seedText(4)} ${seedText(5)}`,
  answer: `Aria hears you: ${seedText(4)} ${seedText(5)}`,
  memories: [`The user said: ${seedText(4)}`, `The user said: ${seedText(5)}`],
};
const embedTexts = [`The user said: ${seedText(4)}`, `The user said: ${seedText(5)}`, `${seedText(4)} ${seedText(5)}`];

/** No logic: undici's Pool sending the body our client sends for the same call, the answer read as the floor reads it. */
async function bareCallOf(): Promise<() => Promise<number>> {
  const pool = new Pool(url, { keepAliveTimeout: 5 * 60_000, headersTimeout: 0, bodyTimeout: 0, connectTimeout: 0 });
  const send = (path: string, body: string) => pool.request({ path, method: 'POST', headers: { 'content-type': 'application/json' }, body });
  if (kind === 'embed') {
    const body = JSON.stringify({ model: 'nomic-embed-text', input: embedTexts });
    return async () => ((await (await send('/api/embed', body)).body.json()) as { embeddings: unknown[] }).embeddings.length;
  }
  if (kind === 'appraisal') {
    const { appraisalPrompt } = await import(pathToFileURL(path.join(dists[0]!, 'domain/turn-appraisal.js')).href);
    const prompt = appraisalPrompt({ ...appraisalRequest, restate: true }) as { system: string; user: string };
    const body = JSON.stringify({ model: 'llama3.1:8b', messages: [{ role: 'system', content: prompt.system }, { role: 'user', content: prompt.user }], stream: false, options: { num_predict: 300, num_ctx: 8192, temperature: 0 } });
    return async () => ((await (await send('/api/chat', body)).body.json()) as { message: { content: string } }).message.content.length;
  }
  const body = JSON.stringify({ model: 'llama3.1:8b', messages, stream: true, options: { num_predict: 200, num_ctx: 8192 } });
  return async () => {
    let chunks = 0;
    for await (const chunk of (await send('/api/chat', body)).body) chunks += (chunk as Buffer).length > 0 ? 1 : 0;
    return chunks;
  };
}

try {
  const builds = await Promise.all(dists.map(async (dist) => ({ name: path.relative(process.cwd(), dist) || dist, call: await callOf(dist), perCall: [] as number[] })));
  if (isBare) builds.push({ name: 'bare undici', call: await bareCallOf(), perCall: [] });
  let deltas = 0;
  for (const build of builds) for (let index = 0; index <= 1_000; index++) deltas = await build.call();
  for (let round = 0; round < rounds; round++) {
    for (const build of round % 2 === 0 ? builds : [...builds].reverse()) {
      const before = process.cpuUsage();
      for (let index = 0; index < calls; index++) await build.call();
      const used = process.cpuUsage(before);
      build.perCall.push(Math.round((used.user + used.system) / calls));
      process.stdout.write(`${build.name}: ${calls} calls, ${kind === 'chat' ? `${messages.length} messages, ${deltas} deltas per reply` : kind}: CPU µs per call ${build.perCall.at(-1)}\n`);
    }
  }
  if (builds.length > 1 || kind !== 'chat') {
    for (const build of builds) {
      const sorted = [...build.perCall].sort((a, b) => a - b);
      process.stdout.write(`${build.name}: median CPU µs per call ${sorted[sorted.length >> 1]} over ${rounds} rounds (${build.perCall.join(', ')})\n`);
    }
  }
} finally {
  fake.kill();
}
