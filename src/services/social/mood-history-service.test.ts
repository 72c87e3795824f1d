/**
 * MoodHistoryService keeps each persona's newest sample to compare the next one with (no read per
 * sample): it must record exactly what comparing with the store would, also after pruning removed it.
 */
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InProcessEventBus } from '../../adapters/events/in-process-bus.js';
import { SqliteMoodHistory } from '../../adapters/sqlite/mood-history.js';
import { SqliteSocialStore } from '../../adapters/sqlite/social-store.js';
import { SqliteStore } from '../../adapters/sqlite/sqlite-store.js';
import { buildPersonaDefinition } from '../../domain/persona-schema.js';
import { PersonaService } from '../persona-service.js';
import { EmotionService } from './emotion-service.js';
import { MoodHistoryService } from './mood-history-service.js';

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
