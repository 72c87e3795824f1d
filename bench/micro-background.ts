/**
 * `npx tsx bench/micro-background.ts [turns] [stored] [--stretches]`: the server's CPU per chat turn
 * **with the background work it causes** (memory formation, the turn appraisal, embeddings, the
 * relationship job, summaries, the job queue), in process and without sockets, in the compiled server
 * (dist/, or another build's with `PERSONA_MICRO_DIST=/x/dist`). Like bench/micro-turn.ts (10,000 stored
 * messages, real SQLite, the instant fake model in a child process so its CPU is not counted), but the job
 * worker runs: after each turn's reply it waits until the jobs the turn queued have run (`drain`).
 *
 * Reports CPU µs per turn: to the reply, the after-reply observers, the background jobs, and the total.
 * With `--stretches` it also runs a probe on the event loop during the jobs (a `setImmediate` chain that
 * notes the CPU time each loop iteration took): the longest synchronous stretches of background work, which a
 * turn arriving meanwhile waits behind (p50 / p99 / max, and how many per turn were over 0.5 ms). The probe
 * costs CPU of its own, so the CPU figures of a `--stretches` run are not comparable with a run without it.
 *
 * `--backlog N`: turns arrive faster than their jobs run — N turns are answered back to back while the job
 * worker holds off (the bench's own `yieldTo`, as the server's worker holds off while turns run), then
 * their jobs run together and are drained; the figures are still per turn. Without it (N = 1) each turn's
 * jobs run alone, as for a person chatting slowly.
 *
 * `--against DIST`: another build's dist/ in the same process, the two builds' turns alternating (see
 * compareBuilds): an A/B that the machine's load moves alike.
 *
 * `--cpu-prof FILE` writes a V8 CPU profile of the measured turns' **background jobs** only: the profiler
 * runs through the measured turns (started after the seeding and the warm-up turns, through
 * node:inspector) and the file keeps the samples taken while each turn's jobs ran (from the settled reply
 * to the end of `drain`), the same stretch as the "background jobs" figure. Read it with
 * `npx tsx bench/profile-summary.ts FILE 60`.
 *
 * Each run also reports the KB the JavaScript heap allocated per turn in each phase, the collections per
 * 100 turns and their main-thread pauses (bench/lib/alloc-meter.ts). `--alloc-prof FILE` writes a sampling
 * allocation profile (every 4 KB, objects the GC already collected included) of the measured turns, all
 * three phases: `npx tsx bench/profile-summary.ts FILE.heapprofile 40`.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { AllocationMeter, noAllocation, totalAllocation, type Allocation } from './lib/alloc-meter.js';
import { keepWindows, profileClock, type Profile } from './lib/cpu-profile.js';
import { loadBuilt, microDist, settle, startMicroCore } from './lib/micro-core.js';

const argv = process.argv.slice(2);
const profileAt = argv.indexOf('--cpu-prof');
const profileFile = profileAt >= 0 ? argv.splice(profileAt, 2)[1] : undefined;
if (profileAt >= 0 && profileFile === undefined) {
  process.stderr.write('--cpu-prof needs a file name: npx tsx bench/micro-background.ts 200 --cpu-prof jobs.cpuprofile\n');
  process.exit(2);
}
const allocationAt = argv.indexOf('--alloc-prof');
const allocationFile = allocationAt >= 0 ? argv.splice(allocationAt, 2)[1] : undefined;
if (allocationAt >= 0 && allocationFile === undefined) {
  process.stderr.write('--alloc-prof needs a file name: npx tsx bench/micro-background.ts 200 --alloc-prof turns.heapprofile\n');
  process.exit(2);
}
const backlogAt = argv.indexOf('--backlog');
const backlog = backlogAt >= 0 ? Number(argv.splice(backlogAt, 2)[1]) : 1;
if (!Number.isInteger(backlog) || backlog < 1) {
  process.stderr.write('--backlog needs a number of turns: npx tsx bench/micro-background.ts 200 --backlog 4\n');
  process.exit(2);
}
const againstAt = argv.indexOf('--against');
const againstDist = againstAt >= 0 ? argv.splice(againstAt, 2)[1] : undefined;
if (againstAt >= 0 && againstDist === undefined) {
  process.stderr.write('--against needs another build\'s dist/: npx tsx bench/micro-background.ts 200 --against /tmp/pmcp-a/dist\n');
  process.exit(2);
}
const args = argv.filter((arg) => !arg.startsWith('--'));
const isProbed = process.argv.includes('--stretches');

const turns = Number(args[0] ?? 200);
const stored = Number(args[1] ?? 10_000);

/**
 * A setImmediate chain noting the CPU time (ms) of each event-loop iteration while `running`: CPU, not wall
 * time, so that a stretch the kernel preempted on this shared machine is not counted longer than it ran.
 */
