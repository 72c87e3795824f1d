/**
 * MoodHistoryService keeps each persona's newest sample to compare the next one with (no read per
 * sample): it must record exactly what comparing with the store would, also after pruning removed it.
 */
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InProcessEventBus } from '../../adapters/events/in-process-bus.js';
import { dropFreshPostgres, freshPostgres, postgresAvailable } from '../../../test/helpers/store-backend.js';
import { PostgresMoodHistory } from '../../adapters/postgres/pg-mood-history.js';
import { PostgresSocialStore } from '../../adapters/postgres/pg-social-store.js';
import { PostgresStore } from '../../adapters/postgres/pg-store.js';
import { SqliteMoodHistory } from '../../adapters/sqlite/mood-history.js';
import { SqliteSocialStore } from '../../adapters/sqlite/social-store.js';
import { SqliteStore } from '../../adapters/sqlite/sqlite-store.js';
import { buildPersonaDefinition } from '../../domain/persona-schema.js';
import { freshEnergy } from '../../domain/social-energy.js';
import { PersonaService } from '../persona-service.js';
import { EmotionService } from './emotion-service.js';
import { MoodHistoryService } from './mood-history-service.js';

const postgres = await postgresAvailable();
const T0 = 1_700_000_000_000;
let now = T0;
const clock = { now: () => now };
let store: SqliteStore;

beforeEach(() => {
  now = T0;
  store = SqliteStore.open(':memory:');
});
afterEach(async () => {
  await store.close();
});

async function setUp(): Promise<{ service: MoodHistoryService; history: SqliteMoodHistory; personas: PersonaService; events: InProcessEventBus }> {
  const events = new InProcessEventBus();
  const personas = new PersonaService(store, clock, events);
  await personas.initialise([buildPersonaDefinition({ name: 'Aria' })]);
  const emotions = new EmotionService(new SqliteSocialStore(store.database, ':memory:'), clock);
  const history = new SqliteMoodHistory(store.database, ':memory:');
  const service = new MoodHistoryService({ history, personas, emotions, clock, logger: pino({ level: 'silent' }) });
  service.listen(events);
  return { service, history, personas, events };
}

describe('MoodHistoryService newest sample', () => {
  it('skips a sample equal to the newest, and records it again once pruning deleted the newest', async () => {
    const { service, history, personas } = await setUp();
    const aria = personas.resolve('aria');
    await service.record(aria, 'manual');
    now += 1_000;
    await service.record(aria, 'manual'); // nothing changed: skipped
    expect((await history.samples(aria.id, { limit: 10 })).samples).toHaveLength(1);
    now += 1_000;
    expect(await service.prune(now, { moodHistoryMaxAgeMs: 500 })).toBe(1);
    await service.record(aria, 'manual');
    expect((await history.samples(aria.id, { limit: 10 })).samples.map((sample) => sample.at)).toEqual([now]);
  });

  it('reads the store again after an import replaced the samples', async () => {
    const { service, history, personas, events } = await setUp();
    const aria = personas.resolve('aria');
    await service.record(aria, 'manual');
    store.database.prepare('DELETE FROM mood_samples').run(); // what an import of other samples does
    events.publish({ type: 'stateImported', tables: ['mood_samples'] });
    now += 1_000;
    await service.record(aria, 'manual');
    expect((await history.samples(aria.id, { limit: 10 })).samples).toHaveLength(1);
  });
});

