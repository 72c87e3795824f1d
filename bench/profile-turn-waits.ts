/**
 * `npx tsx bench/profile-turn-waits.ts DIR [--skip N] [--top N] [--stage NAME] [--slow PERCENT]`: what the chat turns of a
 * run with `bench/lib/turn-tracer.mjs` loaded into the server waited for, stage by stage.
 *
 * Run the chat suite with the tracer:
 *   PERSONA_TRACE_DIR=DIR PERSONA_BENCH_NODE_FLAGS="--import $PWD/bench/lib/turn-tracer.mjs" \
 *     npm run bench -- chat --no-build
 * then this script on DIR (one `TRACE.<pid>.json` and `TRACE.<pid>.cpuprofile` pair; the newest is read).
 *
 * For each stage of each turn (its stopwatch's laps; each contributor's own start and end) it sorts the CPU
 * profile's samples inside the stage's window by what ran: `(idle)` (the event loop waited for I/O or a
 * timer), `(garbage collector)`, `(program)` (native work outside JavaScript: socket reads and writes),
 * `(not running)` (sampling gaps: the process was descheduled) and otherwise the outermost frame of the
 * server's own code or a dependency (the task the loop was running: a resumed async function, a timer's
 * or an immediate's callback), grouped by the turn's own work, the previous turn's after-reply work,
 * background jobs and the rest. It also reports, per stage, how many turns had a background job or a
 * write-batch commit running inside the stage; the social contributor's waits for the previous turn's
 * writes (`EmotionService.current`, `TopicThreadService.filed`: pending or not, how long); and whether the
 * turn's model call found the chat slot taken. Last, the slowest `--slow` % (default 2) of the turns by
 * their own time to the reply (the runqueue wait removed), each with the garbage collections, long
 * transactions and WAL checkpoints, jobs and tasks inside it, and how often each of those is inside a
 * slow turn against the others.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Profile, ProfileNode } from './lib/cpu-profile.js';

interface TracedTurn {
  startedAt: number;
  /** The event loop's runqueue wait so far (µs) when the turn started; absent in older traces. */
  waitAtStart?: number;
  /** [stage, when it ended, the runqueue wait so far] */
  laps: Array<[string, number, number?]>;
  own: Array<[string, number, number]>;
}
interface Span {
  startedAt: number;
  endedAt: number;
}
interface Trace {
  turns: TracedTurn[];
  jobs: Array<{ type: string; n: number; startedAt: number; endedAt: number }>;
  flushes: Array<{ n: number; writes: string[]; startedAt: number; endedAt: number }>;
  waits: Array<{ what: string; pending: boolean; startedAt: number; endedAt: number }>;
  llm: Array<{ task: string | null; priority: string | null; running: number; queued: number; startedAt: number; firstAt: number; endedAt: number }>;
  /** Outermost SQLite transactions; `checkpointed`: WAL frames copied back by a checkpoint inside it. */
  commits?: Array<Span & { checkpointed: number; frames: number; asker: string | null }>;
  gc?: Array<Span & { kind: string }>;
}

const argv = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const at = argv.indexOf(name);
  return at >= 0 ? Number(argv.splice(at, 2)[1]) : fallback;
};
const stageAt = argv.indexOf('--stage');
const onlyStage = stageAt >= 0 ? argv.splice(stageAt, 2)[1] : undefined;
const skip = option('--skip', 50);
const slowPercent = option('--slow', 2);
const top = option('--top', 12);
const dir = argv[0];
if (dir === undefined) {
  process.stderr.write('usage: npx tsx bench/profile-turn-waits.ts DIR [--skip N] [--top N] [--stage NAME]\n');
  process.exit(2);
}
const newest = readdirSync(dir)
  .filter((file) => /^TRACE\.\d+\.json$/.test(file))
  .sort((a, b) => statSync(path.join(dir, b)).mtimeMs - statSync(path.join(dir, a)).mtimeMs)[0];
