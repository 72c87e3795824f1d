/**
 * The memory services on a real SQLite database (in memory) with an injected clock: hybrid ranking,
 * visibility, pruning without orphan vectors, decay, idempotent formation, forgetting, and
 * summarisation with the LLM down.
 */
import { directFloorFor, recallFloorFor } from '../../domain/memory/speaker.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { HashedNgramEmbedder } from '../../adapters/embedders/hashed-ngram.js';
import { InProcessEventBus } from '../../adapters/events/in-process-bus.js';
import { OllamaProvider } from '../../adapters/ollama/ollama-provider.js';
import { loadPersonaFiles, shippedPersonasDir } from '../../adapters/persona-files.js';
import { SqliteJobQueue } from '../../adapters/sqlite/job-queue.js';
import { SqliteMemoryStore } from '../../adapters/sqlite/memory-store.js';
import { loadWordnetThesaurus } from '../../adapters/embedders/wordnet-thesaurus.js';
import { SqliteStore } from '../../adapters/sqlite/sqlite-store.js';
import { configSchema } from '../../config/schema.js';
import { PersonaService } from '../persona-service.js';
import { MemoryEmbedders } from './embedders.js';
import { FORM_JOB, MemoryFormation } from './formation.js';
import { holdingAfterEffect } from '../../../test/helpers/relationship-jobs.js';
import { MemoryMaintenance } from './maintenance.js';
import { MemoryService } from './memory-service.js';
import { memorySettings } from '../../app/memory-settings.js';
import type { MemorySettings } from './settings.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 0, 1);

let store: SqliteStore;
let memoryStore: SqliteMemoryStore;
let service: MemoryService;
let maintenance: MemoryMaintenance;
let formation: MemoryFormation;
let clock: { now(): number; advance(ms: number): void };
let settings: MemorySettings;

/** Nothing listens here: the LLM is down. */
const DOWN = 'http://127.0.0.1:9';

beforeEach(async () => {
  let time = T0;
  clock = { now: () => time, advance: (ms) => (time += ms) };
  store = SqliteStore.open(':memory:');
  const logger = pino({ level: 'silent' });
  const personas = new PersonaService(store, clock, new InProcessEventBus(() => undefined));
  await personas.initialise(loadPersonaFiles(shippedPersonasDir()));
  settings = memorySettings(configSchema.parse({}).memory);
  settings.embedder = 'offline';
  memoryStore = new SqliteMemoryStore(store.database);
  const embedders = new MemoryEmbedders(new HashedNgramEmbedder(), null, logger);
  service = new MemoryService({ memories: memoryStore, personas, embedders, clock, logger, settings });
  maintenance = new MemoryMaintenance({ memories: memoryStore, clock, logger, settings });
  const llm = new OllamaProvider({ baseUrl: DOWN, listTimeoutMs: 500, statusTimeoutMs: 500 });
  formation = new MemoryFormation({
    memories: memoryStore,
    embedders,
    maintenance,
    llm,
    jobs: new SqliteJobQueue(store.database, { clock }),
    clock,
    logger,
    settings,
    persona: (id) => ({ record: personas.resolve(id), model: 'llama3.1:8b' }),
  });
});
afterEach(async () => {
  await store.close();
});

function count(table: string): number {
  return store.database.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
}

async function userTurn(content: string, conversationId?: string): Promise<{ conversationId: string; messageId: number }> {
  const turn = await store.appendUserTurn({
    sessionId: 's1',
    personaId: 'aria',
    content,
    tokens: 5,
    now: clock.now(),
    ...(conversationId ? { conversationId } : {}),
  });
  return { conversationId: turn.conversation.id, messageId: turn.message.id };
}