class LoopProbe {
  readonly gaps: number[] = [];
  private running = false;
  private last = 0;
  start(): void {
    this.running = true;
    this.last = cpuNow();
    setImmediate(() => this.step());
  }
  /** Ends the probe: the iteration under way counts up to now (the harness's next turn is not background work). */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.gaps.push(cpuNow() - this.last);
  }
  private step(): void {
    if (!this.running) return;
    const now = cpuNow();
    this.gaps.push(now - this.last);
    this.last = now;
    if (this.running) setImmediate(() => this.step());
  }
}

function cpuNow(): number {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1_000;
}

/** The per-turn allocation line of the three phases (to the reply, after it, the background jobs). */
function describeAllocation([toReply, after, jobs]: Allocation[], isMetered: boolean): string {
  if (!isMetered) return 'allocation not measured: the GC profiler and the gc observer saw different collections';
  const kb = (allocation: Allocation): string => (allocation.bytes / 1024 / turns).toFixed(0);
  const all = totalAllocation([toReply!, after!, jobs!]);
  return (
    `KB allocated per turn to reply ${kb(toReply!)}, after ${kb(after!)}, background jobs ${kb(jobs!)}, total ${kb(all)}; ` +
    `GCs per 100 turns ${((all.collections * 100) / turns).toFixed(1)}, their main-thread pauses ${(all.cost / turns).toFixed(0)} µs per turn`
  );
}

if (againstDist !== undefined) {
  await compareBuilds(againstDist);
  process.exit(0);
}

/**
 * `--against DIST`: this build and another in one process, each with its own core, data dir and fake
 * model, their turns alternating (a turn, or a backlog's turns, then its jobs drained, then the other
 * build's; the order flips every group), so that the machine's load — which on this shared machine moves
 * the CPU of one build's runs by more than a change — hits both alike. CPU per turn of each, as above.
 */