if (newest === undefined) throw new Error(`no TRACE.<pid>.json in ${dir}`);
const trace = JSON.parse(readFileSync(path.join(dir, newest), 'utf8')) as Trace;
const profile = JSON.parse(readFileSync(path.join(dir, newest.replace(/\.json$/, '.cpuprofile')), 'utf8')) as Profile;

// ---- each sample's time and what it was running ----
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const SPECIAL = new Set(['(idle)', '(garbage collector)', '(program)']);
const ownerCache = new Map<number, string>();
/** The outermost frame of the server's code or a dependency (not node's internals), or the special node's name. */
function ownerOf(node: ProfileNode): string {
  const cached = ownerCache.get(node.id);
  if (cached !== undefined) return cached;
  let owner: string;
  if (SPECIAL.has(node.callFrame.functionName)) owner = node.callFrame.functionName;
  else {
    const stack: ProfileNode[] = [];
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) stack.push(byId.get(id)!);
    const outer = stack.reverse().find((frame) => frame.callFrame.url !== '' && !frame.callFrame.url.startsWith('node:'));
    owner = outer === undefined ? `${node.callFrame.functionName || '(anonymous)'} [node]` : frameName(outer);
  }
  ownerCache.set(node.id, owner);
  return owner;
}
function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const file = url.replace(/^file:\/\//, '');
  const short = file.includes('/node_modules/') ? file.slice(file.lastIndexOf('/node_modules/') + 14).split('/')[0]! : file.slice(file.lastIndexOf('/dist/') + 6);
  return `${functionName || '(anonymous)'} ${short}:${lineNumber + 1}`;
}
/** Which side an owner is on: the turn's own work, the previous turn's after-reply work, background jobs, or other. */
function sideOf(owner: string): string {
  if (SPECIAL.has(owner) || owner === '(not running)') return owner;
  if (/job-queue|formation|replaceFormed|turn-appraiser|summar|maintenance|embedders\/|updateRelationship|askJudge|InteractiveYield|giveWay|job-worker/.test(owner)) return 'background jobs';
  if (/write-batch|emotion-service|topic-thread-service|mood-history|turnCompleted|notifyObservers|afterReplyWritten|after-io/.test(owner)) return 'after-reply work';
  if (/^\S+ (undici|ws)(:|$)/.test(owner)) return `network (${owner.split(' ')[1]!.split(':')[0]})`;
  if (/\.js:\d+$/.test(owner)) return 'turn and requests';
  return 'other';
}

const times: number[] = [];
const owners: string[] = [];
{
  let at = profile.startTime;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    at += delta;
    times.push(at);
    owners.push(ownerOf(byId.get(id)!));
  });
}
const interval = [...profile.timeDeltas].sort((a, b) => a - b)[Math.floor(profile.timeDeltas.length / 2)] ?? 100;
/** Samples in (from, to]: each counts the time since the previous sample; a long gap counts one interval as the sample's and the rest as not running. */
function attribute(from: number, to: number, into: Map<string, number>): void {
  let low = 0;
  let high = times.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (times[mid]! <= from) low = mid + 1;
    else high = mid;
  }
  for (let index = low; index < times.length && times[index - 1]! < to; index++) {
    const start = Math.max(from, index === 0 ? profile.startTime : times[index - 1]!);
    const end = Math.min(to, times[index]!);
    const span = Math.max(0, end - start);
    const ran = Math.min(span, 4 * interval);
    into.set(owners[index]!, (into.get(owners[index]!) ?? 0) + ran);
    if (span > ran) into.set('(not running)', (into.get('(not running)') ?? 0) + span - ran);
  }
}

// ---- stages per turn ----
const turns = trace.turns.slice(skip);
interface StageWindow {
  stage: string;
  from: number;
  to: number;
}
function windowsOf(turn: TracedTurn): StageWindow[] {
  const windows: StageWindow[] = [];
  let last = turn.startedAt;
  for (const [stage, at] of turn.laps) {
    windows.push({ stage, from: last, to: at });
    last = at;
  }
  for (const [stage, from, to] of turn.own) windows.push({ stage, from, to });
  return windows;
}
const overlaps = (a: { startedAt: number; endedAt: number }, window: StageWindow): boolean => a.startedAt < window.to && (a.endedAt === 0 ? Infinity : a.endedAt) > window.from;

