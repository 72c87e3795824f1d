/**
 * Two connections to one data file (a server and its jobs worker thread, or `persona-mcp mcp` beside it):
 * each one's caches — the memory read cache, the full-text mirror, the word counts, the relationships a
 * service keeps — see what the other commits at their next read, from 0049's change logs
 * (connection-follow.ts), and never apply their own connection's writes a second time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RECALL_TERMS_WEIGHT } from '../../domain/memory/expansion.js';
import { RelationshipService } from '../../services/social/relationship-service.js';
import { loadPersonaFiles, shippedPersonasDir } from '../persona-files.js';
import { ConnectionFollow, type MemoryChangeRow } from './connection-follow.js';
import { FullTextMirror } from './full-text-mirror.js';
import { SqliteMemoryStore } from './memory-store.js';
import { SqliteSocialStore } from './social-store.js';
import { SqliteStore } from './sqlite-store.js';
import { immediateTransaction } from './transactions.js';

let dir: string;
let file: string;
let server: SqliteStore;
let worker: SqliteStore;

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-connection-follow-'));
  file = path.join(dir, 'persona.db');
  server = SqliteStore.open(file);
  await server.seedPersonas(loadPersonaFiles(shippedPersonasDir()), 0);
  worker = SqliteStore.open(file);
});
afterEach(async () => {
  await worker.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const base = { importance: 0.5, importanceSource: 'client' as const, visibility: 'private' as const, userId: null };
const scope = { viewerId: 'aria', userId: null, includeShared: true, includePublic: true };

describe("a connection's caches follow another connection's commits", () => {
  it("hand a follower every row another connection logged, and none of its own connection's", async () => {
    const seen: MemoryChangeRow[] = [];
    ConnectionFollow.of(server.database).follow('memories', { apply: (rows) => seen.push(...rows), lost: () => seen.push() });
    const served = new SqliteMemoryStore(server.database);
    const written = new SqliteMemoryStore(worker.database);
    const own = await served.insert({ ...base, personaId: 'aria', kind: 'observation', content: 'the lighthouse keeper' }, [], 1);
    await served.update(own.id, { importance: 0.9 }, null, 2);
    const other = await written.insert({ ...base, personaId: 'aria', kind: 'user_fact', content: 'the user sails' }, [], 3);
    await served.delete([own.id]); // its transaction first applies the other connection's insert
    await written.update(other.id, { content: 'the user sails at night' }, null, 4);
    ConnectionFollow.of(server.database).check();
    expect(seen.map((row) => [row.memory_id, row.change])).toEqual([
      [other.id, 1],
      [other.id, 2],
    ]);
  });

  it("reads data_version once in a synchronous stretch outside a transaction; the next stretch and a write transaction read it again", async () => {
    const follow = ConnectionFollow.of(server.database);
    const seen: Array<[number, number]> = [];
    follow.follow('memories', { apply: (rows) => seen.push(...rows.map((row): [number, number] => [row.memory_id, row.change])), lost: () => undefined });
    const memory = await new SqliteMemoryStore(worker.database).insert({ ...base, personaId: 'aria', kind: 'observation', content: 'the tide tables' }, [], 1);
    await Promise.resolve();
    follow.check();
    seen.length = 0;
    const touch = worker.database.prepare('UPDATE memories SET importance = ? WHERE id = ?');

    // Nothing in this stretch can have learnt of the other connection's commit: it is applied at the next one.
    await Promise.resolve();
    follow.check();
    touch.run(0.6, memory.id);
    follow.check();
    expect(seen).toEqual([]);
    await Promise.resolve();
    follow.check();
    expect(seen).toEqual([[memory.id, 3]]);

    // A write transaction applies what came before it, checked in the stretch or not.
    await Promise.resolve();
    follow.check();
    touch.run(0.7, memory.id);
    server.database.transaction(() => follow.check())();
    expect(seen).toEqual([
      [memory.id, 3],
      [memory.id, 3],
    ]);
  });

  it('the read cache: rows, facts, facts blocks, summaries and shares another connection writes', async () => {
    const served = new SqliteMemoryStore(server.database);
    const written = new SqliteMemoryStore(worker.database);
    const fact = await served.insert({ ...base, personaId: 'aria', kind: 'user_fact', content: 'the user keeps bees' }, [], 1_000);
    const summary = await served.insert({ ...base, personaId: 'aria', kind: 'summary', content: 'We talked about bees.', conversationId: 'conv_1' }, [], 1_000);
    expect((await served.getMany([fact.id]))[0]?.content).toBe('the user keeps bees');
    expect((await served.userFacts('aria', null, 5)).map((memory) => memory.id)).toEqual([fact.id]);
    expect((await served.latestSummary('conv_1'))?.id).toBe(summary.id);

    await written.update(fact.id, { content: 'the user keeps wasps', visibility: 'shared', sharedWith: ['kira'] }, null, 2_000);
    expect((await served.getMany([fact.id]))[0]).toMatchObject({ content: 'the user keeps wasps', sharedWith: ['kira'] });
    expect((await served.userFacts('aria', null, 5))[0]).toMatchObject({ content: 'the user keeps wasps', sharedWith: ['kira'] });
    // Shares alone.
    await written.update(fact.id, { sharedWith: ['kira', 'nova'] }, null, 2_500);
    expect((await served.getMany([fact.id]))[0]?.sharedWith).toEqual(['kira', 'nova']);

    const newer = await written.insert({ ...base, personaId: 'aria', kind: 'user_fact', content: 'the user rides a bike', importance: 0.9 }, [], 3_000);
    const later = await written.insert({ ...base, personaId: 'aria', kind: 'summary', content: 'We talked about bikes.', conversationId: 'conv_1' }, [], 3_000);
    expect((await served.userFacts('aria', null, 5)).map((memory) => memory.id)).toEqual([newer.id, fact.id]);
    expect((await served.latestSummary('conv_1'))?.id).toBe(later.id);

    await written.delete([fact.id, later.id]);
    expect(await served.getMany([fact.id, newer.id])).toHaveLength(1);
    expect(await served.rankingFacts([fact.id])).toEqual([]);
    expect((await served.userFacts('aria', null, 5)).map((memory) => memory.id)).toEqual([newer.id]);
    expect((await served.latestSummary('conv_1'))?.id).toBe(summary.id);
  });

  it('the read cache reads everything again when the log was pruned past what it applied', async () => {
    const served = new SqliteMemoryStore(server.database);
    const fact = await served.insert({ ...base, personaId: 'kira', kind: 'user_fact', content: 'the user plays chess' }, [], 1);
    const other = await served.insert({ ...base, personaId: 'kira', kind: 'observation', content: 'a rainy day' }, [], 1);
    expect((await served.getMany([fact.id]))[0]?.importance).toBe(0.5);
    // Changed and pruned in one go (nothing on this connection looks in between), as a busy writer's pruning leaves it.
    worker.database.prepare('UPDATE memories SET importance = 0.7 WHERE id = ?').run(fact.id);
    worker.database.prepare('UPDATE memories SET importance = 0.2 WHERE id = ?').run(other.id);
    worker.database.prepare('DELETE FROM memory_changes WHERE seq < (SELECT max(seq) FROM memory_changes)').run();
    expect((await served.getMany([fact.id]))[0]?.importance).toBe(0.7);
  });

  it('the full-text mirror: finds by its words what another connection stores, and stays in use', async () => {
    const served = new SqliteMemoryStore(server.database);
    const plain = new SqliteMemoryStore(server.database, file, { fullTextMirror: false });
    const written = new SqliteMemoryStore(worker.database);
    const kept = await served.insert({ ...base, personaId: 'aria', kind: 'observation', content: 'the harbour fog at dawn' }, [], 1);
    const edited = await served.insert({ ...base, personaId: 'aria', kind: 'observation', content: 'the library maps' }, [], 2);
    const mirror = new FullTextMirror(server.database, RECALL_TERMS_WEIGHT);
    expect(mirror.current()).not.toBeNull();
    expect((await served.fullTextSearch('harbour', scope, 5)).map((hit) => hit.id)).toEqual([kept.id]);

    // As many rows and words as before (FTS5's totals unchanged): only the log tells the mirror what changed.
    const added = await written.insert({ ...base, personaId: 'aria', kind: 'observation', content: 'the harbour bells ring out' }, [], 3);
    await written.update(edited.id, { content: 'the harbour lighthouse' }, null, 4);
    await written.delete([kept.id]);
    expect(mirror.current()).not.toBeNull();
    for (const query of ['harbour', 'library maps', 'bells lighthouse', 'fog dawn']) {
      const found = await served.fullTextSearch(query, scope, 5);
      expect(found, query).toEqual(await plain.fullTextSearch(query, scope, 5));
      if (query === 'harbour') expect(found.map((hit) => hit.id).sort()).toEqual([added.id, edited.id].sort());
    }
  });

  it("the full-text mirror reads another connection's memories in a stretch of its own once a check finds them, not at the next search", async () => {
    const served = new SqliteMemoryStore(server.database);
    const written = new SqliteMemoryStore(worker.database);
    await served.insert({ ...base, personaId: 'aria', kind: 'observation', content: 'the harbour fog at dawn' }, [], 1);
    const mirror = new FullTextMirror(server.database, RECALL_TERMS_WEIGHT);
    expect(mirror.current()).not.toBeNull();
    await written.insert({ ...base, personaId: 'aria', kind: 'observation', content: 'the harbour bells' }, [], 2);
    ConnectionFollow.of(server.database).check(); // as a jobs thread's "committed" message, or any read of the connection, does
    expect(mirror.hasChanges).toBe(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(mirror.hasChanges).toBe(false);
  });

  it("follows another connection's commit in a stretch of its own when told of it (the jobs thread's `committed`), before any read", async () => {
    const served = new SqliteMemoryStore(server.database);
    const written = new SqliteMemoryStore(worker.database);
    await served.insert({ ...base, personaId: 'aria', kind: 'observation', content: 'the harbour fog at dawn' }, [], 1);
    const mirror = new FullTextMirror(server.database, RECALL_TERMS_WEIGHT);
    expect(mirror.current()).not.toBeNull();
    const seen: number[] = [];
    ConnectionFollow.of(server.database).follow('memories', { apply: (rows) => seen.push(...rows.map((row) => row.memory_id)), lost: () => undefined });
    let commits = 0;
    ConnectionFollow.of(worker.database).onOwnCommit(() => {
      commits++;
      ConnectionFollow.of(server.database).checkSoon();
    });
    immediateTransaction(worker.database)(() => worker.database.prepare('SELECT 1').get()); // logs nothing: no one is told
    expect(commits).toBe(0);
    const other = await written.insert({ ...base, personaId: 'aria', kind: 'observation', content: 'the harbour bells' }, [], 2);
    expect(commits).toBe(1);
    expect(seen).toEqual([]); // not inside the commit's own stretch
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual([other.id]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(mirror.hasChanges).toBe(false); // the mirror read it too, with no search asking
  });

  it("the word counts a store without the mirror keeps: another connection's memories change them", async () => {
    const served = new SqliteMemoryStore(server.database, file, { fullTextMirror: false });
    const written = new SqliteMemoryStore(worker.database);
    await served.insert({ ...base, personaId: 'aria', kind: 'observation', content: 'the harbour fog at dawn' }, [], 1);
    await served.insert({ ...base, personaId: 'aria', kind: 'observation', content: 'the fog over the hills' }, [], 2);
    await served.fullTextSearch('harbour fog', scope, 5); // counts "harbour" and "fog"
    for (let at = 0; at < 3; at++) await written.insert({ ...base, personaId: 'aria', kind: 'observation', content: `the harbour bells ${at}` }, [], 3 + at);
    const counted = new SqliteMemoryStore(server.database, file, { fullTextMirror: false });
    expect(await served.fullTextSearch('harbour fog', scope, 5)).toEqual(await counted.fullTextSearch('harbour fog', scope, 5));
  });

  it("the relationships a service keeps: another connection's interaction is read at the next get", async () => {
    const clock = { now: () => 1_700_000_000_000 };
    const relationships = new RelationshipService(new SqliteSocialStore(server.database), clock, () => null);
    const elsewhere = new RelationshipService(new SqliteSocialStore(worker.database), clock, () => null);
    const key = { subjectId: 'aria', otherKind: 'user' as const, otherId: 'local' };
    const interaction = { quality: 0.8, durationMs: 60_000, source: 'chat' as const, conversationId: null, context: null };
    await relationships.recordInteraction({ ...key, ...interaction });
    expect(await relationships.get(key)).toMatchObject({ interactionCount: 1 });
    await elsewhere.recordInteraction({ ...key, ...interaction });
    expect(await relationships.get(key)).toMatchObject({ interactionCount: 2 });
    worker.database.prepare("DELETE FROM relationships WHERE subject_id = 'aria'").run();
    expect(await relationships.get(key)).toMatchObject({ exists: false, interactionCount: 0 });
  });
});
