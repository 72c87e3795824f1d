/**
 * `npx tsx bench/micro-llm.ts [calls] [rounds]`: the server's own CPU of a chat turn's model call, as a
 * turn makes it — `ModelRouter` → `QueuedLlmProvider` → the `auto` provider → `OllamaProvider` →
 * `HttpClient`, read by `collectReply` — against the instant fake model (`bench/lib/micro-turn-llm.ts`,
 * one NDJSON line per word) in a child process, so only the client's CPU is counted. The prompt is 34
 * messages of the chat bench's texts (what a chat bench turn sends). Runs the compiled server (dist/, or
 * another build's with `PERSONA_MICRO_DIST=/x/dist`); prints CPU µs per call for each round.
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

const dist = path.resolve(process.env.PERSONA_MICRO_DIST ?? path.join(import.meta.dirname, '..', 'dist'));
const load = <T>(file: string): Promise<T> => import(pathToFileURL(path.join(dist, file)).href) as Promise<T>;
const { backendsFromConfig } = await load<typeof BackendsModule>('adapters/llm-router/backends-from-config.js');
const { ModelRouter } = await load<typeof RouterModule>('adapters/llm-router/model-router.js');
const { HostModelBridge } = await load<typeof HostModule>('adapters/host/host-model.js');
const { loadConfig } = await load<typeof ConfigModule>('config/load.js');
const { collectReply } = await load<typeof ReplyModule>('services/llm-reply.js');

const calls = Number(process.argv[2] ?? 2_000);
const rounds = Number(process.argv[3] ?? 3);
const fake = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'lib', 'micro-turn-llm.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise<string>((resolve) => createInterface({ input: fake.stdout! }).once('line', resolve));
try {
  const config = loadConfig({ cwd: process.cwd(), env: {}, flags: { port: 0, logLevel: 'warn', 'llm.ollamaHost': url } });
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
  const messages = [
    { role: 'system' as const, content: `You are Aria. ${seedText(0)} ${seedText(1)} ${seedText(2)}` },
    ...Array.from({ length: 32 }, (_, index) => ({ role: index % 2 === 0 ? ('user' as const) : ('assistant' as const), content: seedText(index + 3) })),
    { role: 'user' as const, content: seedText(99) },
  ];
  const call = async (): Promise<number> => {
    let deltas = 0;
    await collectReply(router.chat({ model: config.llm.model, messages, maxTokens: 200, contextTokens: 8192, task: 'chat' }, new AbortController().signal), { onDelta: () => (deltas += 1) });
    return deltas;
  };
  for (let index = 0; index < 200; index++) await call();
  const deltas = await call();
  for (let round = 0; round < rounds; round++) {
    const before = process.cpuUsage();
    for (let index = 0; index < calls; index++) await call();
    const used = process.cpuUsage(before);
    process.stdout.write(`${path.relative(process.cwd(), dist) || dist}: ${calls} calls, ${messages.length} messages, ${deltas} deltas per reply: CPU µs per call ${Math.round((used.user + used.system) / calls)}\n`);
  }
} finally {
  fake.kill();
}
