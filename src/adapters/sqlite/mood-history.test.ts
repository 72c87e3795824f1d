/** The mood history contract (append, read back in pages, prune); src/adapters/postgres/pg-mood-history.test.ts runs it on PostgreSQL. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildPersonaDefinition } from '../../domain/persona-schema.js';
import type { MoodHistory, MoodSampleInput } from '../../ports/mood-history.js';
import type { Store } from '../../ports/store.js';
import type { SocialStore } from '../../ports/social-store.js';
import { PostgresMoodHistory } from '../postgres/pg-mood-history.js';
import { PostgresSocialStore } from '../postgres/pg-social-store.js';
import { PostgresStore } from '../postgres/pg-store.js';
import { dropFreshPostgres, freshPostgres, onPostgres } from '../../../test/helpers/store-backend.js';
import { SqliteMoodHistory } from './mood-history.js';
import { SqliteSocialStore } from './social-store.js';
import { SqliteStore } from './sqlite-store.js';

let store: Store;
let history: MoodHistory;
let social: SocialStore;
const T0 = 1_700_000_000_000;
const MINUTE = 60_000;

function sample(personaId: string, minute: number, energy: number, overrides: Partial<MoodSampleInput> = {}): MoodSampleInput {
  return {
    personaId,
    at: T0 + minute * MINUTE,
    cause: 'turn',
    mood: 'cheerful',
    valence: 0.41234567,
    arousal: 0.5,
    stress: 0.1,
    curiosity: 0.6,
    energy,
    maxEnergy: 150,
    fatigue: 0.05,
    ...overrides,
  };
}

beforeEach(async () => {
  if (onPostgres()) {
    const database = await freshPostgres();
    store = new PostgresStore(database);
    history = new PostgresMoodHistory(database);
    social = new PostgresSocialStore(database);
  } else {
    const sqlite = SqliteStore.open(':memory:');
    store = sqlite;
    history = new SqliteMoodHistory(sqlite.database, ':memory:');
    social = new SqliteSocialStore(sqlite.database, ':memory:');
  }
  await store.insertPersona(buildPersonaDefinition({ name: 'Aria' }), T0);
  await store.insertPersona(buildPersonaDefinition({ name: 'Kira' }), T0);
});
afterEach(async () => {
  await store.close();
  if (onPostgres()) await dropFreshPostgres();
});

describe('MoodHistory', () => {
  it('stores a sample with its figures to four decimals and gives it back as the newest', async () => {
    expect(await history.latest('aria')).toBeNull();
    const stored = await history.append(sample('aria', 0, 142.123456, { cause: 'chat' }));
    expect(stored).toEqual({ ...sample('aria', 0, 142.1235, { cause: 'chat' }), valence: 0.4123, id: stored.id });
    expect(await history.latest('aria')).toEqual(stored);
    expect(await history.latest('kira')).toBeNull();
  });

  it('pages oldest first within the newest `limit`, after an id, before an id and since a time', async () => {
    const ids: number[] = [];
    for (let minute = 0; minute < 5; minute += 1) ids.push((await history.append(sample('aria', minute, 150 - minute))).id);
    await history.append(sample('kira', 2, 80));

    const newest = await history.samples('aria', { limit: 3 });
    expect(newest.samples.map((entry) => entry.energy)).toEqual([148, 147, 146]);
    expect(newest.hasMore).toBe(true);
    const older = await history.samples('aria', { limit: 3, beforeId: newest.samples[0]!.id });
    expect(older.samples.map((entry) => entry.energy)).toEqual([150, 149]);
    expect(older.hasMore).toBe(false);

    expect((await history.samples('aria', { limit: 10, afterId: ids[3]! })).samples.map((entry) => entry.id)).toEqual([ids[4]]);
    expect((await history.samples('aria', { limit: 10, since: T0 + 3 * MINUTE })).samples.map((entry) => entry.energy)).toEqual([147, 146]);
    expect((await history.samples('kira', { limit: 10 })).samples.map((entry) => entry.personaId)).toEqual(['kira']);
  });

  it('prunes by age and keeps at most the newest N per persona', async () => {
    for (let minute = 0; minute < 6; minute += 1) await history.append(sample('aria', minute, 150 - minute));
    for (let minute = 0; minute < 2; minute += 1) await history.append(sample('kira', minute, 80 - minute));

    expect(await history.prune({ olderThan: T0 + MINUTE, keepPerPersona: 0 })).toBe(2); // minute 0 of each
    expect(await history.prune({ olderThan: 0, keepPerPersona: 3 })).toBe(2); // aria's minutes 1 and 2
    expect((await history.samples('aria', { limit: 10 })).samples.map((entry) => entry.energy)).toEqual([147, 146, 145]);
    expect((await history.samples('kira', { limit: 10 })).samples.map((entry) => entry.energy)).toEqual([79]);
    expect(await history.prune({ olderThan: 0, keepPerPersona: 0 })).toBe(0);
  });

  it('bounds the log of mood changes (conversation.analytics) by the same rule', async () => {
    const logChange = (personaId: string, minute: number): Promise<void> =>
      social.saveMood(personaId, { valence: 0.2, arousal: 0.4, stress: 0.1, curiosity: 0.5, updatedAt: T0 + minute * MINUTE }, { mood: 'content', cause: `minute ${minute}`, conversationId: null });
    for (let minute = 0; minute < 5; minute += 1) await logChange('aria', minute);
    await logChange('kira', 0);

    expect(await history.prune({ olderThan: T0 + MINUTE, keepPerPersona: 0 })).toBe(2); // minute 0 of each
    expect(await history.prune({ olderThan: 0, keepPerPersona: 2 })).toBe(2); // aria's minutes 1 and 2
    expect((await social.moodEvents({ personaId: 'aria', limit: 10 })).map((event) => event.cause)).toEqual(['minute 3', 'minute 4']);
    expect(await social.moodEvents({ personaId: 'kira', limit: 10 })).toEqual([]);
  });

  it("goes with its persona when the persona is deleted", async () => {
    await history.append(sample('kira', 0, 80));
    await store.deletePersona('kira', T0 + MINUTE);
    expect((await history.samples('kira', { limit: 10 })).samples).toEqual([]);
  });
});