describe('hybrid search ranking', () => {
  it('ranks by relevance × (0.75 + 0.15 importance + 0.10 recency), with the numbers of the formula', async () => {
    const sailing = await service.store({ personaId: 'aria', content: 'The user loves sailing on the northern sea', importance: 0.5 });
    const cooking = await service.store({ personaId: 'aria', content: 'The user is learning to cook fish stew', importance: 0.5 });
    clock.advance(24 * HOUR);
    const [first, second] = await service.search({ query: 'sailing at sea', limit: 2, viewerId: 'aria', reinforce: false });
    expect(first!.memory.id).toBe(sailing.id);
    expect(first!.recency).toBeCloseTo(0.8866535105, 9);
    expect(first!.score).toBeCloseTo(first!.relevance * (0.75 + 0.15 * 0.5 + 0.1 * 0.8866535105), 9);
    expect(first!.relevance).toBeGreaterThan(0.5); // the best text match, and similar in meaning
    expect(second?.memory.id ?? cooking.id).toBe(cooking.id);
    expect(second === undefined || second.relevance < 0.1).toBe(true);
  });

  it('lets importance lift an equally relevant memory, and recency a fresher one', async () => {
    const old = await service.store({ personaId: 'aria', content: 'The user has a cat named Pip', importance: 0.5 });
    clock.advance(7 * DAY);
    const fresh = await service.store({ personaId: 'aria', content: 'The user has a cat named Pip', importance: 0.5 });
    const important = await service.store({ personaId: 'aria', content: 'The user has a cat named Pip', importance: 0.9 });
    const ranked = await service.search({ query: 'cat Pip', limit: 3, viewerId: 'aria', reinforce: false });
    expect(ranked.map((hit) => hit.memory.id)).toEqual([important.id, fresh.id, old.id]);
    expect(ranked[1]!.score - ranked[2]!.score).toBeCloseTo(ranked[1]!.relevance * 0.1 * (1 - 0.4308018556), 6);
  });

  it('never lets a reinforced, important memory outrank a relevant one (no rich-get-richer)', async () => {
    const sister = await service.store({ personaId: 'aria', content: 'The user has a sister who lives abroad', importance: 0.5 });
    const sardines = await service.store({ personaId: 'aria', content: 'The user loves sardines on toast', importance: 0.1 });
    // The sister fact is recalled over and over (as every prompt used to do) ...
    for (let i = 0; i < 50; i++) await service.search({ query: 'sister abroad', limit: 5, viewerId: 'aria' });
    expect((await memoryStore.get(sister.id))!.importance).toBe(0.5); // ... which no longer raises its importance
    const [first] = await service.search({ query: 'sardines', limit: 5, viewerId: 'aria' });
    expect(first!.memory.id).toBe(sardines.id);
  });

  it('returns nothing above the relevance floor for an unrelated query', async () => {
    await service.store({ personaId: 'aria', content: 'The user has a sister who lives abroad', importance: 0.9 });
    await service.store({ personaId: 'aria', content: 'The user loves sardines on toast', importance: 0.9 });
    expect(await service.search({ query: 'quantum chromodynamics lecture', limit: 6, viewerId: 'aria', minRelevance: settings.relevanceFloor })).toEqual([]);
  });

  it('finds a paraphrase through WordNet: a question about the country finds "Canada"', async () => {
    const withThesaurus = new SqliteMemoryStore(store.database, ':memory:', { thesaurus: loadWordnetThesaurus() });
    const search = new MemoryService({
      memories: withThesaurus,
      personas: new PersonaService(store, clock, new InProcessEventBus(() => undefined)),
      embedders: new MemoryEmbedders(new HashedNgramEmbedder(), null, pino({ level: 'silent' })),
      clock,
      logger: pino({ level: 'silent' }),
      settings,
    });
    await withThesaurus.insert(
      { personaId: 'aria', kind: 'user_fact', content: 'The user said: I play the violin.', importance: 0.5, importanceSource: 'client', visibility: 'private' },
      [],
      clock.now(),
    );
    const canada = await withThesaurus.insert(
      { personaId: 'aria', kind: 'user_fact', content: 'The user said: I moved here from Canada.', importance: 0.5, importanceSource: 'client', visibility: 'private' },
      [],
      clock.now(),
    );
    const [hit] = await search.search({ query: 'Which country did I come from?', limit: 3, viewerId: 'aria', minRelevance: settings.relevanceFloor });
    expect(hit?.memory.id).toBe(canada.id);
    // A question about the world needs the memory to hold most of its words itself: thesaurus terms
    // shared by chance ("winter" → "time", "season") do not count (speaker.ts directFloorFor).
    const winter = await withThesaurus.insert(
      { personaId: 'aria', kind: 'user_fact', content: 'The user said: I broke my wrist last winter.', importance: 0.5, importanceSource: 'client', visibility: 'private' },
      [],
      clock.now(),
    );
    const sunset = 'What time is sunset in winter?';
    const [weak] = await search.search({ query: sunset, limit: 3, viewerId: 'aria', reinforce: false });
    expect(weak?.memory.id).toBe(winter.id);
    expect(weak!.direct).toBeLessThan(weak!.relevance);
    expect(await search.search({ query: sunset, limit: 3, viewerId: 'aria', minRelevance: recallFloorFor(sunset, settings.relevanceFloor), minDirectRelevance: directFloorFor(sunset) })).toEqual([]);
    const [wrist] = await search.search({ query: 'my wrist in winter', limit: 3, viewerId: 'aria', minDirectRelevance: directFloorFor('my wrist in winter') });
    expect(wrist?.memory.id).toBe(winter.id);
  });

  it('searches a question idiom as what facts say: "how old" finds a birth year, not an old car', async () => {
    const withThesaurus = new SqliteMemoryStore(store.database, ':memory:', { thesaurus: loadWordnetThesaurus() });
    const search = new MemoryService({
      memories: withThesaurus,
      personas: new PersonaService(store, clock, new InProcessEventBus(() => undefined)),
      embedders: new MemoryEmbedders(new HashedNgramEmbedder(), null, pino({ level: 'silent' })),
      clock,
      logger: pino({ level: 'silent' }),
      settings,
    });
    const fact = (content: string) =>
      withThesaurus.insert({ personaId: 'aria', kind: 'user_fact', content, importance: 0.5, importanceSource: 'client', visibility: 'private' }, [], clock.now());
    const car = await fact('The user said: I drive an old green Volvo.');
    const born = await fact('The user said: I was born in 1985.');
    const hits = await search.search({ query: 'How old am I?', limit: 3, viewerId: 'aria', minRelevance: settings.relevanceFloor });
    // Before, "old" was searched literally: the car was a full match (relevance 1) and the birth year was
    // not found at all. Now both answer "age" (an old car has one: WordNet's attribute of "old").
    expect(hits.map((hit) => hit.memory.id)).toContain(born.id);
    expect(hits.find((hit) => hit.memory.id === car.id)?.relevance ?? 0).toBeLessThan(0.6);
    // WordNet's topic links: painting is an art.
    const paint = await fact('The user said: I am learning to paint with watercolours.');
    const [art] = await search.search({ query: 'What art am I taking up?', limit: 3, viewerId: 'aria', minRelevance: settings.relevanceFloor });
    expect(art?.memory.id).toBe(paint.id);
  });

  it('finds a memory by meaning when no word matches exactly (offline embedder, trigrams)', async () => {
    const memory = await service.store({ personaId: 'aria', content: 'The user goes gardening every weekend' });
    const [hit] = await service.search({ query: 'gardens', limit: 1, viewerId: 'aria' });
    expect(hit!.memory.id).toBe(memory.id);
  });

  it('counts a recall as an access (count, last access) without raising importance', async () => {
    const memory = await service.store({ personaId: 'aria', content: 'The user sings in a choir', importance: 0.5 });
    clock.advance(HOUR);
    await service.search({ query: 'choir', limit: 1, viewerId: 'aria' });
    expect(await memoryStore.get(memory.id)).toMatchObject({ accessCount: 1, lastAccessedAt: T0 + HOUR, importance: 0.5 });
  });
});

