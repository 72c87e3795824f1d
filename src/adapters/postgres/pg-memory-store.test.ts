/**
 * The memory store contract on PostgreSQL: the SQLite adapter's tests (`../sqlite/memory-store.test.ts`)
 * run unchanged on a PostgreSQL schema, plus what several nodes sharing one database need.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { dropFreshPostgres, freshPostgres, postgresAvailable, selectBackend } from '../../../test/helpers/store-backend.js';
import { loadPersonaFiles, shippedPersonasDir } from '../persona-files.js';
import { PostgresMemoryStore, toTsQuery } from './pg-memory-store.js';
import { PostgresStore } from './pg-store.js';

const available = await postgresAvailable();
selectBackend('postgres');
if (available.ok) await import('../sqlite/memory-store.test.js');

const base = { kind: 'observation' as const, importance: 0.5, importanceSource: 'client' as const, visibility: 'private' as const };

describe('toTsQuery', () => {
  it('keeps letters and digits of content words only (no tsquery operator gets through), any may match', () => {
    expect(toTsQuery("What does the user NEAR 'love':* | !hate & <->?")).toBe('near | love | hate');
    expect(toTsQuery('the user said')).toBeNull();
    expect(toTsQuery('sing ballads', (word) => word === 'sing')).toBe('ballads');
  });
});

describe.skipIf(!available.ok)('PostgresMemoryStore on a shared server', () => {
  afterEach(async () => {
    await dropFreshPostgres();
  });

  async function twoNodes(): Promise<{ a: PostgresMemoryStore; b: PostgresMemoryStore }> {
    const database = await freshPostgres();
    await new PostgresStore(database).seedPersonas(loadPersonaFiles(shippedPersonasDir()), 0);
    return { a: new PostgresMemoryStore(database), b: new PostgresMemoryStore(await freshPostgres()) };
  }

  it('finds in node A the vectors node B wrote, changed and deleted after A loaded its index', async () => {
    const { a, b } = await twoNodes();
    const east = Float32Array.from([1, 0, 0, 0]);
    const north = Float32Array.from([0, 1, 0, 0]);
    const scope = { viewerId: 'aria' };
    await a.warmUp(['e']);
    expect(await a.vectorSearch('e', east, scope, 5)).toEqual([]);
    const written = await b.insert({ ...base, personaId: 'aria', content: 'lantern' }, [{ embedder: 'e', vector: east }], 1);
    expect((await a.vectorSearch('e', east, scope, 5)).map((hit) => hit.id)).toEqual([written.id]);
    await b.update(written.id, {}, [{ embedder: 'e', vector: north }], 2);
    const [hit] = await a.vectorSearch('e', north, scope, 5);
    expect(hit).toMatchObject({ id: written.id });
    expect(hit!.score).toBeCloseTo(1, 5);
    await b.delete([written.id]);
    expect(await a.vectorSearch('e', north, scope, 5)).toEqual([]);
  });

  it('drops a word found in more than 10% of the memories from the full-text query', async () => {
    const database = await freshPostgres();
    await new PostgresStore(database).seedPersonas(loadPersonaFiles(shippedPersonasDir()), 0);
    await database.query(
      `INSERT INTO memories (persona_id, kind, content, importance, importance_source, visibility, created_at, last_accessed_at, decayed_at)
       SELECT 'aria', 'observation', 'singing note ' || i, 0.5, 'client', 'private', 1, 1, 1 FROM generate_series(1, 1200) AS i`,
    );
    const memories = new PostgresMemoryStore(database);
    const rare = await memories.insert({ ...base, personaId: 'aria', content: 'singing ballads' }, [], 1);
    expect((await memories.fullTextSearch('sings ballads', { viewerId: 'aria' }, 50)).map((hit) => hit.id)).toEqual([rare.id]);
    expect(await memories.fullTextSearch('sings', { viewerId: 'aria' }, 5)).toHaveLength(5);
  });

  it('drops memories and vectors with their persona', async () => {
    const database = await freshPostgres();
    const store = new PostgresStore(database);
    await store.seedPersonas(loadPersonaFiles(shippedPersonasDir()), 0);
    const memories = new PostgresMemoryStore(database);
    await memories.insert({ ...base, personaId: 'kira', content: 'x' }, [{ embedder: 'e', vector: Float32Array.from([1, 0]) }], 1);
    await store.deletePersona('kira', 2);
    expect(await memories.countFor('kira')).toBe(0);
    expect((await database.one<{ n: number }>('SELECT count(*) AS n FROM memory_vectors'))!.n).toBe(0);
  });
});
