/**
 * The memory store's reads kept between turns (memory-read-cache.ts) answer what SQLite would, whoever
 * wrote: the store itself, a cascade of another store on the same connection, or another connection.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadPersonaFiles, shippedPersonasDir } from '../persona-files.js';
import { openDatabase, type Database } from './database.js';
import { MemoryReadCache } from './memory-read-cache.js';
import { MEMORY_SELECT, toMemory, type MemoryRow } from './memory-statements.js';
import { SqliteMemoryStore } from './memory-store.js';
import { SqliteStore } from './sqlite-store.js';

let dir: string;
let store: SqliteStore;
let memories: SqliteMemoryStore;
const base = { importance: 0.5, importanceSource: 'client' as const, visibility: 'private' as const, userId: null };

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'memory-read-cache-'));
  store = SqliteStore.open(path.join(dir, 'db.sqlite'));
  await store.seedPersonas(loadPersonaFiles(shippedPersonasDir()), 0);
  memories = new SqliteMemoryStore(store.database);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** `work` with a read cache on a connection of its own: the only cache there (a store's would take the triggers' calls). */
async function withOwnCache(work: (db: Database, cache: MemoryReadCache) => Promise<void>): Promise<void> {
  const other = SqliteStore.open(path.join(dir, 'other.sqlite'));
  try {
    await other.seedPersonas(loadPersonaFiles(shippedPersonasDir()), 0);
    await work(other.database, new MemoryReadCache(other.database));
  } finally {
    await other.close();
  }
}

