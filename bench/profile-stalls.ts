/**
 * `npx tsx bench/profile-stalls.ts FILE.cpuprofile [minMs] [top] [--from SECONDS]`: the server's longest
 * busy stretches in a V8 CPU profile (as written by `npm run bench -- open-loop --cpu-prof`), and what ran
 * in each.
 *
 * A busy stretch is a run of samples with no `(idle)` sample between them: the event loop never went
 * back to waiting for I/O, so every request that arrived meanwhile waited for the stretch to end. Under
 * a steady 10k requests/s the loop is busy about half the time in stretches of a few ms; the tail of an
 * open-loop run comes from the long ones. For each stretch of at least `minMs` (default 20) the tool
 * prints when it started (seconds from the profile's start), how long it lasted, how much of it was GC,
 * and the functions with the most inclusive time inside it, so a periodic sweep, a timer batch, a
 * synchronous write or a compaction shows by name. It also lists gaps between samples of more than
 * `minMs`: there the profiler's thread did not run at all (the process was descheduled: machine load,
 * not the server's code). "monotonic" is the clock of the server's stall log (`logStallsMs`), so a
 * logged stall can be looked up here.
 *
 * Last, all busy time by what the event loop was running it for: frames read from sockets (the requests),
 * each `process.nextTick` callback, each timer's and each `setImmediate`'s callback, GC, V8's own
 * `(program)` and the rest by entry point; a periodic job that is not a request shows there even when its
 * stretches are short. `--from SECONDS` leaves out the profile's first seconds (start-up, warm-up).
 */
import { readFileSync } from 'node:fs';
import { label, type Profile, type ProfileNode } from './lib/cpu-profile.js';

const args = process.argv.slice(2);
const fromIndex = args.indexOf('--from');
const fromUs = fromIndex === -1 ? 0 : Number(args.splice(fromIndex, 2)[1]) * 1e6;
const [file, minArg, topArg] = args;
if (file === undefined || Number.isNaN(fromUs)) {
  process.stderr.write('usage: npx tsx bench/profile-stalls.ts FILE.cpuprofile [minMs] [top] [--from SECONDS]\n');
  process.exit(2);
}
const minUs = Number(minArg ?? 20) * 1000;
const top = Number(topArg ?? 12);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

const IDLE = new Set(['(idle)']);
/** The sampling interval is 1 ms; a longer gap between two samples is time the process did not run. */
const GAP_US = 5000;
const SAMPLE_US = 1000;
const NOISE = new Set(['(root)', '(program)']);

interface Stretch {
  startUs: number;
  /** Wall time from the stretch's first sample to its last. */
  durationUs: number;
  /** The part of it in which the process ran (gaps between samples of more than GAP_US left out). */
  runningUs: number;
  gcUs: number;
  byFunction: Map<string, number>;
}

/** The entry points whose next frame down says what a sample's work was for (see `sourceOf`). */
const CALLBACK_RUNNERS: Record<string, string> = {
  processTicksAndRejections: 'nextTick',
  listOnTimeout: 'timer',
  processImmediate: 'immediate',
};
const SOCKET_READS = new Set(['onStreamRead', 'socketOnData']);

/** What the event loop ran a sample's work for, from the sample's stack (root first). */
function sourceOf(stack: ProfileNode[]): string {
  const names = stack.map((node) => node.callFrame.functionName);
  if (names.some((name) => SOCKET_READS.has(name))) return 'socket reads (requests in)';
  const leaf = names.at(-1)!;
  if (leaf === '(garbage collector)' || leaf === '(program)') return leaf;
  for (let index = names.length - 2; index >= 0; index--) {
    const kind = CALLBACK_RUNNERS[names[index]!];
    if (kind !== undefined) return `${kind}: ${label(stack[index + 1]!)}`;
  }
  return `other: ${label(stack[1] ?? stack[0]!)}`;
}