interface StageSummary {
  wall: number[];
  owners: Map<string, number>;
  withJob: number;
  jobTypes: Map<string, number>;
  withFlush: number;
  flushUs: number;
  /** Who asked for the writes of the commits inside the stage. */
  flushWrites: Map<string, number>;
}
const stages = new Map<string, StageSummary>();
// The window between a turn's reply being stored and the next turn's start: the client's round trip.
const gapOwners = new Map<string, number>();
let gapWall = 0;
turns.forEach((turn, index) => {
  for (const window of windowsOf(turn)) {
    let summary = stages.get(window.stage);
    if (summary === undefined) stages.set(window.stage, (summary = { wall: [], owners: new Map(), withJob: 0, jobTypes: new Map(), withFlush: 0, flushUs: 0, flushWrites: new Map() }));
    summary.wall.push(window.to - window.from);
    attribute(window.from, window.to, summary.owners);
    const jobs = trace.jobs.filter((job) => overlaps(job, window));
    if (jobs.length > 0) summary.withJob += 1;
    for (const job of new Set(jobs.map((job) => job.type))) summary.jobTypes.set(job, (summary.jobTypes.get(job) ?? 0) + 1);
    const flushes = trace.flushes.filter((flush) => overlaps(flush, window));
    if (flushes.length > 0) summary.withFlush += 1;
    for (const flush of flushes) {
      summary.flushUs += Math.min(flush.endedAt, window.to) - Math.max(flush.startedAt, window.from);
      for (const write of flush.writes ?? []) summary.flushWrites.set(write, (summary.flushWrites.get(write) ?? 0) + 1);
    }
  }
  const next = turns[index + 1];
  const stored = turn.laps.at(-1)?.[1];
  if (next !== undefined && stored !== undefined && next.startedAt > stored) {
    gapWall += next.startedAt - stored;
    attribute(stored, next.startedAt, gapOwners);
  }
});