describe('visibility', () => {
  it('keeps private memories from other personas in search, vectors and text alike', async () => {
    await service.store({ personaId: 'aria', content: 'The user is afraid of the dark', visibility: 'private' });
    const shared = await service.store({ personaId: 'aria', content: 'The user is afraid of dogs', relatedPersonas: ['kira'] });
    const hits = await service.search({
      query: 'afraid of the dark',
      limit: 10,
      viewerId: 'kira',
      includeShared: true,
      includePublic: true,
    });
    expect(hits.map((hit) => hit.memory.id)).toEqual([shared.id]);
    expect(await service.search({ query: 'afraid', limit: 10, viewerId: 'kira' })).toEqual([]);
  });
});

describe('pruning', () => {
  it('plans in a dry run, deletes with force, and leaves no orphan vectors or text index rows', async () => {
    const faded = await service.store({ personaId: 'kira', content: 'A dull remark about the weather', importance: 0.1 });
    await service.store({ personaId: 'kira', content: 'The user is writing a history of the old library', importance: 0.9 });
    clock.advance(8 * DAY);
    expect(count('memory_vectors')).toBe(2);

    const plan = await maintenance.prune('kira', false);
    expect(plan).toMatchObject({ dryRun: true, before: 2, pruned: 0, wouldPrune: 1, after: 2, averageImportancePruned: 0.1 });
    expect(count('memories')).toBe(2);

    const applied = await maintenance.prune('kira', true);
    expect(applied).toMatchObject({ dryRun: false, before: 2, pruned: 1, wouldPrune: 1, after: 1 });
    expect(await memoryStore.get(faded.id)).toBeNull();
    expect(count('memory_vectors')).toBe(1);
    expect(store.database.prepare("SELECT count(*) FROM memories_fts WHERE memories_fts MATCH 'weather'").pluck().get()).toBe(0);
    expect((await service.search({ query: 'weather remark', limit: 5, viewerId: 'kira' })).map((hit) => hit.memory.id)).not.toContain(
      faded.id,
    );
  });

  it('enforces the hard cap per persona, least valuable first', async () => {
    settings.prune.maxPerPersona = 2;
    const low = await service.store({ personaId: 'kira', content: 'one', importance: 0.3 });
    await service.store({ personaId: 'kira', content: 'two', importance: 0.6 });
    await service.store({ personaId: 'kira', content: 'three', importance: 0.8 });
    expect(await maintenance.enforceCap('kira')).toBe(1);
    expect(await memoryStore.get(low.id)).toBeNull();
  });
});

