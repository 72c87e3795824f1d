/**
 * `npx tsx bench/micro-contributors.ts [turns] [stored]`: the CPU time of a chat turn's prompt
 * contributors (memory recall and the social contributor, which run side by side on one thread), in
 * process, in the compiled server (dist/, or another build's with `PERSONA_MICRO_DIST=/x/dist`).
 *
 * Builds the real core in a temp data dir with `stored` messages (default 10,000, as the chat suite) and
 * the instant fake model in a child process (its CPU not counted), then runs 50 warm-up turns and
 * `turns` measured ones (default 200) through `ChatService.runTurn` with the chat suite's messages. The
 * background jobs run (memory formation with its doc2query text and vectors, relationship judgement,
 * summaries) and are drained after each turn, so every recall meets the store the chat suite's recalls
 * meet, grown by the turns before it, and no job runs inside the measured window. The window opens when
 * the first contributor starts and closes when the last one has finished (`process.cpuUsage`, so
 * other processes on the machine do not inflate it); each contributor's own window is reported too
 * (they overlap: each includes what the other ran meanwhile).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import type * as AppModule from '../src/app/app.js';
import type * as ConfigModule from '../src/config/load.js';
import type * as LoggerModule from '../src/logger.js';
import type * as MemoryHooks from '../src/services/memory/turn-hooks.js';
import type * as SocialHooks from '../src/services/social/social-turn-hooks.js';
import { seedText } from './lib/chat-texts.js';

const dist = path.resolve(process.env.PERSONA_MICRO_DIST ?? path.join(import.meta.dirname, '..', 'dist'));
const load = <T>(file: string): Promise<T> => import(pathToFileURL(path.join(dist, file)).href) as Promise<T>;
const { createCore } = await load<typeof AppModule>('app/app.js');
const { loadConfig } = await load<typeof ConfigModule>('config/load.js');
const { createLogger } = await load<typeof LoggerModule>('logger.js');
const { MemoryRecall } = await load<typeof MemoryHooks>('services/memory/turn-hooks.js');
const { SocialPromptContributor } = await load<typeof SocialHooks>('services/social/social-turn-hooks.js');

const turns = Number(process.argv[2] ?? 200);
const stored = Number(process.argv[3] ?? 10_000);
const WARM_UP = 50;

/** CPU µs of the process so far. */
const cpuNow = (): number => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

// The measuring window: opened by the first contributor to start, closed by the last to finish.
let active = 0;
let openedAt = 0;
let together = 0;
const own = new Map<string, number>();
for (const prototype of [MemoryRecall.prototype, SocialPromptContributor.prototype]) {
  const contribute = prototype.contribute;
  prototype.contribute = async function (this: { name: string }, ...args: Parameters<typeof contribute>) {
    const started = cpuNow();
    if (active++ === 0) openedAt = started;
    try {
      return await contribute.apply(this as never, args);
    } finally {
      const ended = cpuNow();
      own.set(this.name, (own.get(this.name) ?? 0) + ended - started);
      if (--active === 0) together += ended - openedAt;
    }
  };
}

function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

const fake = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'lib', 'micro-turn-llm.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise<string>((resolve) => createInterface({ input: fake.stdout! }).once('line', resolve));
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'persona-micro-contributors-'));
try {
  const config = loadConfig({ cwd: dataDir, env: {}, flags: { dataDir, port: 0, logLevel: 'warn', 'llm.ollamaHost': url } });
  const core = await createCore(config, { logger: createLogger('warn') });
  const binding = { id: 'micro_contributors_session', userId: null };
  const persona = core.services.personas.resolve('aria');
  const { state } = await core.services.personas.snapshot(persona);
  const start = Date.now() - stored * 60_000;
  let conversationId = '';
  for (let turn = 0; turn < stored / 2; turn++) {
    const now = start + turn * 120_000;
    const { conversation } = await core.store.appendUserTurn({ sessionId: binding.id, personaId: persona.id, content: seedText(turn), tokens: 30, now });
    conversationId = conversation.id;
    await core.store.appendAssistantTurn({ conversationId, personaId: persona.id, content: `Aria hears you: ${seedText(turn + 1)}`, tokens: 35, promptTokens: 900, processingMs: 800, now: now + 60_000, personaState: { ...state, updatedAt: now + 60_000 } });
  }
  const samples = { together: [] as number[], memory: [] as number[], social: [] as number[] };
  for (let index = 0; index < WARM_UP + turns; index++) {
    together = 0;
    own.clear();
    const message = index < WARM_UP ? `warming up ${index}: ${seedText(index)}` : `bench-plain-${index}: ${seedText(index + 11)}`;
    await core.services.chat.runTurn(binding, { message, personaId: 'aria', conversationId }, { signal: new AbortController().signal });
    await core.services.memory.jobs.drain(30_000);
    if (index < WARM_UP) continue;
    samples.together.push(together / 1000);
    samples.memory.push((own.get('memory') ?? 0) / 1000);
    samples.social.push((own.get('social') ?? 0) / 1000);
  }
  const memories = await core.services.memory.memories.stats();
  const line = (name: string, values: readonly number[]): string =>
    `  ${name.padEnd(26)} p50 ${percentile(values, 0.5).toFixed(3)}  p99 ${percentile(values, 0.99).toFixed(3)}  mean ${(values.reduce((a, b) => a + b, 0) / values.length).toFixed(3)}\n`;
  process.stdout.write(
    `${path.relative(process.cwd(), dist) || dist}: ${turns} turns after ${WARM_UP} warm-up, ${stored} stored messages, ${memories.total} memories at the end (load average ${os.loadavg()[0]!.toFixed(1)})\n` +
      '  CPU ms per turn\n' +
      line('contributors together', samples.together) +
      line('memory (own window)', samples.memory) +
      line('social (own window)', samples.social),
  );
  await core.close();
} finally {
  fake.kill();
  rmSync(dataDir, { recursive: true, force: true });
}