const ms = (us: number): string => (us / 1000).toFixed(2);
const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};
const out: string[] = [];
out.push(`${newest}: ${trace.turns.length} turns traced, ${turns.length} read (the first ${skip} skipped), samples every ${interval} µs`);
out.push('');
out.push('Per stage: wall ms per turn (mean, p50), then what the event loop ran inside it (ms per turn, mean), by side and by task.');
for (const [stage, summary] of stages) {
  if (onlyStage !== undefined && stage !== onlyStage) continue;
  const n = summary.wall.length;
  const mean = summary.wall.reduce((sum, value) => sum + value, 0) / n;
  out.push('');
  out.push(
    `## ${stage}: mean ${ms(mean)} · p50 ${ms(percentile(summary.wall, 50))} · p90 ${ms(percentile(summary.wall, 90))} ms; ` +
      `a job running in ${summary.withJob} of ${n} (${[...summary.jobTypes].map(([type, count]) => `${type} ${count}`).join(', ') || 'none'}); ` +
      `a write-batch commit in ${summary.withFlush} (${ms(summary.flushUs / n)} ms per turn)`,
  );
  const sides = new Map<string, number>();
  for (const [owner, us] of summary.owners) sides.set(sideOf(owner), (sides.get(sideOf(owner)) ?? 0) + us);
  out.push(`  by side: ${[...sides].sort((a, b) => b[1] - a[1]).map(([side, us]) => `${side} ${ms(us / n)}`).join(' · ')}`);
  for (const [owner, us] of [...summary.owners].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`    ${ms(us / n).padStart(7)}  ${owner}  [${sideOf(owner)}]`);
  if (summary.flushWrites.size > 0)
    out.push(`  the commits' writes, asked for by: ${[...summary.flushWrites].sort((a, b) => b[1] - a[1]).map(([asker, count]) => `${asker} ×${count}`).join(', ')}`);
}
if (onlyStage === undefined) {
  const n = Math.max(1, turns.length - 1);
  out.push('');
  out.push(`## between a reply being stored and the next turn's start (the client's round trip): mean ${ms(gapWall / n)} ms`);
  for (const [owner, us] of [...gapOwners].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`    ${ms(us / n).padStart(7)}  ${owner}  [${sideOf(owner)}]`);

  // The social contributor's waits for the previous turn's writes, inside the traced turns.
  const from = turns[0]?.startedAt ?? 0;
  out.push('');
  out.push('## the social contributor\'s waits (EmotionService.current, TopicThreadService.filed) during the turns read');
  for (const what of ['mood', 'filed']) {
    const waits = trace.waits.filter((wait) => wait.what === what && wait.startedAt >= from && wait.endedAt > 0);
    const pending = waits.filter((wait) => wait.pending);
    const took = (list: typeof waits): string => (list.length === 0 ? '-' : `${ms(list.reduce((sum, wait) => sum + wait.endedAt - wait.startedAt, 0) / list.length)} mean, p90 ${ms(percentile(list.map((wait) => wait.endedAt - wait.startedAt), 90))}`);
    out.push(`  ${what}: ${waits.length} waits, ${pending.length} with a write pending (took ${took(pending)} ms), ${waits.length - pending.length} without (took ${took(waits.filter((wait) => !wait.pending))} ms)`);
  }
  const chats = trace.llm.filter((call) => call.task === 'chat' && call.priority === null && call.startedAt >= from);
  const taken = chats.filter((call) => call.running > 0);
  const firstMs = (list: typeof chats): string =>
    list.length === 0 ? '-' : ms(list.reduce((sum, call) => sum + (call.firstAt || call.endedAt) - call.startedAt, 0) / list.length);
  out.push('');
  out.push(`## the turn's model call: ${chats.length} calls, ${taken.length} found the chat slot taken (first event after ${firstMs(taken)} ms mean, against ${firstMs(chats.filter((call) => call.running === 0))} for the others)`);
  const background = trace.llm.filter((call) => call.startedAt >= from && call.priority === 'background');
  out.push(`  background model calls meanwhile: ${background.length} (${[...new Set(background.map((call) => call.task))].join(', ')})`);
}
if (onlyStage === undefined && turns[0]?.waitAtStart !== undefined) out.push('', ...slowTurns());
process.stdout.write(`${out.join('\n')}\n`);

/**
 * The slowest `--slow` % of the turns by their own time to the reply (wall from the turn's start to its
 * reply stored, minus the event loop's wait for a CPU other processes held), and what ran inside each:
 * garbage collections, SQLite transactions (with any WAL checkpoint inside), background jobs, and the
 * profile's tasks; then how often each cause is inside a slow turn against the others.
 */
