/**
 * `npx tsx bench/micro-llm.ts [calls] [rounds] [--against DIST] [--openai]`: the server's own CPU of a chat
 * turn's model call, as a turn makes it — `ModelRouter` → `QueuedLlmProvider` → the `auto` provider →
 * `OllamaProvider` → `HttpClient`, read by `collectReply` — against the instant fake model
 * (`bench/lib/micro-turn-llm.ts`, one NDJSON line per word) in a child process, so only the client's CPU is
 * counted. With `--openai`, the call goes to an OpenAI-compatible backend instead (`llm.provider: openai`,
 * `OpenAiProvider`), the fake of test/fakes streaming Server-Sent Events (`bench/lib/micro-openai-llm.ts`). The prompt is 34 messages of the chat bench's texts (what a chat bench turn sends). Runs the
 * compiled server (dist/, or another build's with `PERSONA_MICRO_DIST=/x/dist`); prints CPU µs per call for
 * each round. With `--against /y/dist`, the two builds run in one process, alternating round by round
 * (after the same warm-up), and the medians are printed last: on this shared machine a figure moves by half
 * between minutes, so only alternating rounds compare.
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
import { seedText } from './lib/chat-texts.js';

const argv = process.argv.slice(2);
const openAiAt = argv.indexOf('--openai');
const isOpenAi = openAiAt >= 0;
if (isOpenAi) argv.splice(openAiAt, 1);
const againstAt = argv.indexOf('--against');
const against = againstAt >= 0 ? argv.splice(againstAt, 2)[1] : undefined;
const calls = Number(argv[0] ?? 2_000);
const rounds = Number(argv[1] ?? 3);
const dists = [process.env.PERSONA_MICRO_DIST ?? path.join(import.meta.dirname, '..', 'dist'), ...(against === undefined ? [] : [against])].map((dist) => path.resolve(dist));

const fake = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'lib', isOpenAi ? 'micro-openai-llm.ts' : 'micro-turn-llm.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
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
  return async () => {
    let deltas = 0;
    await collectReply(router.chat({ model: config.llm.model, messages, maxTokens: 200, contextTokens: 8192, task: 'chat' }, new AbortController().signal), { onDelta: () => (deltas += 1) });
    return deltas;
  };
}

try {
  const builds = await Promise.all(dists.map(async (dist) => ({ name: path.relative(process.cwd(), dist) || dist, call: await callOf(dist), perCall: [] as number[] })));
  let deltas = 0;
  for (const build of builds) for (let index = 0; index <= 1_000; index++) deltas = await build.call();
  for (let round = 0; round < rounds; round++) {
    for (const build of round % 2 === 0 ? builds : [...builds].reverse()) {
      const before = process.cpuUsage();
      for (let index = 0; index < calls; index++) await build.call();
      const used = process.cpuUsage(before);
      build.perCall.push(Math.round((used.user + used.system) / calls));
      process.stdout.write(`${build.name}: ${calls} calls, ${messages.length} messages, ${deltas} deltas per reply: CPU µs per call ${build.perCall.at(-1)}\n`);
    }
  }
  if (builds.length > 1) {
    for (const build of builds) {
      const sorted = [...build.perCall].sort((a, b) => a - b);
      process.stdout.write(`${build.name}: median CPU µs per call ${sorted[sorted.length >> 1]} over ${rounds} rounds (${build.perCall.join(', ')})\n`);
    }
  }
} finally {
  fake.kill();
}
