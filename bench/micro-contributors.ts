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
 *
 * `--cpu-prof FILE` writes a V8 CPU profile of the measured turns' contributor windows only (the jobs
 * drained between turns are left out), for `npx tsx bench/profile-summary.ts FILE 60`.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import path from 'node:path';
import type * as MemoryHooks from '../src/services/memory/turn-hooks.js';
import type * as SocialHooks from '../src/services/social/social-turn-hooks.js';
import { seedText } from './lib/chat-texts.js';
import { keepWindows, profileClock, type Profile } from './lib/cpu-profile.js';
import { loadBuilt, microDist, startMicroCore } from './lib/micro-core.js';

const { MemoryRecall } = await loadBuilt<typeof MemoryHooks>('services/memory/turn-hooks.js');
const { SocialPromptContributor } = await loadBuilt<typeof SocialHooks>('services/social/social-turn-hooks.js');

const args = process.argv.slice(2);
const profileAt = args.indexOf('--cpu-prof');
const profileFile = profileAt >= 0 ? args.splice(profileAt, 2)[1] : undefined;
const turns = Number(args[0] ?? 200);
const stored = Number(args[1] ?? 10_000);
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
/** The contributor windows on the profile's clock (`--cpu-prof`): opened with the first, closed with the last. */
const windows: Array<[number, number]> = [];
let windowOpenedAt = 0;
const own = new Map<string, number>();
for (const prototype of [MemoryRecall.prototype, SocialPromptContributor.prototype]) {
  const contribute = prototype.contribute;
  prototype.contribute = async function (this: { name: string }, ...args: Parameters<typeof contribute>) {
    const started = cpuNow();
    if (active++ === 0) {
      openedAt = started;
      windowOpenedAt = profileClock();
    }
    try {
      return await contribute.apply(this as never, args);
    } finally {
      const ended = cpuNow();
      own.set(this.name, (own.get(this.name) ?? 0) + ended - started);
      if (--active === 0) {
        together += ended - openedAt;
        windows.push([windowOpenedAt, profileClock()]);
      }
    }
  };
}

function percentile(samples: readonly number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

const setup = await startMicroCore('micro-contributors', stored);
const { core, binding, conversationId } = setup;
try {
  const samples = { together: [] as number[], memory: [] as number[], social: [] as number[] };
  const profiler = profileFile === undefined ? null : new Session();
  for (let index = 0; index < WARM_UP + turns; index++) {
    if (index === WARM_UP && profiler !== null) {
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.setSamplingInterval', { interval: 100 });
      await profiler.post('Profiler.start');
      windows.length = 0;
    }
    together = 0;
    own.clear();
    const message = index < WARM_UP ? `warming up ${index}: ${seedText(index)}` : `bench-plain-${index}: ${seedText(index + 11)}`;
    await core.services.chat.runTurn(binding, { message, personaId: 'aria', conversationId }, { signal: new AbortController().signal });
    await core.services.memory.jobs.drain(30_000);
    // A real turn arrives by I/O, after what the jobs' writes left for the event loop's check phase (the
    // full-text mirror following them, memory-store.ts `followSoon`): not on the next turn's path.
    await new Promise((resolve) => setImmediate(resolve));
    if (index < WARM_UP) continue;
    samples.together.push(together / 1000);
    samples.memory.push((own.get('memory') ?? 0) / 1000);
    samples.social.push((own.get('social') ?? 0) / 1000);
  }
  if (profiler !== null && profileFile !== undefined) {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(profileFile, JSON.stringify(keepWindows(profile as Profile, windows)));
    profiler.disconnect();
  }
  const memories = await core.services.memory.memories.stats();
  const line = (name: string, values: readonly number[]): string =>
    `  ${name.padEnd(26)} p50 ${percentile(values, 0.5).toFixed(3)}  p99 ${percentile(values, 0.99).toFixed(3)}  mean ${(values.reduce((a, b) => a + b, 0) / values.length).toFixed(3)}\n`;
  process.stdout.write(
    `${path.relative(process.cwd(), microDist) || microDist}: ${turns} turns after ${WARM_UP} warm-up, ${stored} stored messages, ${memories.total} memories at the end (load average ${os.loadavg()[0]!.toFixed(1)})\n` +
      '  CPU ms per turn\n' +
      line('contributors together', samples.together) +
      line('memory (own window)', samples.memory) +
      line('social (own window)', samples.social),
  );
} finally {
  await setup.close();
}
