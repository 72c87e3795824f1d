/**
 * `npx tsx bench/micro-fulltext.ts [calls] [--against DIST] [--fixture DIR] [--cpu-prof FILE]`: the CPU
 * time of the memory recall's full-text half (`SqliteMemoryStore.fullTextSearch`, as a chat turn's recall
 * calls it) at the chat bench's store, in process, in the compiled server (dist/, or another build's with
 * `PERSONA_MICRO_DIST=/x/dist`).
 *
 * The store is a fixture made once (in `--fixture`, default /tmp/persona-micro-fulltext): the chat bench's
 * 10,000 stored messages and 300 turns of it through the real core, their background jobs drained (memory
 * formation with its doc2query text and recall terms: ~600 memories), copied with `VACUUM INTO`. Each
 * build opens its own copy with its own connection and thesaurus, warms its full-text mirror, and then
 * searches the next `calls` chat messages of the bench (default 2,000; the turn's scope and pool), the
 * builds alternating in rounds of 50 calls (`--against DIST`), so the machine's load hits both alike.
 * Reports CPU µs per call (`process.cpuUsage`) and checks that both builds return the same results.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as DatabaseModule from '../src/adapters/sqlite/database.js';
import type * as MemoryStoreModule from '../src/adapters/sqlite/memory-store.js';
import type * as ThesaurusModule from '../src/adapters/embedders/wordnet-thesaurus.js';
import type * as QuestionModule from '../src/domain/memory/question.js';
import { seedText } from './lib/chat-texts.js';
import { startCpuProfile } from './lib/cpu-profile.js';
import { microDist, startMicroCore } from './lib/micro-core.js';

const argv = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const at = argv.indexOf(name);
  return at < 0 ? undefined : argv.splice(at, 2)[1];
};
const against = option('--against');
const fixtureDir = path.resolve(option('--fixture') ?? path.join(os.tmpdir(), 'persona-micro-fulltext'));
const profileFile = option('--cpu-prof');
const calls = Number(argv[0] ?? 2_000);
const ROUND = 50;
const FIXTURE_TURNS = 300;
const fixture = path.join(fixtureDir, 'memories.db');

if (!existsSync(fixture)) {
  mkdirSync(fixtureDir, { recursive: true });
  process.stdout.write(`making the fixture (${FIXTURE_TURNS} turns with their jobs) in ${fixtureDir} ...\n`);
  const setup = await startMicroCore('micro-fulltext', 10_000);
  try {
    for (let index = 0; index < FIXTURE_TURNS; index++) {
      await setup.turn(index);
      await setup.core.services.memory.jobs.drain(30_000);
    }
    const db = (setup.core.store as unknown as { database: DatabaseModule.Database }).database;
    db.prepare('VACUUM INTO ?').run(fixture);
  } finally {
    await setup.close();
  }
}

interface Build {
  name: string;
  search: (query: string) => Promise<Array<{ id: number; score: number }>>;
  cpu: number;
  close: () => void;
}

async function open(dist: string, scratch: string): Promise<Build> {
  const load = <T>(file: string): Promise<T> => import(pathToFileURL(path.join(path.resolve(dist), file)).href) as Promise<T>;
  const { openDatabase } = await load<typeof DatabaseModule>('adapters/sqlite/database.js');
  const { SqliteMemoryStore } = await load<typeof MemoryStoreModule>('adapters/sqlite/memory-store.js');
  const { loadWordnetThesaurus } = await load<typeof ThesaurusModule>('adapters/embedders/wordnet-thesaurus.js');
  const { searchTextOf } = await load<typeof QuestionModule>('domain/memory/question.js');
  const file = path.join(scratch, `${path.basename(path.dirname(path.resolve(dist)))}-${Math.random().toString(36).slice(2)}.db`);
  copyFileSync(fixture, file);
  const db = openDatabase(file);
  const store = new SqliteMemoryStore(db, file, { thesaurus: loadWordnetThesaurus() });
  await store.warmUp([]);
  // The chat turn's recall (services/memory/turn-hooks.ts, memory-service.ts `search`): its scope and pool.
  const scope = { viewerId: 'aria', includeShared: true, includePublic: true, minImportance: 0, userId: null };
  return {
    name: path.relative(process.cwd(), dist) || dist,
    search: (query) => store.fullTextSearch(searchTextOf(query), scope, 50),
    cpu: 0,
    close: () => db.close(),
  };
}

const scratch = mkdtempSync(path.join(os.tmpdir(), 'persona-micro-fulltext-'));
const builds = [await open(microDist, scratch), ...(against === undefined ? [] : [await open(against, scratch)])];
try {
  const query = (index: number): string => `bench-plain-${index}: ${seedText(index + 11)}`;
  // Warm-up (the JIT, the mirror's caches), and the results compared.
  let differences = 0;
  for (let index = 0; index < 300; index++) {
    const results = await Promise.all(builds.map((build) => build.search(query(FIXTURE_TURNS + index))));
    if (results.length > 1 && JSON.stringify(results[0]) !== JSON.stringify(results[1])) differences++;
  }
  const profiler = profileFile === undefined ? null : await startCpuProfile();
  for (let round = 0; round * ROUND < calls; round++) {
    for (const build of round % 2 === 0 ? builds : [...builds].reverse()) {
      const before = process.cpuUsage();
      for (let index = round * ROUND; index < Math.min(calls, (round + 1) * ROUND); index++) await build.search(query(FIXTURE_TURNS + index));
      const used = process.cpuUsage(before);
      build.cpu += used.user + used.system;
    }
  }
  if (profiler !== null && profileFile !== undefined) {
    const { profile } = await profiler.post('Profiler.stop');
    writeFileSync(profileFile, JSON.stringify(profile));
    profiler.disconnect();
  }
  process.stdout.write(`${calls} full-text searches per build (load average ${os.loadavg()[0]!.toFixed(1)}), CPU µs per search:\n`);
  for (const build of builds) process.stdout.write(`  ${build.name.padEnd(24)} ${(build.cpu / calls).toFixed(1)}\n`);
  if (builds.length > 1) process.stdout.write(`  results differ in ${differences} of 300 searches\n`);
} finally {
  for (const build of builds) build.close();
  rmSync(scratch, { recursive: true, force: true });
}
