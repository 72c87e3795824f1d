/**
 * The memory benchmark (issue 5): `npx tsx bench/memory/run.ts [--sizes 10000,100000[,1000000]] [--quick]`
 *
 * 1. Retrieval quality on our labelled set (labelled-set.ts): recall@5 of full-text only, the offline
 *    embedder only, hybrid (convex and RRF fusion), and Ollama embeddings when Ollama answers at
 *    OLLAMA_HOST (default 127.0.0.1:11434) with the model in PERSONA_MCP_EMBED_MODEL (nomic-embed-text).
 * 2. The offline embedder's cost: ms per embedding, RSS added.
 * 3. Scale, for each size (generated corpus, fixed seed, all memories in ONE persona: the worst case for
 *    the per-persona partitions): insert throughput, index load time, RSS, search latency p50/p99 of a
 *    hybrid top-10 query through MemoryService, of its full-text part alone and of its vector part alone,
 *    and recall@10 of the approximate vector index against exact search.
 * Results are printed and written to bench/results/memory.json.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { hashedEmbedding, HashedNgramEmbedder } from '../../src/adapters/embedders/hashed-ngram.js';
import { LlmEmbedder } from '../../src/adapters/embedders/llm-embedder.js';
import { InProcessEventBus } from '../../src/adapters/events/in-process-bus.js';
import { normalizeOllamaHost, OllamaProvider } from '../../src/adapters/ollama/ollama-provider.js';
import { loadPersonaFiles, shippedPersonasDir } from '../../src/adapters/persona-files.js';
import { SqliteMemoryStore } from '../../src/adapters/sqlite/memory-store.js';
import { loadWordnetThesaurus } from '../../src/adapters/embedders/wordnet-thesaurus.js';
import { SqliteStore } from '../../src/adapters/sqlite/sqlite-store.js';
import { configSchema } from '../../src/config/schema.js';
import { convexFusion, reciprocalRankFusion, unionFusion } from '../../src/domain/memory/fusion.js';
import { cosine } from '../../src/domain/memory/vector-index.js';
import type { Embedder } from '../../src/ports/embedder.js';
import { MemoryEmbedders } from '../../src/services/memory/embedders.js';
import { MemoryService } from '../../src/services/memory/memory-service.js';
import { memorySettings } from '../../src/app/memory-settings.js';
import { PersonaService } from '../../src/services/persona-service.js';
import { Corpus, seeded } from './corpus.js';
import { MEMORIES, QUERIES, type LabelledQuery } from './labelled-set.js';

const logger = pino({ level: 'silent' });
const args = process.argv.slice(2);
const isQuick = args.includes('--quick');
const sizesArg = args[args.indexOf('--sizes') + 1];
const SIZES = args.includes('--sizes') && sizesArg ? sizesArg.split(',').map(Number) : isQuick ? [10_000] : [10_000, 100_000];
const QUERY_COUNT = isQuick ? 100 : 300;
const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
};

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function fmt(n: number, digits = 2): string {
  return n.toFixed(digits);
}

async function openStack(file: string): Promise<{ store: SqliteStore; memories: SqliteMemoryStore; service: MemoryService }> {
  const store = SqliteStore.open(file);
  const clock = { now: () => Date.UTC(2026, 0, 1) };
  const personas = new PersonaService(store, clock, new InProcessEventBus(() => undefined));
  await personas.initialise(loadPersonaFiles(shippedPersonasDir()));
  const memories = new SqliteMemoryStore(store.database, file, { thesaurus: loadWordnetThesaurus() });
  const settings = memorySettings(configSchema.parse({}).memory);
  settings.embedder = 'offline';
  const service = new MemoryService({
    memories,
    personas,
    embedders: new MemoryEmbedders(new HashedNgramEmbedder(), null, logger),
    clock,
    logger,
    settings,
  });
  return { store, memories, service };
}

// 1. quality ------------------------------------------------------------------------------------
function recallAt(k: number, queries: readonly LabelledQuery[], ranked: number[][]): number {
  let total = 0;
  queries.forEach((query, index) => {
    const top = new Set(ranked[index]!.slice(0, k));
    total += query.expected.filter((id) => top.has(id)).length / query.expected.length;
  });
  return total / queries.length;
}

async function quality(): Promise<void> {
  const { store, memories } = await openStack(':memory:');
  const offline = new HashedNgramEmbedder();
  const ids: number[] = [];
  for (const content of MEMORIES) {
    const memory = await memories.insert(
      { personaId: 'aria', kind: 'user_fact', content, importance: 0.5, importanceSource: 'client', visibility: 'private' },
      [{ embedder: offline.id, vector: hashedEmbedding(content) }],
      0,
    );
    ids.push(memory.id);
  }
  const indexOf = new Map(ids.map((id, index) => [id, index]));
  const scope = { viewerId: 'aria' };
  const lexical: Array<Array<{ id: number; score: number; relevance?: number }>> = [];
  const vector: Array<Array<{ id: number; score: number }>> = [];
  for (const query of QUERIES) {
    lexical.push(await memories.fullTextSearch(query.query, scope, 50));
    vector.push(await memories.vectorSearch(offline.id, hashedEmbedding(query.query), scope, 50));
  }
  const toIndexes = (list: Array<{ id: number }>): number[] => list.map((hit) => indexOf.get(hit.id)!);
  const rank = (scores: Map<number, number>): number[] => [...scores.entries()].sort((a, b) => b[1] - a[1]).map(([id]) => indexOf.get(id)!);
  const modes: Record<string, number[][]> = {
    'full-text (FTS5 BM25)': lexical.map(toIndexes),
    'offline hashed n-gram': vector.map(toIndexes),
    'hybrid, union fusion (used)': QUERIES.map((_, i) => {
      const fused = unionFusion(lexical[i]!, [vector[i]!.map((hit) => ({ id: hit.id, similarity: hit.score }))]);
      return rank(new Map(fused.ids.map((id, at) => [id, fused.relevance[at]!])));
    }),
    'hybrid, convex fusion': QUERIES.map((_, i) =>
      rank(
        convexFusion(
          lexical[i]!.map((hit) => ({ id: hit.id, relevance: hit.relevance ?? 0 })),
          [vector[i]!.map((hit) => ({ id: hit.id, similarity: hit.score }))],
        ),
      ),
    ),
    'hybrid, RRF fusion': QUERIES.map((_, i) =>
      rank(reciprocalRankFusion([lexical[i]!.map((hit) => hit.id), vector[i]!.map((hit) => hit.id)])),
    ),
  };

  const ollamaUrl = normalizeOllamaHost(process.env.OLLAMA_HOST);
  const model = process.env.PERSONA_MCP_EMBED_MODEL ?? 'nomic-embed-text';
  const ollama = new OllamaProvider({ baseUrl: ollamaUrl, listTimeoutMs: 30_000, statusTimeoutMs: 1_000 });
  let ollamaNote = `not measured: Ollama not reachable at ${ollamaUrl}`;
  if ((await ollama.status()).reachable) {
    try {
      const remote: Embedder = new LlmEmbedder(ollama, model);
      const memoryVectors = await remote.embed(MEMORIES);
      const queryVectors = await remote.embed(QUERIES.map((query) => query.query));
      modes[`ollama ${model}`] = queryVectors.map((q) =>
        memoryVectors
          .map((v, index) => ({ index, similarity: cosine(q, v) }))
          .sort((a, b) => b.similarity - a.similarity)
          .map((hit) => hit.index),
      );
      ollamaNote = 'measured';
    } catch (error) {
      ollamaNote = `not measured: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  const table: Record<string, Record<string, number>> = {};
  process.stdout.write(
    `\nRetrieval quality, recall@5 on ${QUERIES.length} labelled queries over ${MEMORIES.length} memories (Ollama: ${ollamaNote})\n`,
  );
  process.stdout.write(
    `${'mode'.padEnd(32)} ${'all'.padStart(6)} ${'lexical'.padStart(8)} ${'morph.'.padStart(8)} ${'paraphr.'.padStart(9)}\n`,
  );
  for (const [mode, ranked] of Object.entries(modes)) {
    const byKind = (kind: LabelledQuery['kind']): number => {
      const picked = QUERIES.map((query, index) => ({ query, index })).filter((entry) => entry.query.kind === kind);
      return recallAt(
        5,
        picked.map((entry) => entry.query),
        picked.map((entry) => ranked[entry.index]!),
      );
    };
    table[mode] = {
      all: recallAt(5, QUERIES, ranked),
      lexical: byKind('lexical'),
      morphological: byKind('morphological'),
      paraphrase: byKind('paraphrase'),
    };
    const row = table[mode]!;
    process.stdout.write(
      `${mode.padEnd(32)} ${fmt(row.all!).padStart(6)} ${fmt(row.lexical!).padStart(8)} ${fmt(row.morphological!).padStart(8)} ${fmt(row.paraphrase!).padStart(9)}\n`,
    );
  }
  results.quality = { recallAt5: table, ollama: ollamaNote };
  await store.close();
}

// 2. embedder cost --------------------------------------------------------------------------------
function embedderCost(): void {
  const corpus = new Corpus(seeded(99));
  const texts = Array.from({ length: 5_000 }, () => `The user said: ${corpus.sentence(8, 20)}`);
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const started = performance.now();
  for (const text of texts) hashedEmbedding(text);
  const ms = (performance.now() - started) / texts.length;
  const rssAdded = (process.memoryUsage().rss - rssBefore) / 1_048_576;
  process.stdout.write(
    `\nOffline embedder (hashed n-gram, 256-d): ${fmt(ms, 4)} ms per embedding (texts of 8–20 words), ~${fmt(Math.max(0, rssAdded), 1)} MB RSS added, no weights\n`,
  );
  results.embedder = { msPerEmbedding: ms, rssAddedMb: rssAdded, dimensions: 256 };
}

// 3. scale ------------------------------------------------------------------------------------------
async function scale(size: number): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-bench-memory-'));
  try {
    const file = path.join(dir, 'bench.db');
    let stack = await openStack(file);
    const corpus = new Corpus(seeded(size));
    const offline = new HashedNgramEmbedder();
    const exact = new Float32Array(size * 256);
    const exactIds = new Int32Array(size);

    // Inserts: one transaction per memory (as memory.store does) for the first 2 000, then batches of 1 000.
    const single = Math.min(2_000, size);
    let started = performance.now();
    let inserted = 0;
    const insertOne = (): void => {
      const content = `The user said: ${corpus.sentence(8, 16)}`;
      const vector = hashedEmbedding(content);
      void stack.memories
        .insert(
          {
            personaId: 'aria',
            kind: 'observation',
            content,
            importance: 0.2 + (0.6 * ((inserted * 7919) % 1000)) / 1000,
            importanceSource: 'heuristic',
            visibility: 'private',
          },
          [{ embedder: offline.id, vector }],
          0,
        )
        .then((memory) => (exactIds[memory.id - 1] = memory.id));
      exact.set(vector, inserted * 256);
      inserted++;
    };
    for (let i = 0; i < single; i++) insertOne();
    const singleRate = single / ((performance.now() - started) / 1000);
    started = performance.now();
    const batch = stack.store.database.transaction((count: number) => {
      for (let i = 0; i < count; i++) insertOne();
    });
    while (inserted < size) batch(Math.min(1_000, size - inserted));
    const batchRate = (size - single) / Math.max(1e-9, (performance.now() - started) / 1000);
    await new Promise((resolve) => setImmediate(resolve));

    // Reopen, as after a restart. Ready = the store open and a first hybrid search answered (searches
    // never wait for the vector index: it loads in the background); then the full index load is timed.
    await stack.store.close();
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    const queries = Array.from({ length: QUERY_COUNT }, () => corpus.sentence(3, 6));
    started = performance.now();
    stack = await openStack(file);
    void stack.memories.warmUp([offline.id]);
    await stack.service.search({ query: queries[0]!, limit: 10, viewerId: 'aria', reinforce: false });
    const readyMs = performance.now() - started;
    await stack.memories.warmUp([offline.id]);
    const indexLoadMs = performance.now() - started;
    const rssIndexMb = (process.memoryUsage().rss - rssBefore) / 1_048_576;

    // Wall time, and this process's CPU time (process.cpuUsage), which other work on a shared machine
    // does not inflate (it still slows caches and the scheduler, so wall time stays the headline).
    const time = async (
      work: (query: string) => Promise<unknown>,
    ): Promise<{ p50: number; p99: number; mean: number; cpuP50: number; cpuP99: number }> => {
      for (const query of queries.slice(0, 10)) await work(query); // warm-up
      const samples: number[] = [];
      const cpuSamples: number[] = [];
      for (const query of queries) {
        const t = performance.now();
        const c = process.cpuUsage();
        await work(query);
        const used = process.cpuUsage(c);
        samples.push(performance.now() - t);
        cpuSamples.push((used.user + used.system) / 1000);
      }
      samples.sort((a, b) => a - b);
      cpuSamples.sort((a, b) => a - b);
      return {
        p50: percentile(samples, 50),
        p99: percentile(samples, 99),
        mean: samples.reduce((a, b) => a + b, 0) / samples.length,
        cpuP50: percentile(cpuSamples, 50),
        cpuP99: percentile(cpuSamples, 99),
      };
    };
    const scope = { viewerId: 'aria' };
    const hybrid = await time((query) => stack.service.search({ query, limit: 10, viewerId: 'aria', reinforce: false }));
    // As a chat turn's recall asks (turn-hooks.ts): the session's user (null: the local user), shared and
    // public memories too, 6 lines above the floor. Scoping to a user once tested each vector's user.
    const chat = await time((query) =>
      stack.service.search({ query, limit: 6, viewerId: 'aria', userId: null, includeShared: true, includePublic: true, minRelevance: 0.12, reinforce: false }),
    );
    const textOnly = await time(async (query) =>
      stack.memories.getMany((await stack.memories.fullTextSearch(query, scope, 50)).map((hit) => hit.id)),
    );
    const vectorOnly = await time((query) => stack.memories.vectorSearch(offline.id, hashedEmbedding(query), scope, 50));

    // Recall@10 of the approximate index against exact cosine over all vectors.
    let found = 0;
    const recallQueries = queries.slice(0, 50);
    for (const query of recallQueries) {
      const q = hashedEmbedding(query);
      const scores = new Float32Array(size);
      for (let row = 0; row < size; row++) {
        let dot = 0;
        const base = row * 256;
        for (let i = 0; i < 256; i++) dot += exact[base + i]! * q[i]!;
        scores[row] = dot;
      }
      const truth = new Set(
        [...scores.keys()]
          .sort((a, b) => scores[b]! - scores[a]!)
          .slice(0, 10)
          .map((row) => exactIds[row]!),
      );
      const approx = await stack.memories.vectorSearch(offline.id, q, scope, 10);
      found += approx.filter((hit) => truth.has(hit.id)).length;
    }
    const annRecall = found / (recallQueries.length * 10);
    await stack.store.close();
    const row = {
      size,
      insertPerSecondSingle: singleRate,
      insertPerSecondBatched: batchRate,
      readyMs,
      indexLoadMs,
      rssIndexMb,
      hybrid,
      chat,
      textOnly,
      vectorOnly,
      annRecallAt10: annRecall,
    };
    process.stdout.write(
      `${String(size).padStart(9)} | insert ${fmt(singleRate, 0).padStart(6)}/s single, ${fmt(batchRate, 0).padStart(6)}/s batched | ready (open + first search) ${fmt(readyMs, 0)} ms, index loaded ${fmt(indexLoadMs, 0)} ms, +${fmt(rssIndexMb, 0)} MB RSS | ` +
        `hybrid p50 ${fmt(hybrid.p50)} p99 ${fmt(hybrid.p99)} ms (cpu ${fmt(hybrid.cpuP50)} / ${fmt(hybrid.cpuP99)}) | chat recall p50 ${fmt(chat.p50)} p99 ${fmt(chat.p99)} (cpu ${fmt(chat.cpuP50)} / ${fmt(chat.cpuP99)}) | text-only p50 ${fmt(textOnly.p50)} p99 ${fmt(textOnly.p99)} | vector-only p50 ${fmt(vectorOnly.p50)} p99 ${fmt(vectorOnly.p99)} | ANN recall@10 ${fmt(annRecall, 3)}\n`,
    );
    return row;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  process.stdout.write(`persona-mcp memory bench: ${results.cpus} × ${results.cpuModel}, Node ${process.version}\n`);
  await quality();
  embedderCost();
  process.stdout.write(`\nScale (one persona holds every memory; ${QUERY_COUNT} queries of 3–6 words; top 10; latencies in ms)\n`);
  const rows = [];
  for (const size of SIZES) rows.push(await scale(size));
  results.scale = rows;
  const out = path.join(import.meta.dirname, '..', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, isQuick ? 'memory.quick.json' : 'memory.json'), `${JSON.stringify(results, null, 2)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
