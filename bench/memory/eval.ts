/**
 * `npm run eval:memory` (issue 13): does memory bring back the fact a question needs, and at what cost?
 *
 * For each case it prints recall@5 (the ranking memory.search returns), the share of expected memories a
 * prompt carries (relevance floor, line and token caps), memory lines and tokens per prompt, and search
 * latency for three ways of giving a persona its past:
 * - `system`: what the server does (hybrid search with WordNet expansion, relevance first, the relevance
 *   floor, at most `promptMaxMemories` lines within `promptMaxTokens`);
 * - `plain FTS`: FTS5 BM25 over the memories' own words, top 5 (the baseline without expansion, vectors
 *   or floor);
 * - `full history`: every memory in the prompt (recall 1 by construction; the cost is the tokens).
 *
 * Cases (all offline: the hashed n-gram embedder, no LLM):
 * 1. the labelled set (labelled-set.ts: 25 queries over 40 memories, lexical / word-form / paraphrase);
 * 2. the paraphrase set (paraphrase-set.ts: 40 facts, each asked in other words), plus 5 unrelated
 *    questions that should bring no memory lines;
 * 3. at scale: the 20 first paraphrase facts among 1 000 other memories of the same user and persona;
 * 4. end to end over the wire (`--skip-e2e` leaves it out): a real server (temp data dir, the fake Ollama
 *    under test/fakes answering chat), the 20 facts told to Aria in one session, then asked in other words
 *    in a new session; the prompt the model received is read back: facts that reached it, memory lines and
 *    tokens, what unrelated questions bring, and that Kira (another persona) and another user never see
 *    Aria's facts.
 *
 *   npm run eval:memory [-- --skip-e2e] [--others 1000] [--json]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { hashedEmbedding, HashedNgramEmbedder } from '../../src/adapters/embedders/hashed-ngram.js';
import { loadWordnetThesaurus } from '../../src/adapters/embedders/wordnet-thesaurus.js';
import { InProcessEventBus } from '../../src/adapters/events/in-process-bus.js';
import { loadPersonaFiles, shippedPersonasDir } from '../../src/adapters/persona-files.js';
import { SqliteMemoryStore } from '../../src/adapters/sqlite/memory-store.js';
import type { MemoryStore } from '../../src/ports/memory.js';
import type { Store } from '../../src/ports/store.js';
import { SqliteStore } from '../../src/adapters/sqlite/sqlite-store.js';
import { configSchema } from '../../src/config/schema.js';
import { EMPTY_THESAURUS, type Thesaurus } from '../../src/domain/memory/expansion.js';
import { extractMemories } from '../../src/domain/memory/extraction.js';
import { heuristicImportance, importanceCues } from '../../src/domain/memory/importance.js';
import { estimateTokens } from '../../src/domain/tokens.js';
import { directFloorFor, recallFloorFor } from '../../src/domain/memory/speaker.js';
import { MemoryEmbedders } from '../../src/services/memory/embedders.js';
import { MemoryService } from '../../src/services/memory/memory-service.js';
import { memorySettings } from '../../src/app/memory-settings.js';
import type { MemorySettings } from '../../src/services/memory/settings.js';
import { RECALL_HEADING } from '../../src/services/memory/turn-hooks.js';
import { PersonaService } from '../../src/services/persona-service.js';
import { seeded } from './corpus.js';
import { MEMORIES, QUERIES } from './labelled-set.js';
import { FRESH_PAIRS, FRESH_UNRELATED } from './fresh-set.js';
import { HELD_OUT_PAIRS, HELD_OUT_UNRELATED } from './held-out-set.js';
import { PARAPHRASE_PAIRS, UNRELATED_QUESTIONS, type ParaphrasePair } from './paraphrase-set.js';
import { stemmer } from 'stemmer';
import { contentWords } from '../../src/domain/memory/text.js';

const args = process.argv.slice(2);
/** The memory store on PostgreSQL (cases 1–3; the end-to-end case is left out): `--postgres [url]`. */
const onPostgres = args.includes('--postgres');
const skipE2e = args.includes('--skip-e2e') || onPostgres;
const othersArg = args.indexOf('--others');
const OTHERS = othersArg >= 0 ? Number(args[othersArg + 1]) : 1_000;
/** Print each development-set question the system misses (never the held-out set's: it is not for tuning). */
const showMisses = args.includes('--misses');
/** Count each set's recall@5 misses by kind (not retrieved, ranked 6–10, lower): no question shown, so the held-out set may be counted too. */
const showMissCounts = args.includes('--miss-counts');
/**
 * `--dump FILE`: every system-mode ranking (ids, relevance, direct evidence, score) written to FILE, one
 * line per question, so a change meant to be invisible to recall (a speed-up) can be checked to return
 * exactly what it returned before (`diff` two dumps).
 */