async function compareBuilds(other: string): Promise<void> {
  const cpu = (usage: NodeJS.CpuUsage): number => usage.user + usage.system;
  const names = [path.relative(process.cwd(), microDist) || microDist, path.relative(process.cwd(), other) || other];
  const builds = [
    { name: names[0]!, setup: await startMicroCore('micro-background', stored, { stopJobs: true }) },
    { name: names[1]!, setup: await startMicroCore('micro-background-against', stored, { stopJobs: true, dist: other }) },
  ].map((build) => ({ ...build, isHolding: false, toReply: 0, after: 0, background: 0, allocated: [noAllocation(), noAllocation(), noAllocation()] }));
  try {
    for (const build of builds) {
      const jobs = build.setup.core.services.memory.jobs;
      if (backlog > 1) jobs.yieldTo?.(() => build.isHolding, 600_000);
      jobs.start();
      await jobs.drain(60_000);
      for (let index = 0; index < 40; index++) {
        await build.setup.turn(index);
        await jobs.drain(60_000);
      }
    }
    const meter = new AllocationMeter();
    for (let group = 0; group * backlog < turns; group++) {
      for (const build of group % 2 === 0 ? builds : [...builds].reverse()) {
        for (let index = group * backlog; index < Math.min(turns, (group + 1) * backlog); index++) {
          build.isHolding = backlog > 1;
          const before = process.cpuUsage();
          meter.start(build.allocated[0]!);
          await build.setup.turn(1000 + index);
          const replied = process.cpuUsage(before);
          meter.stop();
          meter.start(build.allocated[1]!);
          await settle();
          meter.stop();
          build.toReply += cpu(replied);
          build.after += cpu(process.cpuUsage(before)) - cpu(replied);
        }
        build.isHolding = false;
        const before = process.cpuUsage();
        meter.start(build.allocated[2]!);
        await build.setup.core.services.memory.jobs.drain(60_000);
        meter.stop();
        build.background += cpu(process.cpuUsage(before));
      }
    }
    const isMetered = meter.finish();
    const per = (micros: number): number => Math.round(micros / turns);
    for (const build of builds)
      process.stdout.write(
        `${build.name}: ${turns} turns${backlog > 1 ? ` in backlogs of ${backlog}` : ''}, ${stored} stored, alternating: CPU µs per turn to reply ${per(build.toReply)}, after ${per(build.after)}, background jobs ${per(build.background)}, total ${per(build.toReply + build.after + build.background)}\n` +
          `  ${describeAllocation(build.allocated, isMetered)}\n`,
      );
  } finally {
    for (const build of builds) await build.setup.close();
  }
}