function slowTurns(): string[] {
  const lines: string[] = [];
  const commits = trace.commits ?? [];
  const gcs = trace.gc ?? [];
  const inside = <T extends Span>(list: T[], from: number, to: number): T[] => list.filter((span) => span.startedAt < to && span.endedAt > from);
  const overlapUs = (span: Span, from: number, to: number): number => Math.max(0, Math.min(span.endedAt, to) - Math.max(span.startedAt, from));
  const timed = turns
    .map((turn) => {
      const reply = turn.laps.find(([stage]) => stage === 'store_reply');
      if (reply === undefined) return null;
      const wall = reply[1] - turn.startedAt;
      const waited = (reply[2] ?? 0) - (turn.waitAtStart ?? 0);
      return { turn, from: turn.startedAt, to: reply[1], wall, waited, own: wall - waited };
    })
    .filter((entry) => entry !== null);
  const sorted = [...timed].sort((a, b) => b.own - a.own);
  const slow = sorted.slice(0, Math.max(1, Math.round((sorted.length * slowPercent) / 100)));
  const rest = sorted.slice(slow.length);
  lines.push(
    `## the slowest ${slowPercent} % of ${timed.length} turns by own time to the reply (wall minus the loop's runqueue wait): ` +
      `own p50 ${ms(percentile(timed.map((entry) => entry.own), 50))} · p98 ${ms(percentile(timed.map((entry) => entry.own), 98))} · p99 ${ms(percentile(timed.map((entry) => entry.own), 99))} ms; ` +
      `wall p50 ${ms(percentile(timed.map((entry) => entry.wall), 50))} · p99 ${ms(percentile(timed.map((entry) => entry.wall), 99))}`,
  );
  for (const entry of slow) {
    const { turn, from, to } = entry;
    const stageList: string[] = [];
    let last = turn.startedAt;
    for (const [stage, at] of turn.laps) {
      if (at > to) break;
      stageList.push(`${stage} ${ms(at - last)}`);
      last = at;
    }
    lines.push('');
    lines.push(`  turn at ${ms(from - turns[0]!.startedAt)} ms: own ${ms(entry.own)} (wall ${ms(entry.wall)}, waited for a CPU ${ms(entry.waited)}): ${stageList.join(' · ')}`);
    const gcInside = inside(gcs, from, to);
    if (gcInside.length > 0) lines.push(`    gc: ${gcInside.map((gc) => `${gc.kind} ${ms(overlapUs(gc, from, to))}`).join(', ')}`);
    for (const commit of inside(commits, from, to).filter((commit) => commit.endedAt - commit.startedAt > 500 || commit.checkpointed > 0))
      lines.push(`    transaction ${ms(commit.endedAt - commit.startedAt)} ms${commit.checkpointed > 0 ? `, CHECKPOINT of ${commit.checkpointed} frames` : ''} (${commit.asker ?? '?'})`);
    for (const job of inside(trace.jobs.map((job) => ({ ...job, endedAt: job.endedAt || Infinity })), from, to))
      lines.push(`    job ${job.type} ×${job.n}: ${ms(overlapUs(job, from, to))} ms inside`);
    const owners = new Map<string, number>();
    attribute(from, to, owners);
    lines.push(`    ran: ${[...owners].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([owner, us]) => `${ms(us)} ${owner}`).join(' · ')}`);
  }
  const share = (group: typeof timed, has: (from: number, to: number) => boolean): string =>
    `${group.filter((entry) => has(entry.from, entry.to)).length}/${group.length}`;
  const causes: Array<[string, (from: number, to: number) => boolean]> = [
    ['a WAL checkpoint', (from, to) => inside(commits, from, to).some((commit) => commit.checkpointed > 0)],
    ['a major GC', (from, to) => inside(gcs, from, to).some((gc) => gc.kind === 'major')],
    ['a minor GC', (from, to) => inside(gcs, from, to).some((gc) => gc.kind === 'minor')],
    ['a transaction > 2 ms', (from, to) => inside(commits, from, to).some((commit) => commit.endedAt - commit.startedAt > 2000)],
    ['a background job', (from, to) => trace.jobs.some((job) => job.startedAt < to && (job.endedAt || Infinity) > from)],
  ];
  lines.push('');
  lines.push(`  turns with … inside (slowest ${slow.length} / the other ${rest.length}):`);
  for (const [name, has] of causes) lines.push(`    ${name}: ${share(slow, has)} · ${share(rest, has)}`);
  const checkpoints = commits.filter((commit) => commit.checkpointed > 0);
  const lengths = checkpoints.map((commit) => commit.endedAt - commit.startedAt);
  lines.push(
    `  WAL checkpoints in the whole run: ${checkpoints.length} (transaction holding one: p50 ${ms(percentile(lengths, 50))} · max ${ms(Math.max(0, ...lengths))} ms), ` +
      `in ${commits.length} transactions, the WAL up to ${Math.max(0, ...commits.map((commit) => commit.frames))} frames; GC: ${gcs.filter((gc) => gc.kind === 'major').length} major (${ms(gcs.filter((gc) => gc.kind === 'major').reduce((sum, gc) => sum + gc.endedAt - gc.startedAt, 0))} ms), ` +
      `${gcs.filter((gc) => gc.kind === 'minor').length} minor (${ms(gcs.filter((gc) => gc.kind === 'minor').reduce((sum, gc) => sum + gc.endedAt - gc.startedAt, 0))} ms)`,
  );
  return lines;
}