const dumpArg = args.indexOf('--dump');
const dumpLines: string[] | null = dumpArg >= 0 ? [] : null;
const logger = pino({ level: 'silent' });
const settings: MemorySettings = {
  ...memorySettings(configSchema.parse({}).memory),
  embedder: 'offline',
  ...(process.env.EVAL_FLOOR ? { relevanceFloor: Number(process.env.EVAL_FLOOR) } : {}),
};
const K = 5;

interface Case {
  name: string;
  memories: string[];
  queries: Array<{ query: string; expected: number[]; group?: string }>;
  /** Questions that should bring no memory line. */
  unrelated?: readonly string[];
  /** With --misses, print the questions missed (development sets only). */
  showMisses?: boolean;
}

interface ModeResult {
  recall: number;
  /** Share of the expected memories among the lines a prompt would carry (floor, line and token caps). */
  inPrompt: number;
  byGroup: Record<string, number>;
  linesPerPrompt: number;
  tokensPerPrompt: number;
  unrelatedLines: number | null;
  p50: number;
  p95: number;
}

/** With --postgres: the PostgreSQL server the memory stores live on (a local cluster, or PERSONA_MCP_TEST_DATABASE_URL). */
let postgres: { url: string; stop(): Promise<void> } | null = null;
let schemas = 0;
async function stopPostgres(): Promise<void> {
  await postgres?.stop();
}