describe('memory reads kept between turns', () => {
  it("follow the store's own edits, shares and deletions", async () => {
    const memory = await memories.insert({ ...base, personaId: 'aria', kind: 'user_fact', content: 'the user keeps bees' }, [], 1_000);
    expect((await memories.getMany([memory.id]))[0]?.content).toBe('the user keeps bees');
    expect(await memories.rankingFacts([memory.id])).toEqual([{ id: memory.id, importance: 0.5, lastAccessedAt: 1_000 }]);
    expect((await memories.userFacts('aria', null, 5)).map((fact) => fact.content)).toEqual(['the user keeps bees']);

    await memories.update(memory.id, { content: 'the user keeps wasps', importance: 0.9, visibility: 'shared', sharedWith: ['kira'] }, null, 2_000);
    expect((await memories.getMany([memory.id]))[0]).toMatchObject({ content: 'the user keeps wasps', importance: 0.9, sharedWith: ['kira'] });
    expect(await memories.rankingFacts([memory.id])).toEqual([{ id: memory.id, importance: 0.9, lastAccessedAt: 1_000 }]);
    expect((await memories.userFacts('aria', null, 5))[0]).toMatchObject({ content: 'the user keeps wasps', sharedWith: ['kira'] });

    const second = await memories.insert({ ...base, personaId: 'aria', kind: 'user_fact', content: 'the user rides a bike', importance: 0.95 }, [], 3_000);
    expect((await memories.userFacts('aria', null, 5)).map((fact) => fact.id)).toEqual([second.id, memory.id]);
    await memories.delete([memory.id]);
    expect(await memories.getMany([memory.id, second.id])).toHaveLength(1);
    expect(await memories.rankingFacts([memory.id])).toEqual([]);
    expect((await memories.userFacts('aria', null, 5)).map((fact) => fact.id)).toEqual([second.id]);
  });

  it('follow a persona deleted with its memories (a cascade of another store on the connection)', async () => {
    const memory = await memories.insert({ ...base, personaId: 'kira', kind: 'user_fact', content: 'the user plays chess' }, [], 1_000);
    expect(await memories.getMany([memory.id])).toHaveLength(1);
    expect(await memories.userFacts('kira', null, 5)).toHaveLength(1);
    store.database.prepare("DELETE FROM personas WHERE id = 'kira'").run();
    expect(await memories.getMany([memory.id])).toEqual([]);
    expect(await memories.rankingFacts([memory.id])).toEqual([]);
    expect(await memories.userFacts('kira', null, 5)).toEqual([]);
  });

  it("follow the conversation's summaries", async () => {
    expect(await memories.latestSummary('conv_1')).toBeNull();
    const summary = await memories.insert({ ...base, personaId: 'aria', kind: 'summary', content: 'We talked about bees.', conversationId: 'conv_1', messageId: 7 }, [], 1_000);
    expect((await memories.latestSummary('conv_1'))?.id).toBe(summary.id);
    store.database.prepare('UPDATE memories SET conversation_id = NULL WHERE id = ?').run(summary.id);
    expect(await memories.latestSummary('conv_1')).toBeNull();
  });

  it("follow another connection's commits", async () => {
    const memory = await memories.insert({ ...base, personaId: 'aria', kind: 'user_fact', content: 'the user keeps bees' }, [], 1_000);
    expect(await memories.rankingFacts([memory.id])).toEqual([{ id: memory.id, importance: 0.5, lastAccessedAt: 1_000 }]);
    expect((await memories.userFacts('aria', null, 5))[0]?.importance).toBe(0.5);
    const other = openDatabase(path.join(dir, 'db.sqlite'));
    try {
      other.prepare('UPDATE memories SET importance = 0.8, content = ? WHERE id = ?').run('the user keeps hornets', memory.id);
    } finally {
      other.close();
    }
    expect(await memories.rankingFacts([memory.id])).toEqual([{ id: memory.id, importance: 0.8, lastAccessedAt: 1_000 }]);
    expect((await memories.getMany([memory.id]))[0]?.content).toBe('the user keeps hornets');
    expect((await memories.userFacts('aria', null, 5))[0]?.importance).toBe(0.8);
  });

  it('count recalls once they are written, as the table does', async () => {
    const memory = await memories.insert({ ...base, personaId: 'aria', kind: 'user_fact', content: 'the user keeps bees' }, [], 1_000);
    const summary = await memories.insert({ ...base, personaId: 'aria', kind: 'summary', content: 'We talked about bees.', conversationId: 'conv_1' }, [], 1_500);
    const row = store.database.prepare<[number], { at: number; count: number }>('SELECT last_accessed_at AS at, access_count AS count FROM memories WHERE id = ?');
    const read = async () => ({
      row: (await memories.getMany([memory.id]))[0],
      fact: (await memories.rankingFacts([memory.id]))[0],
      block: (await memories.userFacts('aria', null, 5))[0],
      summary: await memories.latestSummary('conv_1'),
    });
    await read();
    for (const at of [2_000, 3_000]) {
      await memories.recordAccess([memory.id, summary.id], at);
      await memories.flushAccess();
      const seen = await read();
      const stored = row.get(memory.id)!;
      expect(seen.row).toMatchObject({ lastAccessedAt: stored.at, accessCount: stored.count });
      expect(seen.fact).toMatchObject({ lastAccessedAt: stored.at });
      expect(seen.block).toMatchObject({ lastAccessedAt: stored.at, accessCount: stored.count });
      expect(seen.summary).toMatchObject({ lastAccessedAt: row.get(summary.id)!.at, accessCount: row.get(summary.id)!.count });
    }
    expect(row.get(memory.id)).toEqual({ at: 3_000, count: 2 });
  });

  it('hands out copies: changing a result changes nothing kept', async () => {
    const memory = await memories.insert({ ...base, personaId: 'aria', kind: 'user_fact', content: 'the user keeps bees' }, [], 1_000);
    (await memories.getMany([memory.id]))[0]!.content = 'changed by a caller';
    (await memories.rankingFacts([memory.id]))[0]!.importance = 0;
    expect((await memories.getMany([memory.id]))[0]?.content).toBe('the user keeps bees');
    expect((await memories.rankingFacts([memory.id]))[0]?.importance).toBe(0.5);
  });

  it('read again what a write dropped once it has committed, and never what a rolled-back write held', async () => {
    const afterWrite = () => new Promise((resolve) => setImmediate(resolve));
    const memory = await memories.insert({ ...base, personaId: 'aria', kind: 'user_fact', content: 'the user keeps bees' }, [], 1_000);
    const summary = await memories.insert({ ...base, personaId: 'aria', kind: 'summary', content: 'they talked about bees', conversationId: null }, [], 1_000);
    const read = async () => ({
      block: (await memories.userFacts('aria', null, 5)).map((fact) => [fact.content, fact.importance]),
      row: (await memories.getMany([memory.id]))[0]?.content,
      facts: await memories.rankingFacts([memory.id]),
    });
    await read();
    await memories.update(memory.id, { content: 'the user keeps wasps', importance: 0.9 }, null, 2_000);
    await afterWrite();
    expect(await read()).toEqual({ block: [['the user keeps wasps', 0.9]], row: 'the user keeps wasps', facts: [{ id: memory.id, importance: 0.9, lastAccessedAt: 1_000 }] });

    // Dropped inside a transaction that then rolls back: what is read again is the committed row.
    const db = store.database;
    db.exec('BEGIN');
    db.prepare("UPDATE memories SET content = 'the user keeps ants', importance = 0.1 WHERE id = ?").run(memory.id);
    await afterWrite();
    await afterWrite();
    db.exec('ROLLBACK');
    await afterWrite();
    expect(await read()).toEqual({ block: [['the user keeps wasps', 0.9]], row: 'the user keeps wasps', facts: [{ id: memory.id, importance: 0.9, lastAccessedAt: 1_000 }] });

    // A write after the refill drops it again (nothing kept is older than the table).
    await memories.delete([memory.id, summary.id]);
    await afterWrite();
    expect(await read()).toEqual({ block: [], row: undefined, facts: [] });
  });

  it('keep a new memory as its write handed it over once committed, without reading it back; read it when its row changed first', async () => {
    await withOwnCache(async (db, cache) => {
      const read: number[][] = [];
      const rowsOf = (ids: number[]) => {
        read.push(ids);
        return db.prepare<[string], MemoryRow>(`${MEMORY_SELECT} WHERE m.id IN (SELECT value FROM json_each(?))`).all(JSON.stringify(ids)).map(toMemory);
      };
      const factsOf = (ids: number[]) => rowsOf(ids).map(({ id, importance, lastAccessedAt }) => ({ id, importance, lastAccessedAt }));
      cache.memories([], rowsOf);
      cache.rankingFacts([], factsOf);
      const insert = db.prepare<[string], { id: number }>(
        "INSERT INTO memories (persona_id, kind, content, importance, importance_source, visibility, created_at, last_accessed_at, decayed_at) VALUES ('aria', 'user_fact', ?, 0.5, 'client', 'private', 1000, 1000, 1000) RETURNING id",
      );
      const write = (content: string, after: (id: number) => void = () => undefined): number => {
        db.exec('BEGIN IMMEDIATE');
        const { id } = insert.get(content)!;
        cache.inserted(rowsOf([id])[0]!);
        read.length = 0;
        after(id);
        const ids = cache.takeInserted();
        db.exec('COMMIT');
        cache.insertsCommitted(ids);
        return id;
      };
      const afterWrite = () => new Promise((resolve) => setImmediate(resolve));

      const kept = write('the user keeps bees');
      await afterWrite();
      expect(cache.memories([kept], rowsOf).map((memory) => memory.content)).toEqual(['the user keeps bees']);
      expect(cache.rankingFacts([kept], factsOf)).toEqual([{ id: kept, importance: 0.5, lastAccessedAt: 1_000 }]);
      expect(read).toEqual([]);

      const changed = write('the user keeps wasps', (id) => db.prepare('UPDATE memories SET importance = 0.9 WHERE id = ?').run(id));
      await afterWrite();
      expect(read).toEqual([[changed], [changed]]);
      expect(cache.rankingFacts([changed], factsOf)).toEqual([{ id: changed, importance: 0.9, lastAccessedAt: 1_000 }]);
    });
  });

  it("merge a formation's new facts into the persona's kept facts blocks as a read would order them", async () => {
    const afterWrite = () => new Promise((resolve) => setImmediate(resolve));
    const fact = (content: string, importance: number, userId: string | null = null) => ({ ...base, personaId: 'aria', kind: 'user_fact' as const, content, importance, userId });
    const first = await memories.insert(fact('the user keeps bees', 0.5), [], 1_000);
    await memories.insert(fact('the user rides a bike', 0.9, 'u1'), [], 1_000);
    const read = async () => ({
      any: (await memories.userFacts('aria', undefined, 2)).map((memory) => memory.content),
      none: (await memories.userFacts('aria', null, 5)).map((memory) => memory.content),
    });
    expect(await read()).toEqual({ any: ['the user rides a bike', 'the user keeps bees'], none: ['the user keeps bees'] });

    await memories.replaceFormed(7, [{ memory: fact('the user grows tomatoes', 0.7), vectors: [] }, { memory: fact('the user hates rain', 0.5), vectors: [] }], 2_000);
    await afterWrite();
    expect(await read()).toEqual({
      any: ['the user rides a bike', 'the user grows tomatoes'],
      none: ['the user grows tomatoes', 'the user hates rain', 'the user keeps bees'],
    });

    await memories.update(first.id, { importance: 0.95 }, null, 3_000);
    await afterWrite();
    expect(await read()).toEqual({ any: ['the user keeps bees', 'the user rides a bike'], none: ['the user keeps bees', 'the user grows tomatoes', 'the user hates rain'] });
  });

  it('merge new facts into kept facts blocks without reading them again; read them when a fact changed in the same write', async () => {
    await withOwnCache(async (db, cache) => {
      const rowOf = (id: number) => toMemory(db.prepare<[number], MemoryRow>(`${MEMORY_SELECT} WHERE m.id = ?`).get(id)!);
      const blockReads: Array<string | null | undefined> = [];
      const block = (userId: string | null | undefined, limit: number) =>
        cache
          .userFacts('aria', userId, limit, () => {
            blockReads.push(userId);
            return db
              .prepare<[number, string | null, number], MemoryRow>(
                `${MEMORY_SELECT} WHERE m.persona_id = 'aria' AND m.kind = 'user_fact' AND (? = 1 OR m.user_id IS ?) ORDER BY m.importance DESC, m.created_at DESC, m.id DESC LIMIT ?`,
              )
              .all(userId === undefined ? 1 : 0, userId ?? null, limit)
              .map(toMemory);
          })
          .map((memory) => memory.content);
      const insert = db.prepare<[string, number, string | null, number], { id: number }>(
        "INSERT INTO memories (persona_id, kind, content, importance, importance_source, visibility, user_id, created_at, last_accessed_at, decayed_at) VALUES ('aria', 'user_fact', ?, ?, 'client', 'private', ?, ?, 0, 0) RETURNING id",
      );
      let at = 0;
      const write = (facts: Array<[string, number, string | null]>, after: () => void = () => undefined): void => {
        db.exec('BEGIN IMMEDIATE');
        for (const [content, importance, userId] of facts) cache.inserted(rowOf(insert.get(content, importance, userId, ++at)!.id));
        after();
        const ids = cache.takeInserted();
        db.exec('COMMIT');
        cache.insertsCommitted(ids);
      };
      const afterWrite = () => new Promise((resolve) => setImmediate(resolve));

      write([['bees', 0.5, null], ['bike', 0.9, 'u1']]);
      expect([block(undefined, 2), block(null, 5)]).toEqual([['bike', 'bees'], ['bees']]);
      blockReads.length = 0;
      write([['tomatoes', 0.7, null], ['rain', 0.5, null], ['chess', 0.6, 'u1']]);
      await afterWrite();
      expect([block(undefined, 2), block(null, 5)]).toEqual([['bike', 'tomatoes'], ['tomatoes', 'rain', 'bees']]);
      expect(blockReads).toEqual([]);

      write([['snow', 0.1, null]], () => db.prepare("UPDATE memories SET importance = 0.95 WHERE content = 'bees'").run());
      await afterWrite();
      expect(blockReads).toEqual([undefined, null]);
      expect([block(undefined, 2), block(null, 5)]).toEqual([['bees', 'bike'], ['bees', 'tomatoes', 'rain', 'snow']]);
    });
  });
});
