/**
 * Where a hybrid search's time goes, stage by stage: `npx tsx bench/memory/stages.ts [size] [--cpu-prof-friendly]`
 *
 * Builds (once, kept in the OS temp dir as persona-mcp-stages-<size>.db) a corpus like run.ts's (one
 * persona, fixed seed), then times each stage of MemoryService.search for 300 queries: the FTS5 query,
 * the vector scan, fusion, the row load and the re-ranking, as p50 / p99 / max in ms. Each stage is also
 * measured in process CPU time (process.cpuUsage), which other processes on the machine do not inflate.
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hashedEmbedding, HashedNgramEmbedder } from '../../src/adapters/embedders/hashed-ngram.js';
import { SqliteMemoryStore } from '../../src/adapters/sqlite/memory-store.js';
import { SqliteStore } from '../../src/adapters/sqlite/sqlite-store.js';
import { unionFusion } from '../../src/domain/memory/fusion.js';
import { loadWordnetThesaurus } from '../../src/adapters/embedders/wordnet-thesaurus.js';
import { Corpus, seeded } from './corpus.js';

const size = Number(process.argv[2] ?? 100_000);
const file = path.join(os.tmpdir(), `persona-mcp-stages-${size}.db`);

async function build(): Promise<void> {
  const store = SqliteStore.open(file);
  store.database
    .prepare("INSERT OR IGNORE INTO personas (id, name, definition, created_at, updated_at) VALUES ('aria', 'Aria', '{}', 0, 0)")
    .run();
  const memories = new SqliteMemoryStore(store.database);
  const corpus = new Corpus(seeded(size));
  const offline = new HashedNgramEmbedder();
  const batch = store.database.transaction((count: number) => {
    for (let i = 0; i < count; i++) {
      const content = `The user said: ${corpus.sentence(8, 16)}`;
      void memories.insert(
        { personaId: 'aria', kind: 'observation', content, importance: 0.5, importanceSource: 'heuristic', visibility: 'private' },
        [{ embedder: offline.id, vector: hashedEmbedding(content) }],
        0,
      );
    }
  });
  for (let done = 0; done < size; done += 1_000) batch(Math.min(1_000, size - done));
  await store.close();
}

function summary(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
  return `p50 ${at(0.5).toFixed(2)}  p99 ${at(0.99).toFixed(2)}  max ${sorted[sorted.length - 1]!.toFixed(2)}`;
}

async function main(): Promise<void> {
  if (!existsSync(file)) await build();
  const store = SqliteStore.open(file);
  const memories = new SqliteMemoryStore(store.database, file, { thesaurus: loadWordnetThesaurus() });
  const offline = new HashedNgramEmbedder();
  const corpus = new Corpus(seeded(size));
  for (let i = 0; i < size; i++) corpus.sentence(8, 16); // the same query stream as run.ts
  const queries = Array.from({ length: 300 }, () => corpus.sentence(3, 6));
  // As a chat turn's recall asks: the session's user (null: the local user), shared and public too.
  const scope = { viewerId: 'aria', userId: null, includeShared: true, includePublic: true };
  await memories.warmUp([offline.id]); // searches no longer wait for the index: load it before timing
  const stages = ['fullText', 'vector', 'fusion', 'rows', 'total'] as const;
  const wall: Record<string, number[]> = Object.fromEntries(stages.map((s) => [s, []]));
  const cpu: Record<string, number[]> = Object.fromEntries(stages.map((s) => [s, []]));
  const slow: Array<{ query: string; ms: number }> = [];
  for (const [index, query] of queries.entries()) {
    const marks: Array<[number, number]> = [];
    const mark = (): void => {
      const usage = process.cpuUsage();
      marks.push([performance.now(), (usage.user + usage.system) / 1000]);
    };
    mark();
    const lexical = await memories.fullTextSearch(query, scope, 50);
    mark();
    const vector = await memories.vectorSearch(offline.id, hashedEmbedding(query), scope, 50);
    mark();
    const fused = unionFusion(lexical, [vector.map((hit) => ({ id: hit.id, similarity: hit.score }))]);
    mark();
    // As MemoryService.search: what ranking needs of every candidate, then the top 10 whole.
    const facts = await memories.rankingFacts(fused.ids);
    await memories.getMany(facts.slice(0, 10).map((fact) => fact.id));
    mark();
    if (index < 10) continue; // warm-up
    stages.forEach((stage, i) => {
      const [from, to] = stage === 'total' ? [marks[0]!, marks[4]!] : [marks[i]!, marks[i + 1]!];
      wall[stage]!.push(to[0] - from[0]);
      cpu[stage]!.push(to[1] - from[1]);
    });
    slow.push({ query, ms: marks[1]![0] - marks[0]![0] });
  }
  process.stdout.write(`${size} memories, one persona, ${queries.length - 10} queries (ms)\n`);
  for (const stage of stages) process.stdout.write(`${stage.padEnd(9)} wall ${summary(wall[stage]!)} | cpu ${summary(cpu[stage]!)}\n`);
  slow.sort((a, b) => b.ms - a.ms);
  process.stdout.write(
    `slowest full-text queries: ${slow
      .slice(0, 3)
      .map((s) => `"${s.query}" ${s.ms.toFixed(1)} ms`)
      .join(', ')}\n`,
  );
  await store.close();
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