describe('decay', () => {
  it('halves the importance of an unrecalled memory per half-life and records the cycle', async () => {
    const memory = await service.store({ personaId: 'aria', content: 'The user once visited Elarion', importance: 0.8 });
    clock.advance(30 * DAY);
    const cycle = await maintenance.decayNow();
    expect(cycle).toMatchObject({ personasProcessed: 1, memoriesDecayed: 1 });
    expect(cycle.averageDecay).toBeCloseTo(0.4, 9);
    expect((await memoryStore.get(memory.id))!.importance).toBeCloseTo(0.4, 9);
    // A second run at the same moment changes nothing: decay counts from the last run.
    expect((await maintenance.decayNow()).memoriesDecayed).toBe(0);
    expect(await maintenance.decayStats()).toMatchObject({ cycles: 2, decayed: 1 });
  });
});

describe('formation', () => {
  it('scores importance by the heuristic when the LLM is down, and forms each message once however often it runs', async () => {
    const { conversationId, messageId } = await userTurn('My brother Tom lives in Lisbon. ok');
    const payload = { personaId: 'aria', sessionId: 's1', conversationId, userMessageId: messageId };
    await formation.form(payload, new AbortController().signal);
    await formation.form(payload, new AbortController().signal);
    const { memories } = await service.list({ personaId: 'aria', limit: 10, offset: 0 });
    expect(memories).toHaveLength(1);
    // base 0.2 + personal 0.25 + novelty 0.1 × 1 (nothing known yet)
    expect(memories[0]).toMatchObject({
      kind: 'user_fact',
      content: 'The user said: My brother Tom lives in Lisbon.',
      importanceSource: 'heuristic',
      messageId,
    });
    expect(memories[0]!.importance).toBeCloseTo(0.55, 9);
  });

  it.each([
    [false, 'completed'],
    [true, 'running'],
  ])("commits a formation job's completion with its memories, unless a restatement job may follow (doc2query %s)", async (doc2query, status) => {
    settings.doc2query = doc2query;
    const { conversationId, messageId } = await userTurn('My brother Tom lives in Lisbon. ok');
    const queue = new SqliteJobQueue(store.database, { pollMs: 10 });
    let written!: () => void;
    const isWritten = new Promise<void>((resolve) => (written = resolve));
    // The handler holds once it has done its work: what a crash right after it would leave.
    formation.register(holdingAfterEffect(queue, written));
    queue.start();
    const id = await queue.enqueue(FORM_JOB, { personaId: 'aria', sessionId: 's1', conversationId, userMessageId: messageId });
    await isWritten;
    expect(count('memories')).toBe(1);
    expect(store.database.prepare('SELECT status FROM jobs WHERE id = ?').pluck().get(id)).toBe(status);
    // The held job never ends (stop would wait for it): the store closes under the queue.
  });

  it('never re-extracts a message whose memories were forgotten, and drops summaries quoting them', async () => {
    const { conversationId, messageId } = await userTurn('I am afraid of deep water since the shipwreck.');
    const payload = { personaId: 'aria', sessionId: 's1', conversationId, userMessageId: messageId };
    await formation.form(payload, new AbortController().signal);
    const summary = await memoryStore.insert(
      {
        personaId: 'aria',
        kind: 'summary',
        content: 'User: I am afraid of deep water since the shipwreck. Aria sang.',
        importance: 0.5,
        importanceSource: 'heuristic',
        visibility: 'private',
        conversationId,
      },
      [],
      clock.now(),
    );
    const matches = await service.forgetCandidates('deep water fear', 'aria', 10);
    const target = matches.filter((hit) => hit.memory.kind !== 'summary').map((hit) => hit.memory.id);
    expect(target).toHaveLength(1);
    expect(await service.forget(target)).toEqual({ memoriesRemoved: 1, summariesRemoved: 1, messagesBlocked: 1 });
    expect(await memoryStore.get(summary.id)).toBeNull();
    await formation.form(payload, new AbortController().signal);
    expect((await service.list({ personaId: 'aria', limit: 10, offset: 0 })).total).toBe(0);
  });
});

