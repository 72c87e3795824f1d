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
});