describe.skipIf(!postgres.ok)('MoodHistoryService on PostgreSQL, redoing a reply after a crash', () => {
  afterEach(async () => {
    await dropFreshPostgres();
  });

  /** A reply on node A whose reaction A saved (marked done for the reply) at `reactedAt`, then A died before the sample's write. */
  async function reactionSavedByDeadNode(reactedAt: number, before?: (node: PostgresStore, personas: PersonaService) => Promise<void>) {
    const nodeA = new PostgresStore(await freshPostgres());
    const definition = buildPersonaDefinition({ name: 'Aria' });
    await nodeA.insertPersona(definition, 1);
    const { conversation, message } = await nodeA.appendUserTurn({ sessionId: 's1', personaId: 'aria', content: 'you are wonderful', tokens: 1, now: T0 });
    const reply = await nodeA.appendAssistantTurn({
      conversationId: conversation.id,
      personaId: 'aria',
      content: 'thank you',
      tokens: 1,
      promptTokens: 1,
      processingMs: 1,
      now: T0 + 1,
      // the reply spent half the persona's energy (it rests back over the minutes a takeover may take)
      personaState: { ...freshEnergy(definition.socialEnergy, T0 + 1), energy: definition.socialEnergy.maxEnergy / 2 },
      afterReply: { session: { id: 's1', userId: 'sam' }, userMessageId: message.id },
    });
    const aria = (await nodeA.getPersona('aria'))!;
    const heard = { heard: 'you are wonderful', cause: 'chat', conversationId: conversation.id };
    if (before !== undefined) {
      const personas = new PersonaService(nodeA, clock, new InProcessEventBus());
      await personas.initialise([definition]);
      await before(nodeA, personas);
    }
    now = reactedAt;
    await nodeA.runAfterReply(reply.id, () => new EmotionService(new PostgresSocialStore(nodeA.database), clock, { sharedStore: true }).react(aria, heard));
    await nodeA.close();
    return { definition, reply, heard };
  }

  /** Node B, which takes the reply over and redoes its after-reply work. */
  async function nodeTakingOver(definition: ReturnType<typeof buildPersonaDefinition>, replyId: number) {
    const nodeB = new PostgresStore(await freshPostgres());
    expect((await nodeB.pendingAfterReplies(now + 60_000)).map((pending) => pending.replyMessageId)).toEqual([replyId]);
    const events = new InProcessEventBus();
    const personas = new PersonaService(nodeB, clock, events);
    await personas.initialise([definition]);
    const emotions = new EmotionService(new PostgresSocialStore(nodeB.database), clock, { sharedStore: true });
    const history = new PostgresMoodHistory(nodeB.database);
    const service = new MoodHistoryService({ history, personas, emotions, clock, logger: pino({ level: 'silent' }), sharedStore: true });
    service.listen(events);
    return { nodeB, personas, emotions, history, service };
  }

  it("samples a reaction the dead node had saved under the reaction's own cause, not as a manual change", async () => {
    const { definition, reply, heard } = await reactionSavedByDeadNode(T0 + 2);
    const { nodeB, personas, emotions, history, service } = await nodeTakingOver(definition, reply.id);
    // the reaction is not applied again, its sample is written
    await nodeB.runAfterReply(reply.id, () => emotions.react(personas.resolve('aria'), heard));
    await service.written('aria');
    expect((await history.samples('aria', { limit: 10 })).samples.map((sample) => sample.cause)).toEqual(['chat']);
    expect(await nodeB.database.rows("SELECT cause FROM mood_events WHERE persona_id = 'aria'")).toEqual([{ cause: 'chat' }]);
  });

  it('samples that reaction as of its moment, with the mood it saved, however late the redo', async () => {
    const { definition, reply, heard } = await reactionSavedByDeadNode(T0 + 2, async (nodeA, personas) => {
      // the reply's `turn` sample, written before the node died
      const emotions = new EmotionService(new PostgresSocialStore(nodeA.database), clock, { sharedStore: true });
      const service = new MoodHistoryService({ history: new PostgresMoodHistory(nodeA.database), personas, emotions, clock, logger: pino({ level: 'silent' }), sharedStore: true });
      await service.record(personas.resolve('aria'), 'turn');
    });
    now = T0 + 10 * 60_000; // taken over ten minutes later (a lease that ran out)
    const { nodeB, personas, emotions, history, service } = await nodeTakingOver(definition, reply.id);
    await nodeB.runAfterReply(reply.id, () => emotions.react(personas.resolve('aria'), heard));
    await service.written('aria');
    const [reaction] = await nodeB.database.rows<{ at: number; valence: number }>("SELECT at, valence FROM mood_events WHERE persona_id = 'aria'");
    const samples = (await history.samples('aria', { limit: 10 })).samples;
    expect(samples.map((sample) => sample.cause)).toEqual(['turn', 'chat']);
    expect(samples[1]).toMatchObject({ at: T0 + 2, valence: reaction!.valence });
    // with the energy of that moment (the `turn` sample's, 2 ms before), not ten minutes' rest later
    expect(samples[1]!.energy).toBeCloseTo(samples[0]!.energy, 2);
  });

  it("samples the reply with the mood it answered in when the dead node saved the reaction and not the reply's sample", async () => {
    const { definition, reply, heard } = await reactionSavedByDeadNode(T0 + 2, async (nodeA, personas) => {
      // an earlier sample (the reply's own `turn` sample had not committed when the node died)
      const emotions = new EmotionService(new PostgresSocialStore(nodeA.database), clock, { sharedStore: true });
      const service = new MoodHistoryService({ history: new PostgresMoodHistory(nodeA.database), personas, emotions, clock, logger: pino({ level: 'silent' }), sharedStore: true });
      await service.record(personas.resolve('aria'), 'manual');
    });
    const { nodeB, personas, emotions, history, service } = await nodeTakingOver(definition, reply.id);
    const aria = personas.resolve('aria');
    await nodeB.runAfterReply(reply.id, () => Promise.all([service.record(aria, 'turn', { afterIo: true, isRedone: true }), emotions.react(aria, heard)]));
    await service.written('aria');
    const [reaction] = await nodeB.database.rows<{ valence: number }>("SELECT valence FROM mood_events WHERE persona_id = 'aria'");
    const samples = (await history.samples('aria', { limit: 10 })).samples;
    // before, the `turn` sample showed the reaction's mood and the reaction's `chat` sample was dropped as the same
    expect(samples.map((sample) => sample.cause)).toEqual(['manual', 'turn', 'chat']);
    expect(samples[1]!.valence).toBeCloseTo(samples[0]!.valence, 3);
    expect(samples[2]!.valence).toBe(reaction!.valence);
  });
});
