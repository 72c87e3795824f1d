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
 *
 * Then, as formation writes them: the fixture's newest 300 memories deleted, then written again message by
 * message with `replaceFormed`, the builds alternating message by message; CPU µs per memory of the write
 * and of the mirror following it (the stretch after the write, `followSoon`), `FOLLOW_ROUNDS` times.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as DatabaseModule from '../src/adapters/sqlite/database.js';
import type * as MirrorModule from '../src/adapters/sqlite/full-text-mirror.js';
import type * as MemoryStoreModule from '../src/adapters/sqlite/memory-store.js';
import type * as ExpansionModule from '../src/domain/memory/expansion.js';
import type * as ThesaurusModule from '../src/adapters/embedders/wordnet-thesaurus.js';
import type { NewMemory } from '../src/domain/memory/memory.js';
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
  /** The store the server's formation writes through (its mirror built), on a copy of its own. */
  store: () => Promise<{ memories: MemoryStoreModule.SqliteMemoryStore; db: DatabaseModule.Database }>;
  memories: number;
  cpu: number;
  close: () => void;
}

async function open(dist: string, scratch: string): Promise<Build> {
  const load = <T>(file: string): Promise<T> => import(pathToFileURL(path.join(path.resolve(dist), file)).href) as Promise<T>;
  const { openDatabase } = await load<typeof DatabaseModule>('adapters/sqlite/database.js');
  const { FullTextMirror } = await load<typeof MirrorModule>('adapters/sqlite/full-text-mirror.js');
  // Builds before the mirror took a word's stem too were given the text's function alone.
  const { COVERAGE_STEMMER, stemsOf } = await load<Partial<typeof MemoryStoreModule> & Pick<typeof MemoryStoreModule, 'stemsOf'>>('adapters/sqlite/memory-store.js');
  const stemmer = COVERAGE_STEMMER ?? (stemsOf as unknown as MirrorModule.CoverageStemmer);
  const { RECALL_TERMS_WEIGHT } = await load<typeof ExpansionModule>('domain/memory/expansion.js');
  const { SqliteMemoryStore } = await load<typeof MemoryStoreModule>('adapters/sqlite/memory-store.js');
  const { loadWordnetThesaurus } = await load<typeof ThesaurusModule>('adapters/embedders/wordnet-thesaurus.js');
  const copy = (): string => {
    const file = path.join(scratch, `${Math.random().toString(36).slice(2)}.db`);
    copyFileSync(fixture, file);
    return file;
  };
  const db = openDatabase(copy());
  return {
    name: path.relative(process.cwd(), dist) || dist,
    build: async () => {
      const mirror = new FullTextMirror(db, RECALL_TERMS_WEIGHT, stemmer);
      mirror.current();
      await mirror.whenBuilt();
      return mirror;
    },
    store: async () => {
      const file = copy();
      const own = openDatabase(file);
      const memories = new SqliteMemoryStore(own, file, { thesaurus: loadWordnetThesaurus() });
      await memories.warmUp([]);
      return { memories, db: own };
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
  await following(builds);
} finally {
  for (const build of builds) build.close();
  rmSync(scratch, { recursive: true, force: true });
}

/** Formation's writes and the mirror following them, the builds alternating message by message. */
async function following(measured: readonly Build[]): Promise<void> {
  const FOLLOW_ROUNDS = 3;
  const stores = await Promise.all(measured.map((build) => build.store()));
  const rows = stores[0]!.db
    .prepare('SELECT * FROM memories WHERE message_id IS NOT NULL ORDER BY id DESC LIMIT 300')
    .all()
    .reverse() as Array<Record<string, unknown> & { message_id: number }>;
  const byMessage = new Map<number, Array<{ memory: NewMemory; vectors: [] }>>();
  for (const row of rows) {
    const memory: NewMemory = {
      personaId: row.persona_id as string,
      kind: row.kind as NewMemory['kind'],
      content: row.content as string,
      importance: row.importance as number,
      importanceSource: row.importance_source as NewMemory['importanceSource'],
      visibility: row.visibility as NewMemory['visibility'],
      userId: row.user_id as string | null,
      sessionId: row.session_id as string | null,
      conversationId: row.conversation_id as string | null,
      messageId: row.message_id,
      doc2query: row.doc2query as string | null,
    };
    byMessage.set(row.message_id, [...(byMessage.get(row.message_id) ?? []), { memory, vectors: [] }]);
  }
  const cpu = measured.map(() => ({ write: 0, follow: 0, memories: 0 }));
  const nextStretch = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  for (let round = 0; round <= FOLLOW_ROUNDS; round++) {
    // Round 0 warms up; each round starts from the store without those memories (the mirror following the deletion).
    for (const { memories, db } of stores) await memories.delete(db.prepare('SELECT id FROM memories WHERE id >= ?').pluck().all(rows[0]!.id as number) as number[]);
    await nextStretch();
    let at = 0;
    for (const [messageId, formed] of byMessage) {
      const order = at++ % 2 === 0 ? stores.keys() : [...stores.keys()].reverse();
      for (const index of order) {
        let before = process.cpuUsage();
        await stores[index]!.memories.replaceFormed(messageId, formed, 1_000);
        const write = process.cpuUsage(before);
        before = process.cpuUsage();
        await nextStretch(); // the mirror follows the write in a stretch of its own (followSoon), queued before this one
        const follow = process.cpuUsage(before);
        if (round === 0) continue;
        cpu[index]!.write += write.user + write.system;
        cpu[index]!.follow += follow.user + follow.system;
        cpu[index]!.memories += formed.length;
      }
    }
  }
  process.stdout.write(`${byMessage.size} formations of ${rows.length} memories written ${FOLLOW_ROUNDS} times per build, CPU µs per memory (write / the mirror following it):\n`);
  for (const [index, build] of measured.entries()) {
    const { write, follow, memories } = cpu[index]!;
    process.stdout.write(`  ${build.name.padEnd(24)} ${(write / memories).toFixed(1)} / ${(follow / memories).toFixed(1)}\n`);
  }
  for (const { db } of stores) db.close();
}
