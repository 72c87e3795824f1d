import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadWordnetThesaurus } from '../embedders/wordnet-thesaurus.js';
import { loadPersonaFiles, shippedPersonasDir } from '../persona-files.js';
import { RECALL_TERMS_WEIGHT, type Thesaurus } from '../../domain/memory/expansion.js';
import { contentWords } from '../../domain/memory/text.js';
import type { NewMemory } from '../../domain/memory/memory.js';
import type { MemoryScope } from '../../ports/memory.js';
import { openDatabase } from './database.js';
import { FullTextMirror, ftsAverages, MIRRORED_STORE_MAX } from './full-text-mirror.js';
import { SqliteMemoryStore } from './memory-store.js';
import { SqliteStore } from './sqlite-store.js';

// The chat bench's sentences (every message repeats two of them: many memories with equal BM25 ranks),
// facts with doc2query text, and texts FTS5 tokenizes beyond ASCII.
const CHAT = [
  'I walked down to the harbour this morning and the fog was thick enough to lose a boat in.',
  'The library in the old quarter has a map that shows a river nobody can find any more.',
  'My sister says the market is louder on festival days, but I think it is only the drums.',
  'There is a theory that the stars over the northern pass are arranged like a poem.',
];
const FACTS = [
  'I drive an old green Volvo.',
  'My daughter Ana plays the cello in a youth orchestra.',
  'I am allergic to peanuts and shellfish.',
  'We moved to Lisbon in June after my wife found a job there.',
  'I broke my wrist last winter when I slipped on the ice.',
  'I speak fluent Japanese and a little Korean.',
  'Je suis allé au café à Zürich avec Jürgen.',
  'Ich wohne in Köln, nahe dem Dom.',
  'Мой брат живёт в Москве.',
  'I collect antique maps and old compasses (note 12).',
];
const QUERIES = [
  ...CHAT,
  ...FACTS,
  'What car do I own?',
  'Where does my family live now?',
  'Which instrument does my child play?',
  'what food should I avoid',
  'fog harbour boat',
  'river map library note 12',
  'Zürich café',
  'Москве',
  'a question about nothing stored here',
  'festival drums market sister louder days think',
];
const SCOPES: MemoryScope[] = [
  // A chat turn's recall: the persona's memories of the session's user, shared and public ones too.
  { viewerId: 'aria', userId: null, includeShared: true, includePublic: true },
  { viewerId: 'aria', userId: 'user-2', includeShared: true, includePublic: true },
  { viewerId: 'kira', includeShared: true, includePublic: false },
  { viewerId: 'aria', userId: null, includeShared: true, includePublic: true, minImportance: 0.6 },
  { viewerId: null },
];

let store: SqliteStore;
let thesaurus: Thesaurus;
let mirrored: SqliteMemoryStore;

beforeEach(async () => {
  store = SqliteStore.open(':memory:');
  await store.seedPersonas(loadPersonaFiles(shippedPersonasDir()), 0);
  thesaurus = loadWordnetThesaurus();
  mirrored = new SqliteMemoryStore(store.database, ':memory:', { thesaurus });
});
afterEach(async () => {
  await store.close();
});

function memory(content: string, index: number): NewMemory {
  return {
    personaId: index % 7 === 3 ? 'kira' : 'aria',
    kind: 'observation',
    content: `The user said: ${content}`,
    importance: (index % 10) / 10,
    importanceSource: 'client',
    visibility: index % 7 === 3 ? (index % 2 === 0 ? 'public' : 'shared') : 'private',
    sharedWith: index % 7 === 3 && index % 2 === 1 ? ['aria'] : [],
    userId: index % 5 === 4 ? 'user-2' : null,
    doc2query: index % 3 === 0 ? `${content} What about ${contentWords(content).slice(0, 2).join(' and ')}?` : null,
  };
}

async function fill(target: SqliteMemoryStore, count: number, from = 0): Promise<number[]> {
  const ids: number[] = [];
  for (let index = from; index < from + count; index++) {
    const text = index % 3 === 2 ? FACTS[index % FACTS.length]! : `bench-${index}: ${CHAT[index % CHAT.length]!} ${CHAT[(index * 7 + 3) % CHAT.length]!}`;
    ids.push((await target.insert(memory(text, index), [], 1_000 + index)).id);
  }
  return ids;
}

