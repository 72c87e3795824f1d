/**
 * The social store contract on PostgreSQL: the SQLite adapter's tests (`../sqlite/social-store.test.ts`)
 * run unchanged on a PostgreSQL schema, plus what only a shared server has: two nodes changing one
 * persona's mood and relationship at once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { dropFreshPostgres, freshPostgres, postgresAvailable, selectBackend } from '../../../test/helpers/store-backend.js';
import { buildPersonaDefinition } from '../../domain/persona-schema.js';
import { applyMoodEvent, baselineMood, freshMood } from '../../domain/social/mood.js';
import { applyInteraction, newRelationship } from '../../domain/social/relationship.js';
import type { RelationshipRecord } from '../../ports/social-store.js';
import { PostgresSocialStore } from './pg-social-store.js';
import { PostgresStore } from './pg-store.js';

const available = await postgresAvailable();
selectBackend('postgres');
if (available.ok) await import('../sqlite/social-store.test.js');
else describe('social-store on PostgreSQL', () => it.skip(`skipped: ${available.reason}`, () => {}));

describe.skipIf(!available.ok)('PostgresSocialStore on a shared server', () => {
  afterEach(async () => {
    await dropFreshPostgres();
  });

  it('counts every interaction and mood change two nodes record at once', async () => {
    const first = await freshPostgres();
    const nodes = [new PostgresSocialStore(first), new PostgresSocialStore(await freshPostgres())];
    // Aria and Kira exist: the contract tests' beforeEach (imported above) adds them for every test of the file.
    for (const name of ['Aria', 'Kira']) await new PostgresStore(first).insertPersona(buildPersonaDefinition({ name }), 1).catch(() => undefined);
    const record = await new PostgresStore(first).getPersona('aria');
    const key = { subjectId: 'aria', otherKind: 'persona' as const, otherId: 'kira' };
    const apply = (stored: RelationshipRecord | null): RelationshipRecord => ({ ...key, ...applyInteraction(stored ?? newRelationship(), { quality: 0.5, durationMs: 1_000, now: 5_000 }) });
    await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        Promise.all([
          nodes[i % 2]!.recordInteraction({ key, apply }, { quality: 0.5, source: 'chat', conversationId: null, context: null }),
          nodes[i % 2]!.updateMood('aria', (stored) => ({
            state: applyMoodEvent(stored ?? freshMood(record!, 5_000), baselineMood(record!), { sentiment: -1, askedQuestion: false, now: 5_000 }),
            event: { mood: 'irritated', cause: `turn ${i}`, conversationId: null },
          })),
        ]),
      ),
    );
    const relationship = await nodes[0]!.getRelationship(key);
    expect(relationship?.interactionCount).toBe(16);
    expect(relationship?.totalInteractionMs).toBe(16_000);
    expect(await nodes[1]!.relationshipHistory(key, { limit: 50 })).toHaveLength(16);
    // Each event applied on top of the previous: the stored mood is the 16th step from the baseline.
    let expected = freshMood(record!, 5_000);
    for (let i = 0; i < 16; i++) expected = applyMoodEvent(expected, baselineMood(record!), { sentiment: -1, askedQuestion: false, now: 5_000 });
    expect((await nodes[1]!.getMood('aria'))?.valence).toBeCloseTo(expected.valence, 9);
    expect(await nodes[0]!.moodEvents({ personaId: 'aria', limit: 50 })).toHaveLength(16);
  });

  it('records several interactions in one transaction, each on top of the one before; one that fails is rolled back alone', async () => {
    const db = await freshPostgres();
    const store = new PostgresSocialStore(db);
    for (const name of ['Aria', 'Kira']) await new PostgresStore(db).insertPersona(buildPersonaDefinition({ name }), 1).catch(() => undefined);
    const key = { subjectId: 'aria', otherKind: 'persona' as const, otherId: 'kira' };
    const apply = (stored: RelationshipRecord | null): RelationshipRecord => ({ ...key, ...applyInteraction(stored ?? newRelationship(), { quality: 0.5, durationMs: 1_000, now: 5_000 }) });
    const event = { quality: 0.5, source: 'chat' as const, conversationId: null, context: null };
    const ghost = { subjectId: 'ghost', otherKind: 'persona' as const, otherId: 'kira' };
    const outcomes = await store.recordInteractions([
      { relationship: { key, apply }, event },
      { relationship: { key: ghost, apply: (stored) => ({ ...ghost, ...applyInteraction(stored ?? newRelationship(), { quality: 0.5, durationMs: 1_000, now: 5_000 }) }) }, event },
      { relationship: { key, apply }, event },
    ]);
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(/persona ghost does not exist/);
    expect((await store.getRelationship(key))?.interactionCount).toBe(2);
    expect(await store.relationshipHistory(key, { limit: 10 })).toHaveLength(2);
    expect(await store.getRelationship(ghost)).toBeNull();
  });
});
