/**
 * A chat turn reads the persona's relationship with the person from memory: the service keeps what it
 * read and what it wrote, and reads the store again after `forget` (an import, a deleted persona).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteSocialStore } from '../../adapters/sqlite/social-store.js';
import { SqliteStore } from '../../adapters/sqlite/sqlite-store.js';
import { buildPersonaDefinition } from '../../domain/persona-schema.js';
import type { RelationshipKey } from '../../ports/social-store.js';
import type { PersonaRecord } from '../../ports/store.js';
import { RelationshipService } from './relationship-service.js';

const T0 = 1_700_000_000_000;
let store: SqliteStore;
let social: SqliteSocialStore;
let persona: PersonaRecord;
let key: RelationshipKey;
const clock = { now: () => T0 };
const interaction = { quality: 0.8, durationMs: 60_000, source: 'chat' as const, conversationId: null, context: null };

beforeEach(async () => {
  store = SqliteStore.open(':memory:');
  social = new SqliteSocialStore(store.database, ':memory:');
  persona = await store.insertPersona(buildPersonaDefinition({ name: 'Aria' }), T0);
  key = { subjectId: persona.id, otherKind: 'user', otherId: 'local' };
});
afterEach(async () => {
  await store.close();
});

describe('RelationshipService.get', () => {
  it('sees every interaction recorded through the service, read once from the store', async () => {
    const relationships = new RelationshipService(social, clock, () => persona);
    expect(await relationships.get(key)).toMatchObject({ exists: false, interactionCount: 0 });
    await relationships.recordInteraction({ ...key, ...interaction });
    expect(await relationships.get(key)).toMatchObject({ exists: true, interactionCount: 1 });
    await relationships.recordInteraction({ ...key, ...interaction });
    const view = await relationships.get(key);
    expect(view).toMatchObject({ exists: true, interactionCount: 2 });
    expect(view.affinity).toBe((await social.getRelationship(key))!.affinity);
  });

  it('never keeps a read that an interaction overtook', async () => {
    const relationships = new RelationshipService(social, clock, () => persona);
    const reading = relationships.get(key);
    await relationships.recordInteraction({ ...key, ...interaction });
    expect(await reading).toMatchObject({ exists: false });
    expect(await relationships.get(key)).toMatchObject({ exists: true, interactionCount: 1 });
  });

  it('reads the store again after forget (another writer: an import)', async () => {
    const relationships = new RelationshipService(social, clock, () => persona);
    expect(await relationships.get(key)).toMatchObject({ exists: false });
    // written around the service, as a state import does
    await new RelationshipService(social, clock, () => persona).recordInteraction({ ...key, ...interaction });
    expect(await relationships.get(key)).toMatchObject({ exists: false });
    relationships.forget();
    expect(await relationships.get(key)).toMatchObject({ exists: true, interactionCount: 1 });
  });

  it('reads the store every time when other nodes share it', async () => {
    const relationships = new RelationshipService(social, clock, () => persona, { sharedStore: true });
    expect(await relationships.get(key)).toMatchObject({ exists: false });
    await new RelationshipService(social, clock, () => persona).recordInteraction({ ...key, ...interaction });
    expect(await relationships.get(key)).toMatchObject({ exists: true, interactionCount: 1 });
  });
});

describe('RelationshipService.recordInteraction of an exchange', () => {
  it('counts an exchange recorded again (its job run again after a crash) once, and answers with the relationship as stored', async () => {
    const relationships = new RelationshipService(social, clock, () => persona);
    const first = await relationships.recordInteraction({ ...key, ...interaction, messageId: 7 });
    const again = await relationships.recordInteraction({ ...key, ...interaction, messageId: 7 });
    expect(again).toEqual(first);
    const [batched] = await relationships.recordInteractions([{ ...key, ...interaction, messageId: 7 }]);
    expect(batched).toEqual({ status: 'fulfilled', value: first });
    expect(await relationships.get(key)).toMatchObject({ interactionCount: 1 });
    expect(await social.relationshipHistory(key, { limit: 10 })).toHaveLength(1);
  });
});

describe('RelationshipService.recordInteractions', () => {
  it('records several interactions in order, a failed one leaving the others recorded', async () => {
    const relationships = new RelationshipService(social, clock, () => persona);
    const gone = { subjectId: 'no-such-persona', otherKind: 'user' as const, otherId: 'local' };
    const outcomes = await relationships.recordInteractions([
      { ...key, ...interaction, now: T0 + 1 },
      { ...gone, ...interaction },
      { ...key, ...interaction, quality: -0.5, now: T0 + 2 },
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    // The second interaction with the same relationship was applied on top of the first.
    const stored = (await social.getRelationship(key))!;
    expect(stored.interactionCount).toBe(2);
    expect(outcomes[2]).toMatchObject({ status: 'fulfilled', value: { relationship: { interactionCount: 2, affinity: stored.affinity } } });
    expect((await social.relationshipHistory(key, { limit: 10 })).map((event) => event.quality)).toEqual([-0.5, 0.8]);
    expect(await relationships.get(key)).toMatchObject({ interactionCount: 2, affinity: stored.affinity });
  });
});
