/**
 * The chat turn's recall, alone and in process CPU time (issue 15): `npx tsx bench/memory/chat-recall.ts [turns] [--cpu-prof-friendly]`
 *
 * Replays what the chat bench's turns ask of memory (bench/suites/chat.ts: one persona, one user, the
 * same six sentences in every message) without a server: a store in a temp dir, and per turn the recall
 * `MemoryRecall` makes (MemoryService.search with the chat's floors, recorded as an access) followed by
 * the turn's memory formation (the message's extracted memories inserted with a doc2query text, so the
 * store grows and the search's caches see a write between turns, as on the server). Prints the CPU
 * time per recall (process.cpuUsage: other processes on the machine do not inflate it), p50 / p99,
 * over the turns after a warm-up, how many memories the store held at the end, and the CPU time of the
 * formation writes (where the full-text mirror follows the new memories, full-text-mirror.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { HashedNgramEmbedder } from '../../src/adapters/embedders/hashed-ngram.js';
import { loadWordnetThesaurus } from '../../src/adapters/embedders/wordnet-thesaurus.js';
import { InProcessEventBus } from '../../src/adapters/events/in-process-bus.js';
import { loadPersonaFiles, shippedPersonasDir } from '../../src/adapters/persona-files.js';
import { SqliteMemoryStore } from '../../src/adapters/sqlite/memory-store.js';
import { SqliteStore } from '../../src/adapters/sqlite/sqlite-store.js';
import { configSchema } from '../../src/config/schema.js';
import { memorySettings } from '../../src/app/memory-settings.js';
import { extractMemories } from '../../src/domain/memory/extraction.js';
import { directFloorFor, recallFloorFor } from '../../src/domain/memory/speaker.js';
import { MemoryEmbedders } from '../../src/services/memory/embedders.js';
import { MemoryService } from '../../src/services/memory/memory-service.js';
import { PersonaService } from '../../src/services/persona-service.js';

const turns = Number(process.argv[2] ?? 300);
const WARM_UP = 50;

// The chat bench's messages (bench/suites/chat.ts SENTENCES and seedText).
const SENTENCES = [
  'I walked down to the harbour this morning and the fog was thick enough to lose a boat in.',
  'Do you remember the song about the lighthouse keeper who counted waves instead of sheep?',
  'The library in the old quarter has a map that shows a river nobody can find any more.',
  'My sister says the market is louder on festival days, but I think it is only the drums.',
  'Tell me again how the story ends, the one with the fox and the borrowed lantern.',
  'There is a theory that the stars over the northern pass are arranged like a poem.',
];
const seedText = (index: number): string =>
  `${SENTENCES[index % SENTENCES.length]} ${SENTENCES[(index * 7 + 3) % SENTENCES.length]} (note ${index})`;

/** A doc2query text as the bench's fake model writes one (a fact and three questions). */
function doc2queryOf(content: string): string {
  const fact = content.replace(/^The user said: /, '');
  const words = fact.split(/\W+/).filter((word) => word.length > 6).slice(0, 3);
  return `${fact} ${words.map((word) => `What about ${word}?`).join(' ')}`;
}

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'persona-chat-recall-'));
  const store = SqliteStore.open(path.join(dir, 'persona-mcp.db'));
  try {
    let now = Date.UTC(2026, 0, 1);
    const clock = { now: () => (now += 1_000) };
    const logger = pino({ level: 'silent' });
    const memories = new SqliteMemoryStore(store.database, path.join(dir, 'persona-mcp.db'), { thesaurus: loadWordnetThesaurus() });
    const personas = new PersonaService(store, clock, new InProcessEventBus(() => undefined));
    await personas.initialise(loadPersonaFiles(shippedPersonasDir()));
    const offline = new HashedNgramEmbedder();
    const settings = { ...memorySettings(configSchema.parse({}).memory), embedder: 'offline' as const };
    const service = new MemoryService({ memories, personas, embedders: new MemoryEmbedders(offline, null, logger), clock, logger, settings });
    const cpu: number[] = [];
    const writeCpu: number[] = [];
    const wall: number[] = [];
    let recalled = 0;
    for (let turn = 0; turn < WARM_UP + turns; turn++) {
      const message = `bench-${turn}: ${seedText(turn + 11)}`;
      const usage = process.cpuUsage();
      const started = performance.now();
      const hits = await service.search({
        query: message,
        limit: settings.promptMaxMemories,
        viewerId: 'aria',
        userId: null,
        includeShared: true,
        includePublic: true,
        minRelevance: recallFloorFor(message, settings.relevanceFloor),
        minDirectRelevance: directFloorFor(message),
        remoteWaitMs: 0,
      });
      const used = process.cpuUsage(usage);
      if (turn >= WARM_UP) {
        cpu.push((used.user + used.system) / 1000);
        wall.push(performance.now() - started);
        recalled += hits.length;
      }
      // The turn's formation: its memories, with a doc2query text (a write between two recalls).
      const writing = process.cpuUsage();
      for (const { kind, content } of extractMemories(message)) {
        const [vector] = await offline.embed([content]);
        await memories.insert(
          { personaId: 'aria', kind, content, importance: 0.5, importanceSource: 'heuristic', visibility: 'private', userId: null, doc2query: doc2queryOf(content) },
          [{ embedder: offline.id, vector: vector! }],
          clock.now(),
        );
      }
      const written = process.cpuUsage(writing);
      if (turn >= WARM_UP) writeCpu.push((written.user + written.system) / 1000);
    }
    const total = await memories.countFor('aria');
    process.stdout.write(
      `chat recall: ${turns} turns (after ${WARM_UP} warm-up), ${total} memories at the end, ${(recalled / turns).toFixed(1)} recalled per turn\n` +
        `  CPU ms per recall: p50 ${percentile(cpu, 0.5).toFixed(3)}  p99 ${percentile(cpu, 0.99).toFixed(3)}  mean ${(cpu.reduce((a, b) => a + b, 0) / cpu.length).toFixed(3)}\n` +
        `  wall ms per recall: p50 ${percentile(wall, 0.5).toFixed(3)}  p99 ${percentile(wall, 0.99).toFixed(3)}  (load average ${os.loadavg()[0]!.toFixed(1)})\n` +
        `  CPU ms per turn's formation write (off the critical path): p50 ${percentile(writeCpu, 0.5).toFixed(3)}  mean ${(writeCpu.reduce((a, b) => a + b, 0) / writeCpu.length).toFixed(3)}\n`,
    );
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
