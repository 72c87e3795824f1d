import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadPersonaFiles, shippedPersonasDir } from '../persona-files.js';
import { parseThesaurus, RECALL_TERMS_WEIGHT, type Thesaurus } from '../../domain/memory/expansion.js';
import { SqliteMemoryStore, toFtsQuery, blobToVector, vectorToBlob, ftsRowCount, estimatedDocuments, DOCUMENT_COUNT_SAMPLE, rankTextCandidates } from './memory-store.js';
import { SqliteStore } from './sqlite-store.js';
import type { MemoryStore } from '../../ports/memory.js';
import { PostgresMemoryStore } from '../postgres/pg-memory-store.js';
import { PostgresStore } from '../postgres/pg-store.js';
import { dropFreshPostgres, freshPostgres, onPostgres } from '../../../test/helpers/store-backend.js';

let store: SqliteStore;
let memories: MemoryStore;
/** A second store on the same tables with a thesaurus (offline paraphrase recall), for either backend. */
let withThesaurus: (thesaurus: Thesaurus) => MemoryStore;

// On PostgreSQL (src/adapters/postgres/pg-memory-store.test.ts imports this file) `memories` is the
// PostgreSQL store; tests that reach into the SQLite connection stay SQLite-only.
beforeEach(async () => {
  store = SqliteStore.open(':memory:');
  if (onPostgres()) {
    const database = await freshPostgres();
    await new PostgresStore(database).seedPersonas(loadPersonaFiles(shippedPersonasDir()), 0);
    memories = new PostgresMemoryStore(database);
    withThesaurus = (thesaurus) => new PostgresMemoryStore(database, { thesaurus });
  } else {
    await store.seedPersonas(loadPersonaFiles(shippedPersonasDir()), 0);
    memories = new SqliteMemoryStore(store.database);
    withThesaurus = (thesaurus) => new SqliteMemoryStore(store.database, ':memory:', { thesaurus });
  }
});
afterEach(async () => {
  await store.close();
  if (onPostgres()) await dropFreshPostgres();
});

const base = { kind: 'observation' as const, importance: 0.5, importanceSource: 'client' as const };

describe.skipIf(onPostgres())('toFtsQuery', () => {
  it('quotes content words (no FTS5 operators get through) and drops stopwords', () => {
    expect(toFtsQuery('What does the user NEAR "love"* OR hate?')).toBe('"near" OR "love" OR "hate"');
    expect(toFtsQuery('the user said')).toBeNull();
  });

  it('leaves out words the caller finds too common, unless nothing else is left', () => {
    const isCommon = (word: string) => word === 'sing';
    expect(toFtsQuery('sing ballads', isCommon)).toBe('"ballads"');
    expect(toFtsQuery('sing', isCommon)).toBe('"sing"');
  });
});

describe.skipIf(onPostgres())('rankTextCandidates', () => {
  it("ranks a memory by its texts as they are now, whatever it was ranked by before (the stems are kept per text, not per id)", () => {
    const terms = { own: new Map([['bee', 1]]), expansion: new Map<string, number>(), literal: new Map([['bee', 1]]) };
    const rank = (content: string, recall_terms: string) => rankTextCandidates(terms, [{ id: 7, content, recall_terms }], new Map([[7, 1]]), 1)[0]!;
    expect(rank('The user keeps a bee.', '').relevance).toBe(1);
    expect(rank('The user keeps a cat.', '').relevance).toBe(0);
    expect(rank('The user keeps a cat.', 'bee').relevance).toBeCloseTo(RECALL_TERMS_WEIGHT);
    expect(rank('The user keeps a bee.', '')).toMatchObject({ relevance: 1, literal: 1 });
  });
});

describe.skipIf(onPostgres())('ftsRowCount', () => {
  it('reads SQLite varints: one byte, several, none', () => {
    expect(ftsRowCount(undefined)).toBe(0);
    expect(ftsRowCount(Uint8Array.from([5, 0x10]))).toBe(5);
    expect(ftsRowCount(Uint8Array.from([0x86, 0x8d, 0x20, 0xdb]))).toBe(100_000);
  });

  it("is the memory count, as FTS5 keeps it through inserts and deletes (what the IDF's N is read from)", async () => {
    const count = () => ftsRowCount(store.database.prepare('SELECT block FROM memories_fts_data WHERE id = 1').pluck().get() as Buffer | undefined);
    const ids: number[] = [];
    for (let i = 0; i < 130; i++)
      ids.push((await memories.insert({ ...base, personaId: 'aria', content: `memory number ${i}`, visibility: 'private' }, [], 1)).id);
    expect(count()).toBe(130);
    await memories.delete(ids.slice(0, 7));
    expect(count()).toBe(123);
    expect(count()).toBe(store.database.prepare('SELECT count(*) FROM memories').pluck().get());
  });
});

