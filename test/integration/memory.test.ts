/** Long-term memory over the wire: real server, real SQLite, the fake Ollama over HTTP. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appraisalReply } from '../fakes/appraisal-reply.js';
import { startFakeOllama, type FakeChatBody, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let ollama: FakeOllama;
let server: TestServer;

/** Replies like the default fake, but rates poignancy "8" and writes a recognisable summary. */
function reply(body: FakeChatBody): string {
  const last = body.messages?.at(-1)?.content ?? '';
  if (last.startsWith('On the scale of 1 to 10')) return '8';
  const appraisal = appraisalReply(body, { rating: 8 });
  if (appraisal !== null) return appraisal;
  if (last.startsWith('Summarise the following conversation')) return 'The user sails every summer and hates rain.';
  return `${body.messages?.[0]?.content.match(/You are (\w+)/)?.[1] ?? 'Someone'} hears you: ${last}`;
}

beforeAll(async () => {
  ollama = await startFakeOllama({ reply });
  server = await startTestServer({
    ollamaUrl: ollama.url,
    flags: {
      'memory.pruneMinIdleDays': 0,
      'memory.summariseAfterMessages': 6,
      'memory.summaryKeepRecent': 2,
      'memory.decayOnStart': false,
    },
  });
});
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
});

const jobs = () => server.server.services.memory.jobs;