const bySource = new Map<string, number>();
const stretches: Stretch[] = [];
const gaps: Array<{ atUs: number; us: number }> = [];
let current: Stretch | null = null;
let at = 0;
for (let index = 0; index < profile.samples.length; index++) {
  const delta = profile.timeDeltas[index] ?? 0;
  at += delta;
  if (delta >= minUs) gaps.push({ atUs: at - delta, us: delta });
  const ran = delta > GAP_US ? SAMPLE_US : delta;
  const node = byId.get(profile.samples[index]!)!;
  const name = node.callFrame.functionName;
  if (IDLE.has(name)) {
    if (current !== null) stretches.push(current);
    current = null;
    continue;
  }
  if (at - delta >= fromUs) {
    const stack: ProfileNode[] = [];
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) stack.unshift(byId.get(id)!);
    const source = sourceOf(stack);
    bySource.set(source, (bySource.get(source) ?? 0) + ran);
  }
  current ??= { startUs: at - delta, durationUs: 0, runningUs: 0, gcUs: 0, byFunction: new Map() };
  current.durationUs += delta;
  current.runningUs += ran;
  if (name === '(garbage collector)') current.gcUs += ran;
  const seen = new Set<string>();
  for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
    const frame = label(byId.get(id)!);
    if (NOISE.has(frame) || seen.has(frame)) continue;
    seen.add(frame);
    current.byFunction.set(frame, (current.byFunction.get(frame) ?? 0) + ran);
  }
}
if (current !== null) stretches.push(current);

const ms = (us: number): string => (us / 1000).toFixed(1);
const long = stretches.filter((stretch) => stretch.runningUs >= minUs);
const busyUs = stretches.reduce((sum, stretch) => sum + stretch.runningUs, 0);
process.stdout.write(
  `${file}: ${ms(at)} ms profiled, ${ms(busyUs)} ms busy in ${stretches.length} stretches; ` +
    `${long.length} of at least ${ms(minUs)} ms running (${ms(long.reduce((sum, stretch) => sum + stretch.runningUs, 0))} ms in all)\n`,
);
const sizes = [1, 5, 10, 20, 50, 100, 200].map((limit) => `>=${limit} ms: ${stretches.filter((stretch) => stretch.runningUs >= limit * 1000).length}`);
process.stdout.write(`busy stretches (running time) ${sizes.join(', ')}\n`);
for (const stretch of long.sort((a, b) => b.runningUs - a.runningUs).slice(0, top)) {
  process.stdout.write(
    `\nat ${(stretch.startUs / 1e6).toFixed(3)} s (monotonic ${ms(profile.startTime + stretch.startUs)} ms): ` +
      `busy ${ms(stretch.runningUs)} ms running, ${ms(stretch.durationUs)} ms wall (GC ${ms(stretch.gcUs)} ms)\n`,
  );
  const entries = [...stretch.byFunction].sort((a, b) => b[1] - a[1]).slice(0, 14);
  for (const [name, us] of entries) process.stdout.write(`  ${ms(us).padStart(7)} ms  ${name}\n`);
}
if (gaps.length > 0) {
  process.stdout.write(`\ngaps between samples of at least ${ms(minUs)} ms (process not running): ${gaps.length}, ${ms(gaps.reduce((sum, gap) => sum + gap.us, 0))} ms in all\n`);
  for (const gap of gaps.sort((a, b) => b.us - a.us).slice(0, top)) process.stdout.write(`  at ${(gap.atUs / 1e6).toFixed(3)} s: ${ms(gap.us)} ms\n`);
}

const sourcesUs = [...bySource.values()].reduce((sum, us) => sum + us, 0);
process.stdout.write(`\nbusy time from ${(fromUs / 1e6).toFixed(1)} s by what the event loop ran it for: ${ms(sourcesUs)} ms\n`);
for (const [source, us] of [...bySource].sort((a, b) => b[1] - a[1]).slice(0, top * 2)) {
  process.stdout.write(`  ${ms(us).padStart(8)} ms ${((us * 100) / sourcesUs).toFixed(1).padStart(5)} %  ${source}\n`);
}