/** Every query in every scope (or the first `scopes`): the mirrored store answers exactly what FTS5 answers. */
async function expectSameAsFts5(scopes = SCOPES.length, limits = [5, 50]): Promise<void> {
  // A new store object each time: its own cached document counts start empty.
  const plain = new SqliteMemoryStore(store.database, ':memory:', { thesaurus, fullTextMirror: false });
  for (const scope of SCOPES.slice(0, scopes))
    for (const query of QUERIES)
      for (const limit of limits) expect(await mirrored.fullTextSearch(query, scope, limit), `${query} ${JSON.stringify(scope)} ${limit}`).toEqual(await plain.fullTextSearch(query, scope, limit));
}

describe('the full-text mirror', () => {
  it('ranks as FTS5 ranks: the same BM25 and the same order, ties newest first', async () => {
    await fill(mirrored, 120);
    const building = new FullTextMirror(store.database, RECALL_TERMS_WEIGHT);
    // 120 memories are read in steps: FTS5 answers until the mirror is whole.
    expect(building.current()).toBeNull();
    await building.whenBuilt();
    const mirror = building.current()!;
    expect(mirror).not.toBeNull();
    const fts5 = store.database.prepare(
      `SELECT rowid AS id, rank FROM memories_fts WHERE memories_fts MATCH ? AND rank MATCH 'bm25(1.0, ${RECALL_TERMS_WEIGHT})' ORDER BY rowid DESC`,
    );
    for (const query of QUERIES) {
      const words = [...new Set(contentWords(query))].filter((word) => /^[a-z0-9]+$/.test(word));
      if (words.length === 0) continue;
      const expected = (fts5.all(words.map((word) => `"${word}"`).join(' OR ')) as Array<{ id: number; rank: number }>).sort(
        (a, b) => a.rank - b.rank || b.id - a.id,
      );
      const matches = mirror.rank(words, 2_000)!;
      expect(matches.best(Infinity), query).toEqual(expected);
      // The best few, picked without sorting them all, are the first few of the whole order (ties too).
      for (const count of [0, 1, 5, 17, 50, expected.length - 1]) expect(matches.best(count), `${query} ${count}`).toEqual(expected.slice(0, Math.max(0, count)));
    }
    // Words FTS5 would fold or split are left to FTS5.
    expect(mirror.rank(['zürich'], 2_000)).toBeNull();
  });

  it('counts documents per column as fts5vocab does', async () => {
    await fill(mirrored, 60);
    const mirror = new FullTextMirror(store.database, RECALL_TERMS_WEIGHT).current()!;
    store.database.exec("CREATE VIRTUAL TABLE IF NOT EXISTS temp.check_columns USING fts5vocab(main, memories_fts, 'col')");
    const rows = store.database.prepare('SELECT term, col, doc FROM temp.check_columns').all() as Array<{ term: string; col: string; doc: number }>;
    expect(rows.length).toBeGreaterThan(100);
    for (const row of rows) expect(mirror.documents(row.term)[row.col === 'content' ? 'content' : 'recallTerms'], row.term).toBe(row.doc);
    const [count, contentTokens, recallTokens] = ftsAverages(store.database.prepare('SELECT block FROM memories_fts_data WHERE id = 1').pluck().get() as Buffer);
    expect(count).toBe(60);
    expect(contentTokens).toBeGreaterThan(0);
    expect(recallTokens).toBeGreaterThan(0);
  });

  it('finds what FTS5 finds, in every scope, and follows every kind of write', async () => {
    const ids = await fill(mirrored, 90);
    await expectSameAsFts5();
    // Writes through this store: new memories, an edit, doc2query, deletions, a formation replaced.
    await fill(mirrored, 10, 90);
    await mirrored.update(ids[4]!, { content: 'The user said: I sold the Volvo and bought a red bicycle.' }, null, 5_000);
    await mirrored.setDoc2Query(ids[5]!, 'What does the user drive? A cello, apparently.');
    await mirrored.delete([ids[0]!, ids[1]!, ids[2]!]);
    await mirrored.replaceFormed(77, [{ memory: memory('I keep bees on the roof of the library.', 1), vectors: [] }], 6_000);
    await expectSameAsFts5(3, [50]);
    // Another store object on the same connection (it reports its writes to the same mirror).
    const other = new SqliteMemoryStore(store.database, ':memory:', { thesaurus, fullTextMirror: false });
    await other.insert(memory('The harbour fog lifted by noon and the boat was found.', 2), [], 7_000);
    await other.setDoc2Query(ids[6]!, 'Where is the old map kept?');
    await expectSameAsFts5(3, [50]);
    // A write no store reports: a persona deleted with its memories (the cascade), an edit in plain SQL.
    store.database.prepare("DELETE FROM personas WHERE id = 'kira'").run();
    await expectSameAsFts5(3, [50]);
    store.database.prepare('UPDATE memories SET recall_terms = ? WHERE id = ?').run('boat harbour fog fog fog', ids[7]!);
    await expectSameAsFts5(3, [50]);
  }, 60_000);

  it('reads again a memory its store wrote when another connection changed it before the mirror followed', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'persona-mirror-'));
    const file = path.join(dir, 'memories.db');
    const onFile = SqliteStore.open(file);
    try {
      await onFile.seedPersonas(loadPersonaFiles(shippedPersonasDir()), 0);
      const writer = new SqliteMemoryStore(onFile.database, file, { thesaurus });
      await fill(writer, 20);
      await writer.fullTextSearch('harbour', SCOPES[0]!, 5); // the mirror built and in step
      const { id } = await writer.insert(memory('The fog over the harbour lifted.', 1), [], 9_000);
      // Before the mirror follows the insert (a stretch of its own, after this one), another connection
      // rewrites the memory with as many words: the texts the store handed over are no longer the row's.
      const other = openDatabase(file);
      other.prepare('UPDATE memories SET content = ? WHERE id = ?').run('The user said: The sun over the library lifted.', id);
      other.close();
      const plain = new SqliteMemoryStore(onFile.database, file, { thesaurus, fullTextMirror: false });
      for (const query of ['fog harbour', 'sun library'])
        expect(await writer.fullTextSearch(query, SCOPES[0]!, 50), query).toEqual(await plain.fullTextSearch(query, SCOPES[0]!, 50));
    } finally {
      await onFile.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leaves a store past MIRRORED_STORE_MAX memories to FTS5', async () => {
    const insert = store.database.prepare(
      "INSERT INTO memories (persona_id, kind, content, importance, importance_source, visibility, created_at, last_accessed_at, decayed_at, recall_terms) VALUES ('aria', 'observation', ?, 0.5, 'client', 'private', 0, 0, 0, '')",
    );
    const mirror = new FullTextMirror(store.database, RECALL_TERMS_WEIGHT);
    expect(mirror.current()).not.toBeNull();
    store.database.transaction(() => {
      for (let index = 0; index <= MIRRORED_STORE_MAX; index++) insert.run(`The user said: note ${index} about the harbour`);
    })();
    mirror.noteChanged([1, 2, 3]);
    expect(mirror.current()).toBeNull();
    expect(mirror.hasChanges).toBe(false); // nothing piles up while the store is too large
    store.database.prepare('DELETE FROM memories WHERE id <= 10').run();
    expect(mirror.current()).toBeNull(); // read in steps
    await mirror.whenBuilt();
    const fts5 = store.database
      .prepare(`SELECT rowid AS id, rank FROM memories_fts WHERE memories_fts MATCH '"harbour" OR "note"' AND rank MATCH 'bm25(1.0, ${RECALL_TERMS_WEIGHT})'`)
      .all() as Array<{ id: number; rank: number }>;
    expect(mirror.current()?.rank(['harbour', 'note'], 2_000)?.best(Infinity)).toEqual(fts5.sort((a, b) => a.rank - b.rank || b.id - a.id));
  });
});