describe('summarisation with the LLM down', () => {
  it('writes an extractive summary of the older turns once the thread passes the threshold', async () => {
    settings.summariseAfterMessages = 4;
    settings.summaryKeepRecent = 1;
    const first = await userTurn('Nice day today.');
    const { conversationId } = first;
    await userTurn('My sister Mara got married last spring.', conversationId);
    await userTurn('We danced all night.', conversationId);
    expect(await formation.needsSummary(conversationId)).toBe(false);
    await userTurn('What a party.', conversationId);
    expect(await formation.needsSummary(conversationId)).toBe(true);

    await formation.summarise({ personaId: 'aria', conversationId }, new AbortController().signal);
    const summary = await memoryStore.latestSummary(conversationId);
    expect(summary).toMatchObject({ kind: 'summary', importanceSource: 'heuristic', visibility: 'private' });
    expect(summary!.content).toContain('User: My sister Mara got married last spring.');
    expect(summary!.content).not.toContain('What a party'); // the newest turn stays out (summaryKeepRecent)
    expect(await formation.needsSummary(conversationId)).toBe(false);
  });

  it('tells when a conversation reaches the threshold, told the newest message id each turn, whatever else was written in between', async () => {
    settings.summariseAfterMessages = 5;
    settings.summaryKeepRecent = 1;
    const first = await userTurn('Hello there.');
    const { conversationId } = first;
    const other = await store.appendUserTurn({ sessionId: 's2', personaId: 'aria', content: 'A message in another conversation.', tokens: 5, now: clock.now() });
    expect(await formation.needsSummary(conversationId, first.messageId)).toBe(false);
    const second = await userTurn('My sister Mara got married.', conversationId);
    expect(await formation.needsSummary(conversationId, second.messageId)).toBe(false);
    // Written without a check of its own (as a group's message is), and other conversations' messages in between.
    await userTurn('We danced.', conversationId);
    for (let i = 0; i < 3; i++) await userTurn(`other ${i}`, other.conversation.id);
    const fourth = await userTurn('All night.', conversationId);
    expect(await formation.needsSummary(conversationId, fourth.messageId)).toBe(false);
    const fifth = await userTurn('What a party.', conversationId);
    expect(await formation.needsSummary(conversationId, fifth.messageId)).toBe(true);
    expect(await formation.needsSummary(conversationId, fifth.messageId)).toBe(true);
    await formation.summarise({ personaId: 'aria', conversationId }, new AbortController().signal);
    expect(await formation.needsSummary(conversationId, fifth.messageId)).toBe(false);
  });
});

