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
 * Also reports the KB the JavaScript heap allocated per turn in each phase and the collections per 100
 * turns (bench/lib/alloc-meter.ts).
 *
 * `--cpu-prof FILE` writes a V8 CPU profile of the measured turns only (started after the seeding and
 * the warm-up turns, through node:inspector), for `npx tsx bench/profile-summary.ts FILE 60`. With
 * `--phase reply` (or `after`) it keeps only the samples taken while turns ran to their reply (or after it).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import { AllocationMeter, noAllocation } from './lib/alloc-meter.js';
import { keepWindows, profileClock, type Profile } from './lib/cpu-profile.js';
import { microDist, settle, startMicroCore } from './lib/micro-core.js';


const args = process.argv.slice(2);
const profileAt = args.indexOf('--cpu-prof');
const profileFile = profileAt >= 0 ? args.splice(profileAt, 2)[1] : undefined;
const phaseAt = args.indexOf('--phase');
const phase = phaseAt >= 0 ? args.splice(phaseAt, 2)[1] : undefined;
if (phase !== undefined && phase !== 'reply' && phase !== 'after') throw new Error('--phase takes reply or after');
const turns = Number(args[0] ?? 300);
const stored = Number(args[1] ?? 10_000);
// The background jobs (formation, judgement, summaries) are bench/micro-background.ts's: not run here.
const setup = await startMicroCore('micro-turn', stored, { stopJobs: true });
const { turn } = setup;
try {
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
  const meter = new AllocationMeter();
  const [toReplyAllocated, afterAllocated] = [noAllocation(), noAllocation()];
  const windows: Array<[number, number]> = [];
  for (let index = 0; index < turns; index++) {
    const began = profileClock();
    const before = process.cpuUsage();
    meter.start(toReplyAllocated);
    await turn(1000 + index);
    const replied = process.cpuUsage(before);
    meter.stop();
    const repliedAt = profileClock();
    meter.start(afterAllocated);
    await settle();
    meter.stop();
    const total = process.cpuUsage(before);
    windows.push(phase === 'after' ? [repliedAt, profileClock()] : [began, repliedAt]);
    toReply += replied.user + replied.system;
    after += total.user + total.system - (replied.user + replied.system);
  }
  if (profiler !== null && profileFile !== undefined) {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(profileFile, JSON.stringify(phase === undefined ? profile : keepWindows(profile as Profile, windows)));
    profiler.disconnect();
  }
  process.stdout.write(`${path.relative(process.cwd(), microDist) || microDist}: ${turns} turns, ${stored} stored: CPU µs per turn to reply ${Math.round(toReply / turns)}, after ${Math.round(after / turns)}, total ${Math.round((toReply + after) / turns)}\n`);
  const kb = (bytes: number): string => (bytes / 1024 / turns).toFixed(0);
  process.stdout.write(
    meter.finish()
      ? `  KB allocated per turn to reply ${kb(toReplyAllocated.bytes)}, after ${kb(afterAllocated.bytes)}; GCs per 100 turns ${(((toReplyAllocated.collections + afterAllocated.collections) * 100) / turns).toFixed(1)}\n`
      : '  allocation not measured: the GC profiler and the gc observer saw different collections\n',
  );
} finally {
  await setup.close();
}