describe.skipIf(onPostgres())('estimatedDocuments', () => {
  it('counts a word with fewer matches than the sample exactly, and a common one from the ids its newest matches span', () => {
    expect(estimatedDocuments({ matches: 0, oldest: null }, 1_000_000)).toBe(0);
    expect(estimatedDocuments({ matches: 1_234, oldest: 17 }, 1_000_000)).toBe(1_234);
    // The newest 2 000 matches span the newest 4 000 ids: the word is in half the memories.
    expect(estimatedDocuments({ matches: DOCUMENT_COUNT_SAMPLE, oldest: 996_001 }, 1_000_000)).toBe(500_000);
    // They span every id: the word is in 2 000 memories.
    expect(estimatedDocuments({ matches: DOCUMENT_COUNT_SAMPLE, oldest: 1 }, 1_000_000)).toBe(2_000);
  });
});

describe('SqliteMemoryStore', () => {
  it.skipIf(onPostgres())('round-trips vectors through BLOBs', () => {
    const vector = Float32Array.from([0.5, -0.25, 1]);
    expect(blobToVector(vectorToBlob(vector))).toEqual(vector);
  });

  it("reads ranking's columns of the candidates it is given, and nothing for ids that are gone", async () => {
    const kept = await memories.insert({ ...base, personaId: 'aria', content: 'a kept memory', importance: 0.7, visibility: 'private' }, [], 1_000);
    const gone = await memories.insert({ ...base, personaId: 'aria', content: 'a deleted memory', visibility: 'private' }, [], 2_000);
    await memories.delete([gone.id]);
    await memories.recordAccess([kept.id], 5_000);
    expect(await memories.rankingFacts([gone.id, kept.id])).toEqual([{ id: kept.id, importance: 0.7, lastAccessedAt: 5_000 }]);
    expect(await memories.rankingFacts([])).toEqual([]);
  });

  it.skipIf(onPostgres())('counts recalls in every read at once and writes them with the next write, or when flushed', async () => {
    const sqlite = memories as SqliteMemoryStore;
    const memory = await sqlite.insert({ ...base, personaId: 'aria', kind: 'user_fact', content: 'the user keeps bees', visibility: 'private' }, [], 1_000);
    const stored = store.database.prepare<[number], { at: number; count: number }>('SELECT last_accessed_at AS at, access_count AS count FROM memories WHERE id = ?');
    await sqlite.recordAccess([memory.id], 5_000);
    await sqlite.recordAccess([memory.id], 6_000);
    expect(stored.get(memory.id)).toEqual({ at: 1_000, count: 0 });
    expect(await sqlite.get(memory.id)).toMatchObject({ lastAccessedAt: 6_000, accessCount: 2 });
    expect((await sqlite.getMany([memory.id]))[0]).toMatchObject({ lastAccessedAt: 6_000, accessCount: 2 });
    expect((await sqlite.userFacts('aria', null, 5))[0]).toMatchObject({ lastAccessedAt: 6_000, accessCount: 2 });
    expect((await sqlite.list({ personaId: 'aria', limit: 5, offset: 0 })).memories[0]).toMatchObject({ lastAccessedAt: 6_000, accessCount: 2 });
    expect(await sqlite.pruneCandidates('aria')).toEqual([{ id: memory.id, importance: 0.5, lastAccessedAt: 6_000 }]);
    // The next write commits them first, once.
    await sqlite.insert({ ...base, personaId: 'aria', content: 'another memory', visibility: 'private' }, [], 7_000);
    expect(stored.get(memory.id)).toEqual({ at: 6_000, count: 2 });
    expect(await sqlite.get(memory.id)).toMatchObject({ lastAccessedAt: 6_000, accessCount: 2 });
    await sqlite.recordAccess([memory.id], 8_000);
    await sqlite.flushAccess();
    expect(stored.get(memory.id)).toEqual({ at: 8_000, count: 3 });
  });

  it.skipIf(onPostgres())("leaves fresh recalls out of a formation's write (the timer or a later write takes them) and takes along those that waited", async () => {
    const sqlite = memories as SqliteMemoryStore;
    const memory = await sqlite.insert({ ...base, personaId: 'aria', kind: 'user_fact', content: 'the user keeps bees', visibility: 'private' }, [], 1_000);
    const stored = store.database.prepare<[number], { at: number; count: number }>('SELECT last_accessed_at AS at, access_count AS count FROM memories WHERE id = ?');
    const formed = (messageId: number) => ({ memory: { ...base, personaId: 'aria', content: `formed from ${messageId}`, visibility: 'private' as const }, vectors: [] });
    vi.useFakeTimers({ toFake: ['performance'] });
    try {
      await sqlite.recordAccess([memory.id], 5_000);
      await sqlite.replaceFormed(1, [formed(1)], 5_100);
      expect(stored.get(memory.id)).toEqual({ at: 1_000, count: 0 });
      expect(await sqlite.get(memory.id)).toMatchObject({ lastAccessedAt: 5_000, accessCount: 1 });
      await sqlite.recordAccess([memory.id], 5_200);
      await sqlite.replaceFormedMany([{ messageId: 2, memories: [formed(2)] }], 5_300);
      expect(stored.get(memory.id)).toEqual({ at: 1_000, count: 0 });
      vi.advanceTimersByTime(600);
      await sqlite.replaceFormed(3, [formed(3)], 5_400);
      expect(stored.get(memory.id)).toEqual({ at: 5_200, count: 2 });
      expect(await sqlite.get(memory.id)).toMatchObject({ lastAccessedAt: 5_200, accessCount: 2 });
    } finally {
      vi.useRealTimers();
    }
  });

  it.skipIf(onPostgres())("reads a turn's facts block and summary along their indexes, without a sort or a table scan", () => {
    const plan = (sql: string): string =>
      store.database
        .prepare<[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`)
        .all()
        .map((row) => row.detail)
        .join('; ');
    const facts = plan(
      "SELECT id FROM memories m WHERE m.persona_id = 'aria' AND m.kind = 'user_fact' AND m.user_id IS NULL ORDER BY m.importance DESC, m.created_at DESC, m.id DESC LIMIT 5",
    );
    expect(facts).toContain('memories_user_facts');
    expect(facts).not.toContain('TEMP B-TREE');
    expect(plan("SELECT id FROM memories m WHERE m.conversation_id = 'c' AND m.kind = 'summary' ORDER BY m.id DESC LIMIT 1")).toContain('memories_summaries');
  });

  it('keeps the text index in step with inserts, edits and deletes', async () => {
    const memory = await memories.insert({ ...base, personaId: 'aria', content: 'apples in the orchard', visibility: 'private' }, [], 1);
    const scope = { viewerId: 'aria' };
    expect((await memories.fullTextSearch('orchard', scope, 5)).map((hit) => hit.id)).toEqual([memory.id]);
    await memories.update(memory.id, { content: 'pears by the river' }, null, 2);
    expect(await memories.fullTextSearch('orchard', scope, 5)).toEqual([]);
    expect((await memories.fullTextSearch('pears', scope, 5)).map((hit) => hit.id)).toEqual([memory.id]);
    await memories.delete([memory.id]);
    expect(await memories.fullTextSearch('pears', scope, 5)).toEqual([]);
  });

  it('applies visibility in full-text and vector search alike', async () => {
    const vector = Float32Array.from([1, 0, 0, 0]);
    const v = (embedder = 'e') => [{ embedder, vector }];
    const own = await memories.insert({ ...base, personaId: 'kira', content: 'lantern', visibility: 'private' }, v(), 1);
    const secret = await memories.insert({ ...base, personaId: 'aria', content: 'lantern', visibility: 'private' }, v(), 1);
    const shared = await memories.insert(
      { ...base, personaId: 'aria', content: 'lantern', visibility: 'shared', sharedWith: ['kira'] },
      v(),
      1,
    );
    const grouped = await memories.insert(
      { ...base, personaId: 'aria', content: 'lantern', visibility: 'shared', sharedGroups: ['guild'] },
      v(),
      1,
    );
    const open = await memories.insert({ ...base, personaId: 'aria', content: 'lantern', visibility: 'public' }, v(), 1);
    await memories.setGroup('guild', ['kira']);
    const all = { viewerId: 'kira', includeShared: true, includePublic: true };
    const sorted = (hits: Array<{ id: number }>) => hits.map((hit) => hit.id).sort((a, b) => a - b);
    const expected = [own.id, shared.id, grouped.id, open.id];
    expect(sorted(await memories.fullTextSearch('lantern', all, 10))).toEqual(expected);
    expect(sorted(await memories.vectorSearch('e', vector, all, 10))).toEqual(expected);
    expect(sorted(await memories.vectorSearch('e', vector, { viewerId: 'kira' }, 10))).toEqual([own.id]);
    expect(sorted(await memories.vectorSearch('e', vector, { viewerId: 'kira', includePublic: true }, 10))).toEqual([own.id, open.id]);
    expect(await memories.visibleTo('kira', [(await memories.get(secret.id))!])).toEqual([false]);
    // Vectors of another embedder are a separate space.
    expect(await memories.vectorSearch('other', vector, all, 10)).toEqual([]);
  });

  it.skipIf(onPostgres())('drops a term found in more than 10% of the memories from the full-text query (matched by stem)', async () => {
    store.database.transaction(() => {
      for (let i = 0; i < 1_200; i++)
        void memories.insert({ ...base, personaId: 'aria', content: `singing note ${i}`, visibility: 'private' }, [], 1);
    })();
    const rare = await memories.insert({ ...base, personaId: 'aria', content: 'singing ballads', visibility: 'private' }, [], 1);
    const hits = await memories.fullTextSearch('sings ballads', { viewerId: 'aria' }, 50);
    expect(hits.map((hit) => hit.id)).toEqual([rare.id]);
    expect(await memories.fullTextSearch('sings', { viewerId: 'aria' }, 5)).toHaveLength(5);
  });

  it.skipIf(onPostgres())('answers a query made only of common words with the newest memories holding all of them, then any', async () => {
    const both: number[] = [];
    const insertBoth = async (): Promise<void> => {
      both.push((await memories.insert({ ...base, personaId: 'aria', content: 'apples and pears together', visibility: 'private' }, [], 1)).id);
    };
    await insertBoth();
    store.database.transaction(() => {
      for (let i = 0; i < 1_200; i++)
        void memories.insert({ ...base, personaId: 'aria', content: i % 2 === 0 ? `apple note ${i}` : `pear note ${i}`, visibility: 'private' }, [], 1);
    })();
    for (let i = 0; i < 3; i++) await insertBoth();
    // Kira's memory holds both words too: another persona's private memory is never a candidate.
    await memories.insert({ ...base, personaId: 'kira', content: 'apple pear', visibility: 'private' }, [], 1);
    const hits = await memories.fullTextSearch('apple pear', { viewerId: 'aria' }, 6);
    expect(hits).toHaveLength(6);
    // All four memories holding both words (coverage 1), newest first; then the newest holding one.
    expect(hits.slice(0, 4).map((hit) => hit.id)).toEqual([...both].reverse());
    expect(hits.slice(0, 4).every((hit) => hit.relevance! > 0.99)).toBe(true);
    expect(hits[4]!.relevance!).toBeLessThan(0.8);
  });

  it('hands back each memory it writes exactly as a read of it gives it (labels, restatements, shares, odd text)', async () => {
    const written = [
      await memories.insert({ ...base, personaId: 'aria', content: 'plain', visibility: 'private', userId: 'u1', sessionId: 's1', conversationId: 'c1', messageId: 4 }, [], 1_000),
      await memories.insert({ ...base, personaId: 'aria', content: 'labelled', label: 'location', importance: 0.1 + 0.2, visibility: 'public' }, [], 1_001),
      await memories.insert({ ...base, personaId: 'aria', content: 'same label', label: 'observation', visibility: 'private' }, [], 1_002),
      await memories.insert({ ...base, personaId: 'aria', content: 'shared', visibility: 'shared', sharedWith: ['kira'], sharedGroups: ['guild'] }, [], 1_003),
      await memories.insert({ ...base, personaId: 'aria', content: 'a lone \ud800 surrogate', label: 'odd \udc00', visibility: 'private' }, [], 1_004),
      ...(await memories.replaceFormed(9, [{ memory: { ...base, personaId: 'aria', kind: 'user_fact', content: 'formed 🐝', doc2query: 'Fact: bees. Q: what?', importanceSource: 'llm', visibility: 'private' }, vectors: [] }], 1_005)),
    ];
    for (const memory of written) expect(memory).toEqual(await memories.get(memory.id));
  });

  it('replaces what a message formed instead of adding to it', async () => {
    const one = { memory: { ...base, personaId: 'aria', content: 'first', visibility: 'private' as const }, vectors: [] };
    await memories.replaceFormed(7, [one, one], 1);
    await memories.replaceFormed(7, [one], 2);
    expect((await memories.list({ personaId: 'aria', limit: 10, offset: 0 })).total).toBe(1);
  });

  it.skipIf(onPostgres())('keeps each vector in its row: 256-d and 768-d vectors need no overflow page (0046)', async () => {
    // A WITHOUT ROWID table (0003) holds ~1,000 bytes in a leaf cell: each such vector took an overflow
    // page of its own, one more page written per vector (bench/README.md, round 10, vecsearch).
    const vector = (dims: number): Float32Array => Float32Array.from({ length: dims }, (_, i) => (i === 0 ? 1 : 0));
    for (let i = 0; i < 4; i++)
      await memories.insert({ ...base, personaId: 'kira', content: `fact ${i}`, visibility: 'private' }, [
        { embedder: 'offline', vector: vector(256) },
        { embedder: 'remote', vector: vector(768) },
      ], 1);
    const pages = store.database.prepare("SELECT pagetype FROM dbstat WHERE name = 'memory_vectors'").pluck().all();
    expect(pages.length).toBeGreaterThan(0);
    expect(pages).not.toContain('overflow');
    expect(store.database.prepare('SELECT count(*) FROM memory_vectors').pluck().get()).toBe(8);
  });

  it.skipIf(onPostgres())('drops memories and vectors with their persona', async () => {
    await memories.insert(
      { ...base, personaId: 'kira', content: 'x', visibility: 'private' },
      [{ embedder: 'e', vector: Float32Array.from([1, 0]) }],
      1,
    );
    await store.deletePersona('kira', 2);
    expect(await memories.countFor('kira')).toBe(0);
    expect(store.database.prepare('SELECT count(*) FROM memory_vectors').pluck().get()).toBe(0);
  });
});

// Both stores search the recall terms (SQLite: a second FTS5 column; PostgreSQL: a weighted tsvector).
describe('recall terms (WordNet expansion)', () => {
  const thesaurus = parseThesaurus('canada\tcountry nation\nviolin\tfiddle instrument', 'test-1');

  it('measures relevance as the share of the query covered, own words counting more than recall terms', async () => {
    const expanded = withThesaurus(thesaurus);
    const canada = await expanded.insert({ ...base, personaId: 'aria', content: 'I moved here from Canada', visibility: 'private' }, [], 1);
    await expanded.insert({ ...base, personaId: 'aria', content: 'I play the violin', visibility: 'private' }, [], 1);
    const [byWord] = await expanded.fullTextSearch('Canada', { viewerId: 'aria' }, 5);
    expect(byWord).toMatchObject({ id: canada.id, relevance: 1 });
    const [byTerm] = await expanded.fullTextSearch('country', { viewerId: 'aria' }, 5);
    expect(byTerm).toMatchObject({ id: canada.id, relevance: RECALL_TERMS_WEIGHT });
    expect(await expanded.fullTextSearch('zebra', { viewerId: 'aria' }, 5)).toEqual([]);
  });

  it('brings memories stored before the thesaurus up to date in pages (the memory.expand backfill)', async () => {
    const before = await memories.insert({ ...base, personaId: 'aria', content: 'I moved here from Canada', visibility: 'private' }, [], 1);
    const other = await memories.insert({ ...base, personaId: 'aria', content: 'I play the violin', visibility: 'private' }, [], 1);
    const expanded = withThesaurus(thesaurus);
    expect(await expanded.fullTextSearch('nation', { viewerId: 'aria' }, 5)).toEqual([]);
    expect(await expanded.expandStale(0, 1)).toEqual({ lastId: before.id, expanded: 1 });
    expect(await expanded.expandStale(before.id, 1)).toEqual({ lastId: other.id, expanded: 1 });
    expect(await expanded.expandStale(other.id, 1)).toBeNull();
    expect(await expanded.expandStale(0, 10)).toBeNull(); // all current now
    expect((await expanded.fullTextSearch('nation', { viewerId: 'aria' }, 5)).map((hit) => hit.id)).toEqual([before.id]);
    // The canonical fact and questions join the recall terms.
    expect(await expanded.setDoc2Query(other.id, 'The user is a musician. What does the user do in the orchestra?')).toBe(true);
    expect((await expanded.fullTextSearch('orchestra musician', { viewerId: 'aria' }, 5)).map((hit) => hit.id)).toEqual([other.id]);
    expect(await expanded.setDoc2Query(999_999, 'gone')).toBe(false);
    // A row arriving later with old terms (an import): a start scans only past the recorded id, and finds it.
    const imported = await memories.insert({ ...base, personaId: 'aria', content: 'Canada again', visibility: 'private' }, [], 1);
    expect(await expanded.expandStale(0, 10)).toEqual({ lastId: imported.id, expanded: 1 });
  });
});