const setup = await startMicroCore('micro-background', stored, { stopJobs: true });
const { core, turn } = setup;
try {
  const jobs = core.services.memory.jobs;
  const byType = new Map<string, { n: number; cpu: number }>();
  if (process.env.MICRO_BY_TYPE) {
    const handlers = (jobs as unknown as { handlers: Map<string, (job: unknown, signal: AbortSignal) => Promise<void>> }).handlers;
    for (const [type, handler] of handlers)
      handlers.set(type, async (job, signal) => {
        const since = process.cpuUsage();
        try {
          await handler(job, signal);
        } finally {
          const used = process.cpuUsage(since);
          const entry = byType.get(type) ?? { n: 0, cpu: 0 };
          entry.n++;
          entry.cpu += used.user + used.system;
          byType.set(type, entry);
        }
      });
  }
  const bySync = new Map<string, { n: number; cpu: number }>();
  if (process.env.MICRO_BY_TYPE) {
    // The synchronous part of each call (store calls do all their work before they return).
    const wrap = (proto: Record<string, unknown>, names: string[], prefix: string): void => {
      for (const name of names) {
        const original = proto[name] as (...args: unknown[]) => unknown;
        proto[name] = function (this: unknown, ...args: unknown[]) {
          const since = process.cpuUsage();
          try {
            return original.apply(this, args);
          } finally {
            const used = process.cpuUsage(since);
            const entry = bySync.get(`${prefix}.${name}`) ?? { n: 0, cpu: 0 };
            entry.n++;
            entry.cpu += used.user + used.system;
            bySync.set(`${prefix}.${name}`, entry);
          }
        };
      }
    };
    const { SqliteMemoryStore } = await loadBuilt<{ SqliteMemoryStore: { prototype: Record<string, unknown> } }>('adapters/sqlite/memory-store.js');
    const { SqliteJobQueue } = await loadBuilt<{ SqliteJobQueue: { prototype: Record<string, unknown> } }>('adapters/sqlite/job-queue.js');
    const { SqliteSocialStore } = await loadBuilt<{ SqliteSocialStore: { prototype: Record<string, unknown> } }>('adapters/sqlite/social-store.js');
    const { HashedNgramEmbedder } = await loadBuilt<{ HashedNgramEmbedder: { prototype: Record<string, unknown> } }>('adapters/embedders/hashed-ngram.js');
    wrap(SqliteMemoryStore.prototype, ['replaceFormed', 'vectorSearch', 'getMany', 'message', 'countFor', 'latestSummary', 'messagesAfter', 'countMessagesAfter', 'insert', 'pruneCandidates'], 'memories');
    wrap(SqliteJobQueue.prototype, ['claim', 'writeEnqueued', 'writeCompleted', 'tick', 'drain'], 'jobs');
    wrap(SqliteSocialStore.prototype, ['recordInteraction'], 'social');
    wrap(HashedNgramEmbedder.prototype, ['embed'], 'offline');
  }
  /**
   * `MICRO_BY_SQL=1`: the CPU of each SQL statement run during the background jobs (better-sqlite3's
   * `run`/`get`/`all`, triggers and COMMITs included), per turn, by statement. Wraps the statements'
   * methods, so the run's totals are not comparable with a run without it.
   */
  const bySql = new Map<string, { n: number; cpu: number }>();
  let isCountingSql = false;
  if (process.env.MICRO_BY_SQL) {
    const { createRequire } = await import('node:module');
    const Database = createRequire(path.join(microDist, 'x.js'))('better-sqlite3') as new (file: string) => { prepare(sql: string): object; close(): void };
    const probeDb = new Database(':memory:');
    const proto = Object.getPrototypeOf(probeDb.prepare('SELECT 1')) as Record<string, unknown>;
    probeDb.close();
    for (const name of ['run', 'get', 'all']) {
      const original = proto[name] as (...args: unknown[]) => unknown;
      proto[name] = function (this: { source: string }, ...args: unknown[]) {
        if (!isCountingSql) return original.apply(this, args);
        const since = process.cpuUsage();
        try {
          return original.apply(this, args);
        } finally {
          const used = process.cpuUsage(since);
          const key = this.source.replace(/\s+/g, ' ').trim().slice(0, 90);
          const entry = bySql.get(key) ?? { n: 0, cpu: 0 };
          entry.n++;
          entry.cpu += used.user + used.system;
          bySql.set(key, entry);
        }
      };
    }
  }
  /** While true (a backlog's turns), the worker starts no job: the server's worker does the same while turns run. */
  let isHolding = false;
  if (backlog > 1) jobs.yieldTo?.(() => isHolding, 600_000);
  jobs.start();
  await jobs.drain(60_000);
  for (let index = 0; index < 40; index++) {
    await turn(index);
    await jobs.drain(60_000);
  }
  let toReply = 0;
  let after = 0;
  let background = 0;
  const meter = new AllocationMeter();
  const allocated = [noAllocation(), noAllocation(), noAllocation()];
  const probe = new LoopProbe();
  /** Per turn, the longest event-loop iteration of its background work (ms of CPU). */
  const longest: number[] = [];
  const profiler = profileFile === undefined ? null : new Session();
  /** The stretches of the profile that are background work: [from, to] on the profile's clock. */
  const jobWindows: Array<[number, number]> = [];
  if (profiler !== null) {
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.setSamplingInterval', { interval: 100 });
    await profiler.post('Profiler.start');
  }
  const allocationProfiler = allocationFile === undefined ? null : new Session();
  if (allocationProfiler !== null) {
    allocationProfiler.connect();
    await allocationProfiler.post('HeapProfiler.enable');
    await allocationProfiler.post('HeapProfiler.startSampling', { samplingInterval: 4_096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  }
  for (let index = 0; index < turns; index++) {
    const isLastOfGroup = (index + 1) % backlog === 0 || index === turns - 1;
    isHolding = backlog > 1;
    const before = process.cpuUsage();
    meter.start(allocated[0]!);
    await turn(1000 + index);
    const replied = process.cpuUsage(before);
    meter.stop();
    meter.start(allocated[1]!);
    await settle();
    const settled = process.cpuUsage(before);
    meter.stop();
    if (!isLastOfGroup) {
      const cpu = (usage: NodeJS.CpuUsage): number => usage.user + usage.system;
      toReply += cpu(replied);
      after += cpu(settled) - cpu(replied);
      continue;
    }
    isHolding = false;
    const first = probe.gaps.length;
    if (isProbed) probe.start();
    const jobsFrom = profileClock();
    isCountingSql = true;
    meter.start(allocated[2]!);
    await jobs.drain(60_000);
    meter.stop();
    isCountingSql = false;
    if (profiler !== null) jobWindows.push([jobsFrom, profileClock()]);
    probe.stop();
    if (isProbed) longest.push(Math.max(0, ...probe.gaps.slice(first)));
    const total = process.cpuUsage(before);
    const cpu = (usage: NodeJS.CpuUsage): number => usage.user + usage.system;
    toReply += cpu(replied);
    after += cpu(settled) - cpu(replied);
    background += cpu(total) - cpu(settled);
  }
  if (profiler !== null && profileFile !== undefined) {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(profileFile, JSON.stringify(keepWindows(profile as Profile, jobWindows)));
    profiler.disconnect();
  }
  if (allocationProfiler !== null && allocationFile !== undefined) {
    const { profile } = await allocationProfiler.post('HeapProfiler.stopSampling');
    writeFileSync(allocationFile, JSON.stringify(profile));
    allocationProfiler.disconnect();
  }
  const isMetered = meter.finish();
  const per = (micros: number): number => Math.round(micros / turns);
  process.stdout.write(
    `${path.relative(process.cwd(), microDist) || microDist}: ${turns} turns${backlog > 1 ? ` in backlogs of ${backlog}` : ''}, ${stored} stored: CPU µs per turn to reply ${per(toReply)}, after ${per(after)}, background jobs ${per(background)}, total ${per(toReply + after + background)}\n` +
      `  ${describeAllocation(allocated, isMetered)}\n`,
  );
  if (byType.size > 0) process.stdout.write(`${[...byType].map(([type, { n, cpu }]) => `${type}: ${(n / (turns + 40)).toFixed(2)}/turn × ${Math.round(cpu / n)} µs`).join(', ')}\n`);
  if (bySync.size > 0) process.stdout.write(`${[...bySync].sort((a, b) => b[1].cpu - a[1].cpu).map(([name, { n, cpu }]) => `  ${name}: ${(n / (turns + 40)).toFixed(2)}/turn × ${Math.round(cpu / n)} µs = ${Math.round(cpu / (turns + 40))} µs/turn`).join('\n')}\n`);
  if (bySql.size > 0) {
    const rows = [...bySql].sort((a, b) => b[1].cpu - a[1].cpu);
    const total = rows.reduce((sum, [, { cpu }]) => sum + cpu, 0);
    process.stdout.write(`SQL during the background jobs: ${Math.round(total / turns)} µs/turn\n`);
    process.stdout.write(`${rows.slice(0, 30).map(([sql, { n, cpu }]) => `  ${Math.round(cpu / turns)} µs/turn (${(n / turns).toFixed(2)} × ${Math.round(cpu / n)} µs) ${sql}`).join('\n')}\n`);
  }
  if (isProbed) {
    const gaps = probe.gaps;
    const over = gaps.filter((gap) => gap > 0.5).length;
    // What a request arriving at a random moment of the background work waits for: the rest of the
    // iteration it lands in, Σ s² / (2 Σ s) over the iterations.
    const sum = gaps.reduce((total, gap) => total + gap, 0);
    const residual = gaps.reduce((total, gap) => total + gap * gap, 0) / (2 * sum);
    longest.sort((a, b) => a - b);
    const turnAt = (q: number): string => (longest[Math.min(longest.length - 1, Math.floor(q * longest.length))] ?? 0).toFixed(2);
    process.stdout.write(
      `background event-loop iterations (CPU ms): over 0.5 ms ${(over / turns).toFixed(2)} per turn, over 1 ms ${(gaps.filter((gap) => gap > 1).length / turns).toFixed(2)} per turn; ` +
        `longest per turn p50 ${turnAt(0.5)} p90 ${turnAt(0.9)} max ${turnAt(1)}; a request arriving meanwhile waits ${residual.toFixed(2)} ms on average\n`,
    );
  }
} finally {
  await setup.close();
}
