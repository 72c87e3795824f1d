/**
 * `npx tsx bench/micro-vector-search.ts [rounds] [--against DIST]`: the CPU of `VectorIndex.search` as
 * memory formation's novelty check and a turn's recall call it (k = 3 and 10 over one persona's
 * partition), in process, in the compiled server (dist/, or another build's with `PERSONA_MICRO_DIST=/x/dist`).
 *
 * The vectors are micro-fulltext.ts's fixture store's (the chat bench's 300 turns with their jobs drained:
 * 520 memories, made by `npx tsx bench/micro-fulltext.ts` when missing), of both embedders (the offline
 * 256-d one the novelty check uses, the remote 768-d one), each alone in an index; every memory's vector is
 * the query once per round, and `COPIES` copies of the persona's vectors make a second, larger partition
 * (2,080 vectors: the Hamming pass then picks the candidates). CPU µs per search, the median of the rounds;
 * with `--against DIST` the two builds alternate round by round (the order flips each round) and their hits
 * are compared (ids and similarities, bit for bit).
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import type * as VectorIndexModule from '../src/domain/memory/vector-index.js';
import { microDist } from './lib/micro-core.js';

const argv = process.argv.slice(2);
const againstAt = argv.indexOf('--against');
const against = againstAt >= 0 ? argv.splice(againstAt, 2)[1] : undefined;
const rounds = Number(argv[0] ?? 20);
const WARM_UP_ROUNDS = 3;
/** Copies of the fixture's vectors in the larger partition (ids offset per copy, each vector nudged). */
const COPIES = 4;
const fixture = path.join(os.tmpdir(), 'persona-micro-fulltext', 'memories.db');
if (!existsSync(fixture)) {
  process.stderr.write(`no fixture at ${fixture}: run \`npx tsx bench/micro-fulltext.ts 50\` once to make it\n`);
  process.exit(2);
}

const db = new Database(fixture, { readonly: true });
const rows = db
  .prepare<[], { memory_id: number; embedder: string; vector: Buffer }>(
    'SELECT memory_id, embedder, vector FROM memory_vectors ORDER BY memory_id',
  )
  .all();
db.close();
const byEmbedder = new Map<string, Array<{ id: number; vector: Float32Array }>>();
for (const row of rows) {
  const vectors = byEmbedder.get(row.embedder) ?? [];
  vectors.push({ id: row.memory_id, vector: new Float32Array(new Uint8Array(row.vector).buffer) });
  byEmbedder.set(row.embedder, vectors);
}

interface Case {
  name: string;
  vectors: Array<{ id: number; vector: Float32Array }>;
  /** The fixture's own vectors, each a query once per round. */
  queries: Float32Array[];
  k: number;
}
const cases: Case[] = [];
for (const [embedder, vectors] of byEmbedder) {
  const larger = [];
  for (let copy = 0; copy < COPIES; copy++)
    for (const { id, vector } of vectors)
      larger.push({
        id: id + copy * 1_000_000,
        vector: copy === 0 ? vector : vector.map((value, at) => value + (at % (copy + 2) === 0 ? 1e-3 : 0)),
      });
  const queries = vectors.map(({ vector }) => vector);
  cases.push({ name: `${embedder}, ${vectors.length} vectors, k = 3`, vectors, queries, k: 3 });
  cases.push({ name: `${embedder}, ${larger.length} vectors, k = 10`, vectors: larger, queries, k: 10 });
}

interface Build {
  name: string;
  indexes: VectorIndexModule.VectorIndex[];
  cpu: number[][];
}

async function open(dist: string): Promise<Build> {
  const { VectorIndex } = (await import(
    pathToFileURL(path.join(path.resolve(dist), 'domain/memory/vector-index.js')).href
  )) as typeof VectorIndexModule;
  const indexes = cases.map(({ vectors }) => {
    const index = new VectorIndex();
    for (const { id, vector } of vectors) index.upsert('p', id, vector);
    return index;
  });
  return { name: dist, indexes, cpu: cases.map(() => []) };
}

const builds = [await open(microDist), ...(against === undefined ? [] : [await open(against)])];
let differences = 0;
for (let round = 0; round < WARM_UP_ROUNDS + rounds; round++) {
  for (const [at, { queries, k }] of cases.entries()) {
    const answers: string[][] = [];
    for (const build of round % 2 === 0 ? builds : [...builds].reverse()) {
      const index = build.indexes[at]!;
      const found: string[] = [];
      const since = process.cpuUsage();
      for (const vector of queries) found.push(JSON.stringify(index.search(['p'], vector, k)));
      const used = process.cpuUsage(since);
      if (round >= WARM_UP_ROUNDS) build.cpu[at]!.push((used.user + used.system) / queries.length);
      answers.push(found);
    }
    if (answers.length === 2) differences += answers[0]!.filter((answer, query) => answer !== answers[1]![query]).length;
  }
}
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[values.length >> 1]!;
for (const [at, { name }] of cases.entries())
  process.stdout.write(
    `${name}: ${builds.map((build) => `${build.name} ${median(build.cpu[at]!).toFixed(1)}`).join(' against ')} µs per search\n`,
  );
if (builds.length === 2) process.stdout.write(`answers differing: ${differences}\n`);
