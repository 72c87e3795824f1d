/**
 * `npx tsx bench/profile-summary.ts FILE.cpuprofile [top] [--callers NAME]`: the functions with the
 * most self time and the most total (inclusive) time in a V8 CPU profile, as written by
 * `npm run bench -- --cpu-prof` (bench/results/profiles/). Idle and GC are listed as V8 names them:
 * (idle), (garbage collector). With `--callers NAME`, also the call chains (5 frames up) that lead to
 * functions whose label contains NAME, by time spent below them.
 *
 * A `.heapprofile` (`npm run bench -- chat --alloc-prof`, bench/lib/alloc-sampler.mjs) is read the same
 * way, in bytes allocated instead of time: self = allocated by the function itself, total = below it.
 */
import { readFileSync } from 'node:fs';
import { label, type Profile, type ProfileNode } from './lib/cpu-profile.js';

/** A sampling heap profile: a tree of call frames, each with the bytes it allocated. */
interface HeapNode {
  id: number;
  callFrame: ProfileNode['callFrame'];
  selfSize: number;
  children: HeapNode[];
}

const argv = process.argv.slice(2);
const callersAt = argv.indexOf('--callers');
const callersOf = callersAt >= 0 ? argv.splice(callersAt, 2)[1] : undefined;
const [file, topArg] = argv;
if (file === undefined) {
  process.stderr.write('usage: npx tsx bench/profile-summary.ts FILE.cpuprofile|FILE.heapprofile [top] [--callers NAME]\n');
  process.exit(2);
}
const top = Number(topArg ?? 30);
const isHeap = file.endsWith('.heapprofile');
const parsed = JSON.parse(readFileSync(file, 'utf8')) as Profile | { head: HeapNode };
const selfTime = new Map<number, number>();
const profile: Pick<Profile, 'nodes'> = { nodes: [] };
if ('head' in parsed) {
  // Bytes stand where microseconds stand for a CPU profile (printed as KB instead of ms).
  const walk = (node: HeapNode): void => {
    profile.nodes.push({ id: node.id, callFrame: node.callFrame, children: node.children.map((child) => child.id) });
    if (node.selfSize > 0) selfTime.set(node.id, node.selfSize);
    node.children.forEach(walk);
  };
  walk(parsed.head);
} else {
  profile.nodes = parsed.nodes;
  parsed.samples.forEach((id, index) => selfTime.set(id, (selfTime.get(id) ?? 0) + (parsed.timeDeltas[index] ?? 0)));
}
const unit = isHeap ? 'KB' : 'ms';
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const parent = new Map<number, number>();
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
const total = [...selfTime.values()].reduce((sum, value) => sum + value, 0);

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
for (const [id, time] of selfTime) {
  self.set(label(byId.get(id)!), (self.get(label(byId.get(id)!)) ?? 0) + time);
  const seen = new Set<string>();
  for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
    const name = label(byId.get(current)!);
    if (seen.has(name)) continue; // recursion counts once
    seen.add(name);
    inclusive.set(name, (inclusive.get(name) ?? 0) + time);
  }
}

const print = (title: string, entries: Map<string, number>): void => {
  process.stdout.write(`\n${title} (of ${(total / 1000).toFixed(0)} ${unit} sampled)\n`);
  for (const [name, time] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${((time / total) * 100).toFixed(1).padStart(6)} %  ${(time / 1000).toFixed(0).padStart(7)} ${unit}  ${name}\n`);
  }
};
print('self time', self);
print('total time', inclusive);

if (callersOf !== undefined) {
  const inclusiveById = new Map<number, number>();
  for (const [id, time] of selfTime) {
    for (let current: number | undefined = id; current !== undefined; current = parent.get(current)) {
      inclusiveById.set(current, (inclusiveById.get(current) ?? 0) + time);
    }
  }
  const chains = new Map<string, number>();
  for (const node of profile.nodes) {
    if (!label(node).includes(callersOf)) continue;
    const frames: string[] = [];
    for (let current = parent.get(node.id), depth = 0; current !== undefined && depth < 5; current = parent.get(current), depth++)
      frames.push(label(byId.get(current)!));
    const chain = frames.join('\n      <- ');
    chains.set(chain, (chains.get(chain) ?? 0) + (inclusiveById.get(node.id) ?? 0));
  }
  process.stdout.write(`\ncallers of "${callersOf}"\n`);
  for (const [chain, time] of [...chains].sort((a, b) => b[1] - a[1]).slice(0, 8)) {
    process.stdout.write(`${(time / 1000).toFixed(0).padStart(7)} ${unit}  <- ${chain}\n`);
  }
}
