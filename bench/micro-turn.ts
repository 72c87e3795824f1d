/**
 * `npx tsx bench/micro-turn.ts [turns] [stored]`: the server's own CPU of a chat turn, in process and
 * without sockets, in the compiled server (dist/, or another build's with `PERSONA_MICRO_DIST=/x/dist`).
 * Builds the real core in a temp data dir with `stored` messages (default 10,000, as the chat suite),
 * stops the background job worker (formation, judgement and summaries are the job queue's figures, in
 * the chat suite), and runs `turns` persona.chat turns through `ChatService.runTurn` against the instant
 * fake model, which runs in a child process so its CPU is not counted. Reports CPU µs per turn until the
 * reply is returned ("to reply") and until the work after it (thread filing, mood, samples, job enqueues)
 * has run ("after"). CPU time of one process is far steadier than wall time on a shared machine; compare
 * two builds by running them alternately.
 *
 * `--cpu-prof FILE` writes a V8 CPU profile of the measured turns only (started after the seeding and
 * the warm-up turns, through node:inspector), for `npx tsx bench/profile-summary.ts FILE 60`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Session } from 'node:inspector/promises';
import { pathToFileURL } from 'node:url';
import type * as AppModule from '../src/app/app.js';
import type * as ConfigModule from '../src/config/load.js';
import type * as LoggerModule from '../src/logger.js';
import { seedText } from './lib/chat-texts.js';

const dist = path.resolve(process.env.PERSONA_MICRO_DIST ?? path.join(import.meta.dirname, '..', 'dist'));
const load = <T>(file: string): Promise<T> => import(pathToFileURL(path.join(dist, file)).href) as Promise<T>;
const { createCore } = await load<typeof AppModule>('app/app.js');
const { loadConfig } = await load<typeof ConfigModule>('config/load.js');
const { createLogger } = await load<typeof LoggerModule>('logger.js');

const args = process.argv.slice(2);
const profileAt = args.indexOf('--cpu-prof');
const profileFile = profileAt >= 0 ? args.splice(profileAt, 2)[1] : undefined;
const turns = Number(args[0] ?? 300);
const stored = Number(args[1] ?? 10_000);
const fake = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'lib', 'micro-turn-llm.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise<string>((resolve) => createInterface({ input: fake.stdout! }).once('line', resolve));
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'persona-micro-turn-'));
try {
  const config = loadConfig({ cwd: dataDir, env: {}, flags: { dataDir, port: 0, logLevel: 'warn', 'llm.ollamaHost': url } });
  const core = await createCore(config, { logger: createLogger('warn') });
  // The background jobs (formation, judgement, summaries) are the jobs lane's cost: not run here.
  await core.services.memory.jobs.stop();
  const binding = { id: 'micro_turn_session', userId: null };
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
  const settle = async (): Promise<void> => {
    for (let hop = 0; hop < 4; hop++) await new Promise((resolve) => setImmediate(resolve));
  };
  const turn = (index: number) =>
    core.services.chat.runTurn(binding, { message: `micro-${index}: ${seedText(index + 11)}`, personaId: 'aria', conversationId }, { signal: new AbortController().signal });
  for (let index = 0; index < 30; index++) {
    await turn(index);
    await settle();
  }
  const profiler = profileFile === undefined ? null : new Session();
  if (profiler !== null) {
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.setSamplingInterval', { interval: 100 });
    await profiler.post('Profiler.start');
  }
  let toReply = 0;
  let after = 0;
  for (let index = 0; index < turns; index++) {
    const before = process.cpuUsage();
    await turn(1000 + index);
    const replied = process.cpuUsage(before);
    await settle();
    const total = process.cpuUsage(before);
    toReply += replied.user + replied.system;
    after += total.user + total.system - (replied.user + replied.system);
  }
  if (profiler !== null && profileFile !== undefined) {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(profileFile, JSON.stringify(profile));
    profiler.disconnect();
  }
  process.stdout.write(`${path.relative(process.cwd(), dist) || dist}: ${turns} turns, ${stored} stored: CPU µs per turn to reply ${Math.round(toReply / turns)}, after ${Math.round(after / turns)}, total ${Math.round((toReply + after) / turns)}\n`);
  await core.close();
} finally {
  fake.kill();
  rmSync(dataDir, { recursive: true, force: true });
}