async function openStack(thesaurus: Thesaurus): Promise<{ store: Store & { close(): Promise<void> }; memories: MemoryStore; service: MemoryService }> {
  let now = Date.UTC(2026, 0, 1);
  const clock = { now: () => (now += 1_000) };
  let store: Store & { close(): Promise<void> };
  let memories: MemoryStore;
  if (postgres !== null) {
    const { PostgresStore } = await import('../../src/adapters/postgres/pg-store.js');
    const { PostgresMemoryStore } = await import('../../src/adapters/postgres/pg-memory-store.js');
    const pgStore = await PostgresStore.open(postgres.url, { schema: `eval_${process.pid}_${schemas++}` });
    store = pgStore;
    memories = new PostgresMemoryStore(pgStore.database, { thesaurus });
  } else {
    const sqlite = SqliteStore.open(':memory:');
    store = sqlite;
    memories = new SqliteMemoryStore(sqlite.database, ':memory:', { thesaurus });
  }
  const personas = new PersonaService(store, clock, new InProcessEventBus(() => undefined));
  await personas.initialise(loadPersonaFiles(shippedPersonasDir()));
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

/** Stores the memories as formation would (importance by the heuristic), returns their ids in order. */
async function fill(memories: MemoryStore, contents: readonly string[]): Promise<number[]> {
  const offline = new HashedNgramEmbedder();
  const ids: number[] = [];
  for (const content of contents) {
    const kind = /^The user said: (I|My|I'm)\b/.test(content) ? 'user_fact' : 'observation';
    const memory = await memories.insert(
      {
        personaId: 'aria',
        kind,
        content,
        importance: heuristicImportance(importanceCues(content)),
        importanceSource: 'heuristic',
        visibility: 'private',
      },
      [{ embedder: offline.id, vector: hashedEmbedding(content) }],
      Date.UTC(2026, 0, 1),
    );
    ids.push(memory.id);
  }
  return ids;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

function linesTokens(lines: string[]): number {
  return lines.length === 0 ? 0 : estimateTokens(RECALL_HEADING) + lines.reduce((sum, line) => sum + estimateTokens(`- ${line}`), 0);
}

function mean(values: number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}

function summarise(
  recalls: Array<{ hit: number; group: string }>,
  lines: number[],
  tokens: number[],
  times: number[],
  unrelated: number[] | null,
): ModeResult {
  const groups: Record<string, number[]> = {};
  for (const entry of recalls) (groups[entry.group] ??= []).push(entry.hit);
  return {
    recall: mean(recalls.map((entry) => entry.hit)),
    inPrompt: mean(recalls.map((entry) => entry.hit)),
    byGroup: Object.fromEntries(Object.entries(groups).map(([group, values]) => [group, mean(values)])),
    linesPerPrompt: mean(lines),
    tokensPerPrompt: mean(tokens),
    unrelatedLines: unrelated === null ? null : mean(unrelated),
    p50: percentile(times, 50),
    p95: percentile(times, 95),
  };
}

async function runCase(testCase: Case): Promise<Record<string, ModeResult>> {
  const results: Record<string, ModeResult> = {};
  const thesaurus = loadWordnetThesaurus((file) => process.stderr.write(`no WordNet table at ${file}: run npm run build\n`), process.env.WORDNET_TABLE);
  // system ------------------------------------------------------------------------------------------
  {
    const { store, memories, service } = await openStack(thesaurus);
    const ids = await fill(memories, testCase.memories);
    const recalls: Array<{ hit: number; group: string }> = [];
    const lines: number[] = [];
    const tokens: number[] = [];
    const times: number[] = [];
    const inPrompt: number[] = [];
    const missCounts = new Map<string, number>();
    /** The ranking (as memory.search returns it) and the lines a prompt would carry. */
    const ask = async (query: string): Promise<{ ranked: number[]; prompt: number[] }> => {
      const started = performance.now();
      const hits = await service.search({ query, limit: Math.max(K, settings.promptMaxMemories), viewerId: 'aria' });
      times.push(performance.now() - started);
      dumpLines?.push(
        `${testCase.name}\t${query}\t${hits.map((hit) => `${hit.memory.id}:${hit.relevance.toFixed(9)}:${hit.direct.toFixed(9)}:${hit.score.toFixed(9)}`).join(' ')}`,
      );
      // As MemoryRecall does: above the floor, at most promptMaxMemories lines within promptMaxTokens.
      const kept: string[] = [];
      const prompt: number[] = [];
      for (const hit of hits) {
        if (hit.relevance < recallFloorFor(query, settings.relevanceFloor) || hit.direct < directFloorFor(query)) continue;
        if (kept.length >= settings.promptMaxMemories) break;
        if (linesTokens([...kept, hit.memory.content]) > settings.promptMaxTokens) break;
        kept.push(hit.memory.content);
        prompt.push(hit.memory.id);
      }
      return { ranked: hits.map((hit) => hit.memory.id), prompt };
    };
    /**
     * Why an expected memory is not in the prompt (--misses): not found by any retriever, found but below
     * the floor, or above the floor and outranked (line or token cap). Diagnostic search: no reinforcement.
     */
    const explainMiss = async (query: Case['queries'][number], prompt: number[]): Promise<void> => {
      const all = await service.search({ query: query.query, limit: 200, viewerId: 'aria', reinforce: false });
      const floor = recallFloorFor(query.query, settings.relevanceFloor);
      for (const index of query.expected) {
        if (prompt.includes(ids[index]!)) continue;
        const rank = all.findIndex((hit) => hit.memory.id === ids[index]);
        const hit = all[rank];
        const why =
          hit === undefined
            ? 'not retrieved'
            : hit.relevance < floor
              ? `below the floor (${hit.relevance.toFixed(3)} < ${floor})`
              : hit.direct < directFloorFor(query.query)
                ? `direct evidence below the floor (${hit.direct.toFixed(3)} < ${directFloorFor(query.query)})`
                : `outranked (rank ${rank + 1}, relevance ${hit.relevance.toFixed(3)})`;
        const above = all.slice(0, 2).map((other) => `${other.memory.content.replace(/^The user said: /, '')} (${other.relevance.toFixed(2)})`);
        process.stderr.write(`  miss [${testCase.name}] ${query.query} ~ ${testCase.memories[index]!.replace(/^The user said: /, '')}: ${why}; top: ${above.join(' | ')}\n`);
      }
    };
    for (const query of testCase.queries) {
      const found = await ask(query.query);
      const top = new Set(found.ranked.slice(0, K));
      const share = (set: Set<number>): number => query.expected.filter((index) => set.has(ids[index]!)).length / query.expected.length;
      recalls.push({ hit: share(top), group: query.group ?? 'all' });
      inPrompt.push(share(new Set(found.prompt)));
      if (showMisses && testCase.showMisses && share(new Set(found.prompt)) < 1) await explainMiss(query, found.prompt);
      if (showMissCounts && share(top) < 1) {
        const all = await service.search({ query: query.query, limit: 200, viewerId: 'aria', reinforce: false });
        for (const index of query.expected) {
          const rank = all.findIndex((hit) => hit.memory.id === ids[index]);
          if (rank >= 0 && rank < K) continue;
          const bucket = rank < 0 ? 'not retrieved' : rank < 10 ? 'rank 6-10' : 'rank > 10';
          missCounts.set(bucket, (missCounts.get(bucket) ?? 0) + 1);
        }
      }
      lines.push(found.prompt.length);
      tokens.push(linesTokens(found.prompt.map((id) => testCase.memories[ids.indexOf(id)]!)));
    }
    const unrelated: number[] = [];
    for (const question of testCase.unrelated ?? []) {
      const found = await ask(question);
      unrelated.push(found.prompt.length);
      if (showMisses && testCase.showMisses && found.prompt.length > 0) {
        const all = await service.search({ query: question, limit: 200, viewerId: 'aria', reinforce: false });
        const shown = all.filter((hit) => found.prompt.includes(hit.memory.id));
        process.stderr.write(
          `  unrelated [${testCase.name}] ${question} -> ${shown.map((hit) => `${hit.memory.content} (relevance ${hit.relevance.toFixed(2)}, direct ${hit.direct.toFixed(2)})`).join(' | ')}\n`,
        );
      }
    }
    results.system = { ...summarise(recalls, lines, tokens, times, testCase.unrelated ? unrelated : null), inPrompt: mean(inPrompt) };
    if (showMissCounts) process.stderr.write(`  recall@5 misses [${testCase.name}]: ${[...missCounts].map(([bucket, count]) => `${count} ${bucket}`).join(', ') || 'none'}\n`);
    await store.close();
  }
  // plain FTS -----------------------------------------------------------------------------------------
  {
    const { store, memories } = await openStack(EMPTY_THESAURUS);
    const ids = await fill(memories, testCase.memories);
    const recalls: Array<{ hit: number; group: string }> = [];
    const lines: number[] = [];
    const tokens: number[] = [];
    const times: number[] = [];
    const ask = async (query: string): Promise<number[]> => {
      const started = performance.now();
      const hits = await memories.fullTextSearch(query, { viewerId: 'aria' }, K);
      times.push(performance.now() - started);
      return hits.map((hit) => hit.id);
    };
    for (const query of testCase.queries) {
      const found = await ask(query.query);
      const top = new Set(found.slice(0, K));
      recalls.push({ hit: query.expected.filter((index) => top.has(ids[index]!)).length / query.expected.length, group: query.group ?? 'all' });
      lines.push(found.length); // plain FTS puts its top 5 in the prompt
      tokens.push(linesTokens(found.map((id) => testCase.memories[ids.indexOf(id)]!)));
    }
    const unrelated: number[] = [];
    for (const question of testCase.unrelated ?? []) unrelated.push((await ask(question)).length);
    results['plain FTS'] = summarise(recalls, lines, tokens, times, testCase.unrelated ? unrelated : null);
    await store.close();
  }
  // full history ----------------------------------------------------------------------------------------
  {
    const all = testCase.memories.map((content) => content.replace(/^The user said: /, ''));
    const tokens = all.reduce((sum, line) => sum + estimateTokens(line) + 4, 0);
    results['full history'] = summarise(
      testCase.queries.map((query) => ({ hit: 1, group: query.group ?? 'all' })),
      testCase.queries.map(() => all.length),
      testCase.queries.map(() => tokens),
      [0],
      testCase.unrelated ? testCase.unrelated.map(() => all.length) : null,
    );
  }
  return results;
}

function print(title: string, results: Record<string, ModeResult>): void {
  process.stdout.write(`\n${title}\n`);
  const groups = Object.keys(results.system?.byGroup ?? {});
  const showGroups = groups.length > 1;
  process.stdout.write(
    `${'mode'.padEnd(14)} ${`recall@${K}`.padStart(9)}${showGroups ? groups.map((group) => group.slice(0, 10).padStart(11)).join('') : ''} ${'in prompt'.padStart(10)} ${'lines/prompt'.padStart(13)} ${'tokens/prompt'.padStart(14)} ${'unrelated→lines'.padStart(16)} ${'p50 ms'.padStart(8)} ${'p95 ms'.padStart(8)}\n`,
  );
  for (const [mode, row] of Object.entries(results)) {
    process.stdout.write(
      `${mode.padEnd(14)} ${row.recall.toFixed(2).padStart(9)}${showGroups ? groups.map((group) => (row.byGroup[group] ?? 0).toFixed(2).padStart(11)).join('') : ''} ${row.inPrompt.toFixed(2).padStart(10)} ${row.linesPerPrompt.toFixed(1).padStart(13)} ${row.tokensPerPrompt.toFixed(0).padStart(14)} ${(row.unrelatedLines === null ? '—' : row.unrelatedLines.toFixed(1)).padStart(16)} ${(mode === 'full history' ? '—' : row.p50.toFixed(2)).padStart(8)} ${(mode === 'full history' ? '—' : row.p95.toFixed(2)).padStart(8)}\n`,
    );
  }
}

/**
 * The rule of both paraphrase sets: no content word of a question occurs in its fact, after Porter
 * stemming (else it is a lexical query in disguise). Returns the offending pairs.
 */
export function checkParaphrasePairs(pairs: readonly ParaphrasePair[]): string[] {
  const stems = (text: string): Set<string> => new Set(contentWords(text).map((word) => stemmer(word)));
  return pairs.flatMap((pair) => {
    const fact = stems(pair.fact);
    const shared = [...stems(pair.question)].filter((stem) => fact.has(stem));
    return shared.length > 0 ? [`"${pair.question}" shares ${shared.join(', ')} with "${pair.fact}"`] : [];
  });
}

/** As formation stores a told fact. */
function formed(fact: string): string {
  return extractMemories(fact)[0]?.content ?? `The user said: ${fact}`;
}

/** Other memories of the same user: varied everyday statements (fixed seed), none about the 20 targets. */
function otherMemories(count: number): string[] {
  const random = seeded(13);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const people = ['Tom', 'Anna', 'my neighbour', 'my boss', 'a colleague', 'an old friend', 'the landlord', 'my cousin', 'Priya', 'Marco'];
  const places = ['the market', 'the library', 'the gym', 'the park', 'the station', 'a cafe', 'the museum', 'the beach', 'the dentist', 'the cinema'];
  const days = ['on Monday', 'yesterday', 'last weekend', 'this morning', 'on Friday night', 'two days ago', 'after lunch', 'before dinner'];
  const things = ['a new umbrella', 'some batteries', 'a birthday card', 'fresh bread', 'a lamp', 'tickets', 'a board game', 'paint', 'a plant', 'stamps'];
  const topics = ['the election', 'the weather', 'a podcast', 'the traffic', 'rent prices', 'a documentary', 'the new bridge', 'a recipe', 'the match', 'holidays'];
  const feelings = ['tired', 'cheerful', 'a bit bored', 'busy', 'relaxed', 'curious', 'annoyed', 'sleepy'];
  const templates: Array<() => string> = [
    () => `I went to ${pick(places)} with ${pick(people)} ${pick(days)}.`,
    () => `I bought ${pick(things)} at ${pick(places)} ${pick(days)}.`,
    () => `${pick(people)[0]!.toUpperCase()}${pick(people).slice(1)} and I talked about ${pick(topics)} for an hour.`,
    () => `I felt ${pick(feelings)} ${pick(days)} after ${pick(places)}.`,
    () => `I read an article about ${pick(topics)} ${pick(days)}.`,
    () => `I need to call ${pick(people)} about ${pick(topics)}.`,
    () => `The queue at ${pick(places)} was very long ${pick(days)}.`,
    () => `I forgot ${pick(things)} at ${pick(places)} ${pick(days)}.`,
  ];
  return Array.from({ length: count }, () => `The user said: ${pick(templates)()}`);
}

// end to end -----------------------------------------------------------------------------------------

interface EndToEnd {
  factsInPrompt: number;
  recalledLinesPerPrompt: number;
  profileLinesPerPrompt: number;
  memoryTokensPerPrompt: number;
  maxMemoryTokens: number;
  unrelatedRecalledLines: number;
  leaksToOtherPersona: number;
  leaksToOtherUser: number;
  turnMs: number;
}

async function endToEnd(): Promise<EndToEnd> {
  const { startFakeOllama } = await import('../../test/fakes/fake-ollama.js');
  const { startServer } = await import('../../src/app/app.js');
  const { loadConfig } = await import('../../src/config/load.js');
  const { TestClient } = await import('../../test/helpers/ws-client.js');
  const ollama = await startFakeOllama();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-eval-'));
  const config = loadConfig({
    cwd: dataDir,
    env: {},
    // No summary: the fake would "summarise" by echoing its prompt, a memory no real model writes.
    flags: {
      dataDir,
      port: 0,
      'llm.ollamaHost': ollama.url,
      'memory.embedder': 'offline',
      'memory.llmImportance': false,
      'memory.summariseAfterMessages': 10_000,
    },
  });
  const server = await startServer(config, { logger });
  const pairs = PARAPHRASE_PAIRS.slice(0, 20);
  // The turn's own request (its last message is the question), not `requests.at(-1)`: background jobs
  // (doc2query, the turn appraisal) call the model after replies too.
  const promptOf = (message: string): string => ollama.chatAbout(message).body.messages![0]!.content;
  const memorySections = (system: string): { recalled: string[]; profile: string[] } => {
    const section = (heading: string): string[] => {
      const start = system.indexOf(heading);
      if (start < 0) return [];
      return system
        .slice(start + heading.length)
        .split('\n')
        .slice(1)
        .filter((line, index, lines) => line.startsWith('- ') && lines.slice(0, index).every((before) => before.startsWith('- ')));
    };
    return { recalled: section(RECALL_HEADING), profile: section('What you know about the user:') };
  };
  const tokensOf = (system: string): number => {
    const { recalled, profile } = memorySections(system);
    return (
      (recalled.length > 0 ? estimateTokens(RECALL_HEADING) : 0) +
      (profile.length > 0 ? estimateTokens('What you know about the user:') : 0) +
      [...recalled, ...profile].reduce((sum, line) => sum + estimateTokens(line), 0)
    );
  };
  try {
    const teller = await TestClient.connect(server.websocketUrl);
    await teller.result('persona.switch', { persona_id: 'aria' });
    for (const pair of pairs) await teller.result('persona.chat', { message: pair.fact });
    await server.services.memory.jobs.drain(60_000);
    await teller.close();

    const asker = await TestClient.connect(server.websocketUrl);
    await asker.result('persona.switch', { persona_id: 'aria' });
    await asker.result('conversation.start', { persona_id: 'aria', context: 'a new day' });
    let reached = 0;
    const recalledLines: number[] = [];
    const profileLines: number[] = [];
    const tokens: number[] = [];
    const times: number[] = [];
    for (const pair of pairs) {
      const started = performance.now();
      await asker.result('persona.chat', { message: pair.question });
      times.push(performance.now() - started);
      const system = promptOf(pair.question);
      const { recalled, profile } = memorySections(system);
      if ([...recalled, ...profile].some((line) => line.includes(pair.fact))) reached++;
      else if (showMisses) process.stderr.write(`  miss [end to end] ${pair.question} ~ ${pair.fact}: recalled ${recalled.join(' | ') || 'nothing'}\n`);
      recalledLines.push(recalled.length);
      profileLines.push(profile.length);
      tokens.push(tokensOf(system));
    }
    let unrelated = 0;
    for (const question of UNRELATED_QUESTIONS) {
      await asker.result('persona.chat', { message: question });
      unrelated += memorySections(promptOf(question)).recalled.length;
    }
    await asker.result('conversation.start', { persona_id: 'kira', context: 'elsewhere' });
    let leaksPersona = 0;
    for (const pair of pairs) {
      await asker.result('persona.chat', { persona_id: 'kira', message: pair.question });
      if (pairs.some((other) => promptOf(pair.question).includes(other.fact))) leaksPersona++;
    }
    await asker.close();
    await server.services.memory.jobs.drain(60_000);
    const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
    return {
      factsInPrompt: reached / pairs.length,
      recalledLinesPerPrompt: mean(recalledLines),
      profileLinesPerPrompt: mean(profileLines),
      memoryTokensPerPrompt: mean(tokens),
      maxMemoryTokens: Math.max(...tokens),
      unrelatedRecalledLines: unrelated / UNRELATED_QUESTIONS.length,
      leaksToOtherPersona: leaksPersona,
      leaksToOtherUser: await otherUserLeaks(server, ollama, pairs),
      turnMs: percentile(times, 50),
    };
  } finally {
    await server.close();
    await ollama.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Another user (its own API key) asks Aria the same questions: none of the first user's facts may reach
 * its prompt. Needs keys; the first user's facts above were told without authentication (local user).
 */
async function otherUserLeaks(
  server: Awaited<ReturnType<typeof import('../../src/app/app.js').startServer>>,
  ollama: Awaited<ReturnType<typeof import('../../test/fakes/fake-ollama.js').startFakeOllama>>,
  pairs: ReadonlyArray<{ fact: string; question: string }>,
): Promise<number> {
  const { TestClient } = await import('../../test/helpers/ws-client.js');
  const { key } = await server.auth.createKey({ name: 'eval', userId: 'someone-else', role: 'user' });
  const client = await TestClient.connect(server.websocketUrl, { headers: { authorization: `Bearer ${key}` } });
  let leaks = 0;
  try {
    await client.result('persona.switch', { persona_id: 'aria' });
    for (const pair of pairs) {
      await client.result('persona.chat', { message: pair.question });
      const system = ollama.chatAbout(pair.question).body.messages![0]!.content;
      if (pairs.some((other) => system.includes(other.fact))) leaks++;
    }
  } finally {
    await client.close();
  }
  return leaks;
}

async function main(): Promise<void> {
  const labelled: Case = {
    name: 'labelled',
    memories: [...MEMORIES],
    queries: QUERIES.map((query) => ({ query: query.query, expected: query.expected, group: query.kind })),
    showMisses: true,
  };
  const broken = checkParaphrasePairs([...PARAPHRASE_PAIRS, ...HELD_OUT_PAIRS, ...FRESH_PAIRS]);
  if (broken.length > 0) throw new Error(`paraphrase pairs that share a word:\n${broken.join('\n')}`);
  const paraphrase: Case = {
    name: 'paraphrase',
    memories: PARAPHRASE_PAIRS.map((pair) => formed(pair.fact)),
    queries: PARAPHRASE_PAIRS.map((pair, index) => ({ query: pair.question, expected: [index] })),
    unrelated: UNRELATED_QUESTIONS,
    showMisses: true,
  };
  const heldOut: Case = {
    name: 'held-out',
    memories: HELD_OUT_PAIRS.map((pair) => formed(pair.fact)),
    queries: HELD_OUT_PAIRS.map((pair, index) => ({ query: pair.question, expected: [index] })),
    unrelated: HELD_OUT_UNRELATED,
  };
  const fresh: Case = {
    name: 'fresh',
    memories: FRESH_PAIRS.map((pair) => formed(pair.fact)),
    queries: FRESH_PAIRS.map((pair, index) => ({ query: pair.question, expected: [index] })),
    unrelated: FRESH_UNRELATED,
  };
  const targets = PARAPHRASE_PAIRS.slice(0, 20);
  const atScale: Case = {
    name: 'at scale',
    memories: [...targets.map((pair) => formed(pair.fact)), ...otherMemories(OTHERS)],
    queries: targets.map((pair, index) => ({ query: pair.question, expected: [index] })),
    unrelated: UNRELATED_QUESTIONS,
    showMisses: true,
  };
  if (onPostgres) {
    const given = args[args.indexOf('--postgres') + 1];
    const url = given !== undefined && !given.startsWith('--') ? given : process.env.PERSONA_MCP_TEST_DATABASE_URL;
    if (url !== undefined && url !== '') postgres = { url, stop: async () => undefined };
    else {
      const { startPostgres } = await import('../../test/helpers/local-services.js');
      postgres = await startPostgres({ fsync: false });
    }
  }
  process.stdout.write(`memory evaluation on ${postgres !== null ? 'PostgreSQL' : 'SQLite'}, offline embedder, recall@${K}; relevance floor ${settings.relevanceFloor}, ${settings.promptMaxMemories} lines, ${settings.promptMaxTokens} tokens\n`);
  print(`1. labelled set: ${QUERIES.length} queries over ${MEMORIES.length} memories`, await runCase(labelled));
  print(`2. paraphrase set (development): ${PARAPHRASE_PAIRS.length} facts asked in other words (+ ${UNRELATED_QUESTIONS.length} unrelated questions)`, await runCase(paraphrase));
  print(`2b. paraphrase set (held out, never tuned on): ${HELD_OUT_PAIRS.length} facts asked in other words (+ ${HELD_OUT_UNRELATED.length} unrelated questions)`, await runCase(heldOut));
  print(`2c. paraphrase set (fresh, written after the tuning): ${FRESH_PAIRS.length} facts asked in other words (+ ${FRESH_UNRELATED.length} unrelated questions)`, await runCase(fresh));
  print(`3. at scale: ${targets.length} facts among ${OTHERS} other memories of the same user`, await runCase(atScale));
  if (!skipE2e) {
    const e2e = await endToEnd();
    process.stdout.write(
      `\n4. end to end over the wire (20 facts told to Aria, asked in other words in a new session; memory lines and tokens read from the prompt the model got)\n` +
        `   facts reaching the prompt ${e2e.factsInPrompt.toFixed(2)} · recalled lines/prompt ${e2e.recalledLinesPerPrompt.toFixed(1)} · "what I know about you" lines/prompt ${e2e.profileLinesPerPrompt.toFixed(1)}\n` +
        `   memory tokens/prompt ${e2e.memoryTokensPerPrompt.toFixed(0)} (max ${e2e.maxMemoryTokens}) · unrelated question → recalled lines ${e2e.unrelatedRecalledLines.toFixed(1)}\n` +
        `   Aria's facts in Kira's prompt: ${e2e.leaksToOtherPersona} of 20 · in another user's prompt: ${Number.isNaN(e2e.leaksToOtherUser) ? 'not measured' : `${e2e.leaksToOtherUser} of 20`} · chat turn p50 ${e2e.turnMs.toFixed(0)} ms\n`,
    );
  }
}

try {
  await main();
  if (dumpLines !== null) writeFileSync(args[dumpArg + 1]!, `${dumpLines.join('\n')}\n`);
} finally {
  await stopPostgres();
}
