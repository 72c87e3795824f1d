/**
 * Two connections to one data file (a server and `persona-mcp mcp` on the same data directory): each
 * one's vector index sees the vectors the other writes and removes (migration 0047's change log).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadPersonaFiles, shippedPersonasDir } from '../persona-files.js';
import { SqliteMemoryStore } from './memory-store.js';
import { SqliteStore } from './sqlite-store.js';

let dir: string;
let server: SqliteStore;
let tool: SqliteStore;

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-follow-'));
  const file = path.join(dir, 'persona.db');
  server = SqliteStore.open(file);
  await server.seedPersonas(loadPersonaFiles(shippedPersonasDir()), 0);
  tool = SqliteStore.open(file);
});
afterEach(async () => {
  await tool.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const base = { kind: 'observation' as const, importance: 0.5, importanceSource: 'client' as const, visibility: 'private' as const };
const unit = (at: number): Float32Array => Float32Array.from({ length: 8 }, (_, i) => (i === at ? 1 : 0));
const ids = (hits: Array<{ id: number }>): number[] => hits.map((hit) => hit.id);

describe('SqliteMemoryStore on two connections', () => {
  it('finds by vector the memories another connection stores, follows its re-embedding, and drops what it deletes', async () => {
    const served = new SqliteMemoryStore(server.database);
    const written = new SqliteMemoryStore(tool.database);
    const first = await served.insert(
      { ...base, personaId: 'aria', content: 'the lighthouse keeper' },
      [{ embedder: 'e', vector: unit(0) }],
      1,
    );
    // The server's index is loaded (its first search) before the other connection writes.
    expect(ids(await served.vectorSearch('e', unit(0), { viewerId: 'aria' }, 5))).toEqual([first.id]);

    const other = await written.insert(
      { ...base, personaId: 'aria', content: 'the harbour bells' },
      [{ embedder: 'e', vector: unit(1) }],
      2,
    );
    expect(ids(await served.vectorSearch('e', unit(1), { viewerId: 'aria' }, 1))).toEqual([other.id]);

    // Re-embedded elsewhere: the server ranks it by its new vector.
    await written.setVector(other.id, { embedder: 'e', vector: unit(2) });
    expect(ids(await served.vectorSearch('e', unit(2), { viewerId: 'aria' }, 1))).toEqual([other.id]);

    await written.delete([other.id]);
    expect(ids(await served.vectorSearch('e', unit(2), { viewerId: 'aria' }, 5))).toEqual([first.id]);
  });

  it('reads its index again when the change log was pruned past what it saw', async () => {
    const served = new SqliteMemoryStore(server.database);
    const written = new SqliteMemoryStore(tool.database);
    const first = await served.insert({ ...base, personaId: 'kira', content: 'the map room' }, [{ embedder: 'e', vector: unit(0) }], 1);
    expect(ids(await served.vectorSearch('e', unit(0), { viewerId: 'kira' }, 5))).toEqual([first.id]);
    const other = await written.insert({ ...base, personaId: 'kira', content: 'the star chart' }, [{ embedder: 'e', vector: unit(3) }], 2);
    await written.insert({ ...base, personaId: 'kira', content: 'the compass' }, [{ embedder: 'e', vector: unit(4) }], 3);
    // As another connection's pruning leaves it (the newest rows kept): changes this index never saw are gone.
    tool.database.prepare('DELETE FROM memory_vector_changes WHERE seq < (SELECT max(seq) FROM memory_vector_changes)').run();
    expect(ids(await served.vectorSearch('e', unit(3), { viewerId: 'kira' }, 1))).toEqual([other.id]);
  });

  it("counts a persona's memories as the table holds them, whoever changed them (kept counts follow the change log)", async () => {
    const served = new SqliteMemoryStore(server.database);
    const written = new SqliteMemoryStore(tool.database);
    const counted = server.database.prepare<[string], number>('SELECT count(*) FROM memories WHERE persona_id = ?').pluck();
    const expectCounts = async (): Promise<void> => {
      for (const persona of ['aria', 'kira']) expect(await served.countFor(persona)).toBe(counted.get(persona));
    };
    await expectCounts();
    const own = await served.insert({ ...base, personaId: 'aria', content: 'the lighthouse keeper' }, [], 1);
    await expectCounts();
    const moved = await written.insert({ ...base, personaId: 'aria', content: 'the harbour bells' }, [], 2);
    await written.insert({ ...base, personaId: 'kira', content: 'the map room' }, [], 3);
    await expectCounts();
    // Moved to another persona by another connection (logged as two text-or-owner changes).
    tool.database.prepare('UPDATE memories SET persona_id = ? WHERE id = ?').run('kira', moved.id);
    await expectCounts();
    await served.delete([own.id]);
    await expectCounts();
    // A delete in a transaction that rolls back: its log row's number goes to the next commit's row.
    const rolledBack = server.database.transaction(() => {
      server.database.prepare('DELETE FROM memories WHERE id = ?').run(moved.id);
      void served.countFor('kira');
      throw new Error('rolled back');
    });
    expect(() => rolledBack()).toThrow('rolled back');
    await written.insert({ ...base, personaId: 'kira', content: 'the star chart' }, [], 4);
    await expectCounts();
    // The log pruned past what the counts saw (as another connection's pruning leaves it: the newest row kept).
    await written.insert({ ...base, personaId: 'kira', content: 'the compass' }, [], 5);
    await written.insert({ ...base, personaId: 'aria', content: 'the tide tables' }, [], 6);
    tool.database.prepare('DELETE FROM memory_changes WHERE seq < (SELECT max(seq) FROM memory_changes)').run();
    await expectCounts();
  });
});