describe('memory.store and memory.search', () => {
  it('stores a memory for the active persona and finds it by meaning and words', async () => {
    const client = await server.connect();
    await client.result('persona.switch', { persona_id: 'kira' });
    const stored = await client.result('memory.store', {
      content: 'The user collects antique maps of the northern coast',
      importance: 0.7,
    });
    expect(stored.memory_id).toMatch(/^mem_\d+$/);
    expect(stored.persona_id).toBe('kira');
    await client.result('memory.store', { content: 'The user dislikes loud taverns', importance: 0.4 });

    const found = await client.result('memory.search', { query: 'old maps', n_results: 5 });
    expect(found.persona_id).toBe('kira');
    expect(found.memories[0]).toMatchObject({
      id: stored.memory_id,
      content: 'The user collects antique maps of the northern coast',
      importance: expect.any(Number),
    });
    expect(found.memories[0].similarity).toBeGreaterThan(0);
    expect(found.memories[0].created_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(found.total_results).toBe(found.memories.length);

    const legacy = await client.result('persona.memory', { query: 'old maps', persona_id: 'Kira' });
    expect(legacy.memories[0].id).toBe(stored.memory_id);
    expect(legacy).not.toHaveProperty('note');
  });

  it('filters by min_importance and accepts any memory_type label, returned as given', async () => {
    const client = await server.connect();
    await client.result('memory.store', {
      persona_id: 'aria',
      content: 'Festival of lanterns in the spring',
      importance: 0.2,
      memory_type: 'event',
    });
    const high = await client.result('memory.search', { persona_id: 'aria', query: 'lanterns festival', min_importance: 0.5 });
    expect(high.memories).toEqual([]);
    const any = await client.result('memory.search', { persona_id: 'aria', query: 'lanterns festival' });
    expect(any.memories[0]).toMatchObject({ memory_type: 'event', kind: 'observation', importance: 0.2 });
    // The old cross-persona memory client's free labels pass unchanged (they used to answer -32602).
    for (const label of ['local_knowledge', 'location']) {
      const stored = await client.result('memory.store', { persona_id: 'aria', content: `A ${label} note about the harbour`, memory_type: label });
      expect(stored.memory).toMatchObject({ memory_type: label, kind: 'observation' });
    }
    const byLabel = await client.result('memory.list', { persona_id: 'aria', memory_type: 'location' });
    expect(byLabel.memories.map((memory: { memory_type: string }) => memory.memory_type)).toEqual(['location']);
    const fact = await client.result('memory.store', { persona_id: 'aria', content: 'The user prefers tea', memory_type: 'preference' });
    expect(fact.memory).toMatchObject({ memory_type: 'preference', kind: 'user_fact' });
    const relabelled = await client.result('memory.update', { memory_id: fact.memory_id, memory_type: 'user_fact' });
    expect(relabelled.memory).toMatchObject({ memory_type: 'user_fact', kind: 'user_fact' });
    const empty = await client.call('memory.store', { persona_id: 'aria', content: 'x', memory_type: '  ' });
    expect(empty.error).toMatchObject({ code: -32602, data: expect.objectContaining({}) });
    const long = await client.call('memory.store', { persona_id: 'aria', content: 'x', memory_type: 'y'.repeat(65) });
    expect(long.error.code).toBe(-32602);
  });

  it('lists, updates and deletes memories, with precise errors for unknown ids', async () => {
    const client = await server.connect();
    const { memory_id } = await client.result('memory.store', { persona_id: 'aria', content: 'The user plays the lute badly' });
    const updated = await client.result('memory.update', { memory_id, content: 'The user plays the lute beautifully', importance: 0.9 });
    expect(updated.memory).toMatchObject({ content: 'The user plays the lute beautifully', importance: 0.9, importance_source: 'client' });
    const search = await client.result('memory.search', { persona_id: 'aria', query: 'lute beautifully' });
    expect(search.memories[0].id).toBe(memory_id);

    const listed = await client.result('memory.list', { persona_id: 'aria' });
    expect(listed.memories.map((memory: { id: string }) => memory.id)).toContain(memory_id);
    expect(listed.total).toBeGreaterThanOrEqual(1);

    expect(await client.result('memory.delete', { memory_id })).toEqual({ deleted: true, memory_id });
    const again = await client.call('memory.delete', { memory_id });
    expect(again.error).toMatchObject({ code: -32060 });
    const bad = await client.call('memory.store', { persona_id: 'aria', content: 'x', memory_type: 42 });
    expect(bad.error.code).toBe(-32602);
  });

  it('reports stats by persona and importance band', async () => {
    const client = await server.connect();
    const stats = await client.result('memory.stats');
    expect(stats.total_memories).toBeGreaterThanOrEqual(3);
    expect(stats.memories_by_persona.kira).toBeGreaterThanOrEqual(2);
    const bands = stats.importance_distribution;
    expect(bands.high + bands.medium + bands.low).toBe(stats.total_memories);
    expect(stats.avg_importance).toBeGreaterThan(0);
    expect(stats.storage_size_mb).toBeGreaterThan(0);
  });
});

describe('formation and recall in chat', () => {
  it('forms a memory after a turn (LLM-rated) and recalls it into a later prompt', async () => {
    const client = await server.connect();
    await client.result('persona.switch', { persona_id: 'aria' });
    await client.result('persona.chat', { message: 'My daughter Lina was born on a stormy night in March.' });
    await jobs().drain(5_000);

    const listed = await client.result('memory.list', { persona_id: 'aria', memory_type: 'user_fact' });
    const formed = listed.memories.find((memory: { content: string }) => memory.content.includes('Lina'));
    expect(formed).toMatchObject({ memory_type: 'user_fact', importance: 0.8, importance_source: 'llm', visibility: 'private' });

    // A new conversation: the fact is not in the history any more, only in memory.
    await client.result('conversation.start', { persona_id: 'aria', context: 'a new evening' });
    await client.result('persona.chat', { message: 'Do you remember my daughter?' });
    const chat = ollama.turnFor('Do you remember my daughter?');
    const system = chat.body.messages![0]!.content;
    expect(system).toContain('Things you remember');
    expect(system).toContain('The user said: My daughter Lina was born on a stormy night in March.');
    expect(
      chat.body
        .messages!.slice(1)
        .map((message) => message.content)
        .join('\n'),
    ).not.toContain('Lina');
  });

  it('summarises a long thread with the LLM; the summary replaces the turns it covers in the prompt', async () => {
    const client = await server.connect();
    await client.result('persona.switch', { persona_id: 'kira' });
    await client.result('conversation.start', { persona_id: 'kira', context: 'library' });
    for (const message of ['I sail every summer.', 'I hate the rain.', 'Tell me about old books.']) {
      await client.result('persona.chat', { message });
      await jobs().drain(5_000);
    }
    const summaries = await client.result('memory.list', { persona_id: 'kira', memory_type: 'summary' });
    expect(summaries.memories[0]).toMatchObject({ content: 'The user sails every summer and hates rain.', memory_type: 'summary' });
    await client.result('persona.chat', { message: 'What did we talk about?' });
    const sent = ollama.chatAbout('What did we talk about?').body.messages!.map((message) => message.content);
    expect(sent[1]).toBe('Summary of the earlier conversation: The user sails every summer and hates rain.');
    expect(sent).not.toContain('I sail every summer.'); // covered by the summary: kept in the store, not sent
    expect(sent).toContain('Tell me about old books.');
    expect(sent.at(-1)).toBe('What did we talk about?');
  });
});

describe('cross-persona visibility', () => {
  it('never shows a private memory to another persona; shared, group and public ones as allowed', async () => {
    const client = await server.connect();
    await client.result('memory.store', {
      persona_id: 'aria',
      content: 'Secret: the user fears deep water',
      visibility: 'private',
      importance: 0.9,
    });
    await client.result('memory.store', {
      persona_id: 'aria',
      content: 'The user fears heights on the bell tower',
      related_personas: ['Kira'],
      importance: 0.8,
    });
    await client.result('memory.store', {
      persona_id: 'aria',
      content: 'The user fears thunder in the public square',
      visibility: 'public',
      importance: 0.6,
    });
    await client.result('memory.group_set', { group_id: 'household', persona_ids: ['kira'] });
    await client.result('memory.store', {
      persona_id: 'aria',
      content: 'The user fears spiders in the household cellar',
      groups: ['household'],
      importance: 0.5,
    });

    const kira = await client.result('memory.search_cross_persona', {
      persona_id: 'kira',
      query: 'what does the user fear',
      n_results: 10,
    });
    const contents = kira.memories.map((memory: { content: string }) => memory.content);
    expect(contents).not.toContain('Secret: the user fears deep water');
    expect(contents).toEqual(
      expect.arrayContaining([
        'The user fears heights on the bell tower',
        'The user fears thunder in the public square',
        'The user fears spiders in the household cellar',
      ]),
    );
    const shared = kira.memories.find((memory: { content: string }) => memory.content.includes('bell tower'));
    expect(shared).toMatchObject({ source: 'cross_persona', source_persona: 'aria', visibility: 'shared' });

    const noPublic = await client.result('memory.search_cross_persona', {
      persona_id: 'kira',
      query: 'fear',
      include_public: false,
      include_shared: true,
      n_results: 10,
    });
    expect(noPublic.memories.map((memory: { content: string }) => memory.content)).not.toContain(
      'The user fears thunder in the public square',
    );

    const aria = await client.result('memory.search_cross_persona', { persona_id: 'aria', query: 'deep water', n_results: 3 });
    expect(aria.memories[0]).toMatchObject({ source: 'own', content: 'Secret: the user fears deep water' });

    const stats = await client.result('memory.shared_stats');
    expect(stats.shared_memory_statistics.shared_memories).toBeGreaterThanOrEqual(2);
    expect(stats.shared_memory_statistics.public_memories).toBeGreaterThanOrEqual(1);
    expect(stats.shared_memory_statistics.cross_references).toBeGreaterThanOrEqual(2);
    expect(stats.groups.household).toEqual(['kira']);
  });
});

describe('pruning and decay', () => {
  it('prunes nothing in a dry run and the same memories with force, which then are gone from search', async () => {
    const client = await server.connect();
    const { memory_id } = await client.result('memory.store', {
      persona_id: 'kira',
      content: 'A faded note about turnips',
      importance: 0.05,
    });
    const before = (await client.result('memory.stats')).memories_by_persona.kira;

    const plan = await client.result('memory.prune', { persona_id: 'kira' });
    expect(plan).toMatchObject({
      persona_id: 'kira',
      dry_run: true,
      memories_before: before,
      memories_pruned: 0,
      would_prune: 1,
      memories_after: before,
      avg_importance_pruned: 0.05,
    });
    expect(plan.recommendation).toMatch(/^Prune 1 of/);
    expect(typeof plan.processing_time).toBe('number');
    const recommendations = await client.result('memory.prune_recommendations', { persona_id: 'kira' });
    expect(recommendations.recommendations).toMatchObject({
      needs_pruning: true,
      current_count: before,
      would_prune: 1,
      average_importance_to_prune: 0.05,
    });
    const ids = async (): Promise<string[]> =>
      (await client.result('memory.search', { persona_id: 'kira', query: 'turnips', n_results: 100 })).memories.map(
        (memory: { id: string }) => memory.id,
      );
    expect(await ids()).toContain(memory_id);

    const applied = await client.result('memory.prune', { persona_id: 'kira', force: true });
    expect(applied).toMatchObject({ dry_run: false, memories_before: before, memories_pruned: 1, memories_after: before - 1 });
    expect(await ids()).not.toContain(memory_id);

    const stats = await client.result('memory.prune_stats');
    expect(stats.pruning_statistics).toMatchObject({ total_prune_runs: 1, total_memories_pruned: 1 });
    const all = await client.result('memory.prune_all', {});
    expect(all.dry_run).toBe(true);
    expect(Object.keys(all.results)).toEqual(expect.arrayContaining(['aria', 'kira']));
  });

  it('starts, forces, reports and stops scheduled decay', async () => {
    const client = await server.connect();
    expect(await client.result('memory.decay_start')).toMatchObject({ status: 'started', interval_hours: 24, decay_mode: 'background' });
    expect((await client.result('memory.decay_start')).status).toBe('already_running');
    const forced = await client.result('memory.decay_force');
    expect(forced.status).toBe('completed');
    expect(forced.cycle.personas_processed).toBeGreaterThanOrEqual(2);
    const stats = await client.result('memory.decay_stats');
    expect(stats).toMatchObject({ background_running: true, total_decay_cycles: 1 });
    expect(stats.recent_cycle).toMatchObject({ personas_processed: forced.cycle.personas_processed });
    expect(await client.result('memory.decay_stop')).toMatchObject({ status: 'stopped', decay_mode: 'manual' });
  });
});

describe('memory.forget', () => {
  it('shows matches first, then removes them and never re-extracts them', async () => {
    const client = await server.connect();
    await client.result('persona.switch', { persona_id: 'aria' });
    await client.result('conversation.start', { persona_id: 'aria', context: 'forgetting' });
    await client.result('persona.chat', { message: 'I am allergic to hazelnuts and it scares me.' });
    await jobs().drain(5_000);

    const preview = await client.result('memory.forget', { query: 'hazelnut allergy', persona_id: 'aria' });
    expect(preview.forgotten).toBe(false);
    const ids = preview.matches
      .filter((memory: { content: string }) => memory.content.includes('hazelnuts'))
      .map((memory: { id: string }) => memory.id);
    expect(ids).toHaveLength(1);
    expect((await client.result('memory.list', { persona_id: 'aria' })).memories.map((memory: { id: string }) => memory.id)).toContain(
      ids[0],
    );

    const done = await client.result('memory.forget', { confirm: true, memory_ids: ids });
    expect(done).toMatchObject({ forgotten: true, memories_removed: 1, messages_blocked: 1 });
    const after = await client.result('memory.search', { persona_id: 'aria', query: 'hazelnuts allergic' });
    expect(after.memories.map((memory: { content: string }) => memory.content).join()).not.toContain('hazelnuts');
  });

  it('answers either step without its input with -32602 saying what to send, not limit_exceeded', async () => {
    const client = await server.connect();
    const confirmWithoutIds = await client.call('memory.forget', { confirm: true });
    expect(confirmWithoutIds.error.code).toBe(-32602);
    expect(confirmWithoutIds.error.message).toContain('memory_ids');
    expect(confirmWithoutIds.error.message).toContain('call it with query first');
    const emptyIds = await client.call('memory.forget', { confirm: true, memory_ids: [] });
    expect(emptyIds.error.code).toBe(-32602);
    const previewWithoutQuery = await client.call('memory.forget', { persona_id: 'aria' });
    expect(previewWithoutQuery.error.code).toBe(-32602);
    expect(previewWithoutQuery.error.message).toContain('query');
  });
});
