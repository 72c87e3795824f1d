/**
 * A chat turn's mood reaction is saved after the reply has gone out (EmotionService.react waits for
 * pending I/O); every read of the persona's mood made meanwhile waits for it, so nothing reads the
 * mood from before the reaction once the reaction has begun.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteSocialStore } from '../../adapters/sqlite/social-store.js';
import { SqliteStore } from '../../adapters/sqlite/sqlite-store.js';
import { writeBatch } from '../../adapters/sqlite/write-batch.js';
import { buildPersonaDefinition } from '../../domain/persona-schema.js';
import type { PersonaRecord } from '../../ports/store.js';
import { EmotionService } from './emotion-service.js';

const T0 = 1_700_000_000_000;
let store: SqliteStore;
let social: SqliteSocialStore;
let persona: PersonaRecord;
const clock = { now: () => T0 };

beforeEach(async () => {
  store = SqliteStore.open(':memory:');
  social = new SqliteSocialStore(store.database, ':memory:');
  persona = await store.insertPersona(buildPersonaDefinition({ name: 'Aria' }), T0);
});
afterEach(async () => {
  await store.close();
});

const kind = { heard: 'I love this, it is wonderful and great!', cause: 'chat', conversationId: null };

describe('EmotionService.react', () => {
  it('saves after pending I/O, and a read begun meanwhile sees the reaction', async () => {
    const emotions = new EmotionService(social, clock);
    const before = await emotions.current(persona);
    const reacted = emotions.react(persona, kind);
    let savedBeforeIo = false;
    void reacted.then(() => (savedBeforeIo = true));
    // Everything already runnable (the reply's own promise chain) runs before the save.
    await Promise.resolve();
    await Promise.resolve();
    expect(savedBeforeIo).toBe(false);
    expect(await social.getMood(persona.id)).toBeNull();
    expect((await emotions.currentSaved(persona)).valence).toBe(before.valence);
    // A read of the mood waits for the reaction instead of answering from before it.
    const read = await emotions.current(persona);
    expect(read.valence).toBeGreaterThan(before.valence);
    expect(read).toEqual(await reacted);
    expect((await social.getMood(persona.id))?.valence).toBe(read.valence);
    expect((await social.moodEvents({ personaId: persona.id, limit: 10 })).map((event) => event.cause)).toEqual(['chat']);
  });

  it('saves reactions of one persona in the order they were made, and settled() waits for all of them', async () => {
    let now = T0;
    const emotions = new EmotionService(social, { now: () => (now += 1_000) });
    const causes = ['first', 'second', 'third'];
    const saved = causes.map((cause) => emotions.react(persona, { ...kind, cause }));
    await emotions.settled();
    // oldest first: saved in the order made, and the last one made is what the store holds
    expect((await social.moodEvents({ personaId: persona.id, limit: 10 })).map((event) => event.cause)).toEqual(causes);
    expect((await social.getMood(persona.id))?.valence).toBe((await saved[2])?.valence);
  });

  it('with one writer, shows a decided reaction before its commit; settled() and the reaction wait for the commit', async () => {
    const emotions = new EmotionService(social, clock);
    const before = await emotions.current(persona);
    const batch = writeBatch(store.database);
    batch.setWindow(60_000);
    try {
      let isSaved = false;
      const reacted = emotions.react(persona, kind).then((mood) => ((isSaved = true), mood));
      const read = await emotions.current(persona);
      expect(read.valence).toBeGreaterThan(before.valence);
      expect(isSaved).toBe(false);
      expect(await social.getMood(persona.id)).toBeNull();
      batch.flush();
      expect(await reacted).toEqual(read);
      await emotions.settled();
      expect((await social.getMood(persona.id))?.valence).toBe(read.valence);
    } finally {
      batch.setWindow(0);
      batch.flush();
    }
  });

  it('with a shared store, a read waits for the reaction\'s commit (another node may change the mood meanwhile)', async () => {
    const emotions = new EmotionService(social, clock, { sharedStore: true });
    const batch = writeBatch(store.database);
    batch.setWindow(60_000);
    try {
      const reacted = emotions.react(persona, kind);
      let hasRead = false;
      const read = emotions.current(persona).then((mood) => ((hasRead = true), mood));
      for (let hop = 0; hop < 4; hop++) await new Promise((resolve) => setImmediate(resolve));
      expect(hasRead).toBe(false);
      batch.flush();
      expect((await read).valence).toBe((await reacted).valence);
    } finally {
      batch.setWindow(0);
      batch.flush();
    }
  });
});

describe('EmotionService.currentNow', () => {
  it('answers the same mood within a millisecond, and a new one once the clock or the stored mood moved', async () => {
    let now = T0;
    const emotions = new EmotionService(social, { now: () => now });
    expect(emotions.currentNow(persona)).toBeUndefined(); // not read yet
    await emotions.current(persona);
    const first = emotions.currentNow(persona);
    expect(emotions.currentNow(persona)).toBe(first);
    now += 1;
    const later = emotions.currentNow(persona);
    expect(later).not.toBe(first);
    expect(later).toEqual({ ...first, updatedAt: now });
    const reacted = await emotions.react(persona, kind);
    // Same millisecond, but the stored mood changed: the reaction, not the mood from before it.
    expect(emotions.currentNow(persona)).toEqual(reacted);
    expect(emotions.currentNow(persona)?.valence).toBeGreaterThan(later?.valence ?? 0);
  });
});