describe('users', () => {
  it("never recalls, lists, edits or forgets another user's memories", async () => {
    const sams = await service.store({ personaId: 'aria', content: 'The user is called Sam and keeps goats', userId: 'sam' });
    const anas = await service.store({ personaId: 'aria', content: 'The user is called Ana and keeps goats', userId: 'ana' });
    const asAna = await service.search({
      query: 'keeps goats Sam',
      limit: 10,
      viewerId: 'aria',
      userId: 'ana',
      includePublic: true,
      includeShared: true,
    });
    expect(asAna.map((hit) => hit.memory.id)).toEqual([anas.id]);
    expect((await service.list({ personaId: 'aria', userId: 'ana', limit: 10, offset: 0 })).memories.map((memory) => memory.id)).toEqual([
      anas.id,
    ]);
    await expect(service.delete(sams.id, 'ana')).rejects.toMatchObject({ kind: 'memory_not_found' });
    await expect(service.update(sams.id, { content: 'changed' }, 'ana')).rejects.toMatchObject({ kind: 'memory_not_found' });
    await expect(service.forget([sams.id], 'ana')).rejects.toMatchObject({ kind: 'memory_not_found' });
    expect(await service.forgetCandidates('Sam goats', 'aria', 10, 'ana')).toEqual([
      expect.objectContaining({ memory: expect.objectContaining({ id: anas.id }) }),
    ]);
    // The anonymous local user (null) is a user of its own.
    expect(await service.search({ query: 'goats', limit: 10, viewerId: 'aria', userId: null })).toEqual([]);
    // Internal callers (undefined) see everyone's.
    expect((await service.search({ query: 'goats', limit: 10, viewerId: 'aria', reinforce: false })).length).toBe(2);
  });
});

describe('search without a query', () => {
  it("ranks the persona's own memories by importance and recency alone", async () => {
    const low = await service.store({ personaId: 'aria', content: 'A small thing', importance: 0.2 });
    const high = await service.store({ personaId: 'aria', content: 'A big thing', importance: 0.9 });
    await service.store({ personaId: 'kira', content: 'Not hers', importance: 1 });
    const hits = await service.search({ query: '  ', limit: 5, viewerId: 'aria' });
    expect(hits.map((hit) => [hit.memory.id, hit.relevance])).toEqual([
      [high.id, 0],
      [low.id, 0],
    ]);
    expect(hits[0]!.score).toBeCloseTo((0.15 * 0.9 + 0.1 * 1) / 0.25, 12);
  });
});
