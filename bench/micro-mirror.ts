/**
 * `npx tsx bench/micro-mirror.ts [rounds] [--against DIST]`: the CPU the full-text mirror
 * (adapters/sqlite/full-text-mirror.ts) takes to read memories — what it does for every memory formation
 * writes (tokenizing its text and recall terms as FTS5 does, its coverage stems, its postings) — in
 * process, in the compiled server (dist/, or another build's with `PERSONA_MICRO_DIST=/x/dist`).
 *
 * Each round builds a new mirror of micro-fulltext.ts's fixture store (the chat bench's 300 turns with their
 * jobs drained: ~600 memories; made by `npx tsx bench/micro-fulltext.ts` when missing) and reports CPU µs
 * per memory read; with `--against DIST` the two builds alternate round by round (the order flips each
 * round), so the machine's load hits both alike, and their mirrors' answers (BM25 ranks, coverage sums,
 * document counts) are compared.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as DatabaseModule from '../src/adapters/sqlite/database.js';
import type * as MirrorModule from '../src/adapters/sqlite/full-text-mirror.js';
import type * as MemoryStoreModule from '../src/adapters/sqlite/memory-store.js';
import type * as ExpansionModule from '../src/domain/memory/expansion.js';
import { microDist } from './lib/micro-core.js';

const argv = process.argv.slice(2);
const againstAt = argv.indexOf('--against');
const against = againstAt >= 0 ? argv.splice(againstAt, 2)[1] : undefined;
const rounds = Number(argv[0] ?? 30);
const WARM_UP_ROUNDS = 3;
const fixture = path.join(os.tmpdir(), 'persona-micro-fulltext', 'memories.db');
if (!existsSync(fixture)) {
  process.stderr.write(`no fixture at ${fixture}: run \`npx tsx bench/micro-fulltext.ts 50\` once to make it\n`);
  process.exit(2);
}

interface Build {
  name: string;
  /** A new mirror of the store, built (read in full). */
  build: () => Promise<MirrorModule.FullTextMirror>;
  memories: number;
  cpu: number;
  close: () => void;
}

async function open(dist: string, scratch: string): Promise<Build> {
  const load = <T>(file: string): Promise<T> => import(pathToFileURL(path.join(path.resolve(dist), file)).href) as Promise<T>;
  const { openDatabase } = await load<typeof DatabaseModule>('adapters/sqlite/database.js');
  const { FullTextMirror } = await load<typeof MirrorModule>('adapters/sqlite/full-text-mirror.js');
  const { stemsOf } = await load<typeof MemoryStoreModule>('adapters/sqlite/memory-store.js');
  const { RECALL_TERMS_WEIGHT } = await load<typeof ExpansionModule>('domain/memory/expansion.js');
  const file = path.join(scratch, `${Math.random().toString(36).slice(2)}.db`);
  copyFileSync(fixture, file);
  const db = openDatabase(file);
  return {
    name: path.relative(process.cwd(), dist) || dist,
    build: async () => {
      const mirror = new FullTextMirror(db, RECALL_TERMS_WEIGHT, stemsOf);
      mirror.current();
      await mirror.whenBuilt();
      return mirror;
    },
    memories: db.prepare('SELECT count(*) FROM memories').pluck().get() as number,
    cpu: 0,
    close: () => db.close(),
  };
}

/** What a mirror answers: BM25 ranks of a query, coverage sums of the first memories, a term's documents. */
function answers(mirror: MirrorModule.FullTextMirror, ids: readonly number[]): string {
  const current = mirror.current()!;
  const words = ['japanese', 'speak', 'dog', 'sister', 'live', 'work', 'coffee', 'travel', 'music', 'book'];
  const sums = [{ stems: ['japanes', 'speak', 'dog', 'live', 'work'], weights: [1, 0.5, 0.3, 0.2, 0.1], recallFactor: 0.35 }];
  return JSON.stringify([current.rank(words, 2_000)?.best(50), current.coverage(ids, sums)?.map((sum) => [...sum]), current.documents('japanes')]);
}

const scratch = mkdtempSync(path.join(os.tmpdir(), 'persona-micro-mirror-'));
const builds = [await open(microDist, scratch), ...(against === undefined ? [] : [await open(against, scratch)])];
try {
  const seen: string[] = [];
  for (let round = 0; round < WARM_UP_ROUNDS + rounds; round++) {
    for (const build of round % 2 === 0 ? builds : [...builds].reverse()) {
      const before = process.cpuUsage();
      const mirror = await build.build();
      const used = process.cpuUsage(before);
      if (round >= WARM_UP_ROUNDS) build.cpu += used.user + used.system;
      if (round === 0) seen.push(answers(mirror, Array.from({ length: 40 }, (_, at) => at + 1)));
    }
  }
  process.stdout.write(`${rounds} mirrors of ${builds[0]!.memories} memories per build (load average ${os.loadavg()[0]!.toFixed(1)}), CPU µs per memory read:\n`);
  for (const build of builds) process.stdout.write(`  ${build.name.padEnd(24)} ${(build.cpu / rounds / build.memories).toFixed(1)}\n`);
  if (builds.length > 1) process.stdout.write(`  answers ${seen[0] === seen[1] ? 'the same' : 'DIFFER'}\n`);
} finally {
  for (const build of builds) build.close();
  rmSync(scratch, { recursive: true, force: true });
}
