/**
 * The Store contract on PostgreSQL: selects the PostgreSQL backend and runs the SQLite store's tests
 * (`../sqlite/sqlite-store.test.ts`) unchanged, plus what only a shared server has: two nodes on one
 * database. Skipped, with a message, when no PostgreSQL is available.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { dropFreshPostgres, freshPostgres, postgresAvailable, selectBackend } from '../../../test/helpers/store-backend.js';
import { buildPersonaDefinition } from '../../domain/persona-schema.js';
import { freshEnergy, spendEnergy, type SocialEnergyState } from '../../domain/social-energy.js';
import { PostgresStore } from './pg-store.js';

const available = await postgresAvailable();
selectBackend('postgres');
if (available.ok) await import('../sqlite/sqlite-store.test.js');

describe.skipIf(!available.ok)('PostgresStore on a shared server', () => {
  afterEach(async () => {
    await dropFreshPostgres();
  });

  it('serialises two nodes appending first turns for one session: one conversation, every message kept', async () => {
    const database = await freshPostgres();
    const nodeA = new PostgresStore(database);
    await nodeA.insertPersona(buildPersonaDefinition({ name: 'Aria' }), 1);
    const turns = await Promise.all(
      Array.from({ length: 20 }, (_, i) => nodeA.appendUserTurn({ sessionId: 's1', personaId: 'aria', content: `m${i}`, tokens: 1, now: 1_000 + i })),
    );
    expect(new Set(turns.map((turn) => turn.conversation.id)).size).toBe(1);
    const history = await nodeA.historyPage(turns[0]!.conversation.id, { limit: 50 });
    expect(history.messages).toHaveLength(20);
  });

  it('counts every energy change of two nodes spending one persona at once (none overwrites another)', async () => {
    const nodeA = new PostgresStore(await freshPostgres());
    const nodeB = new PostgresStore(await freshPostgres());
    const definition = buildPersonaDefinition({ name: 'Aria' });
    await nodeA.insertPersona(definition, 1);
    const profile = { ...definition.socialEnergy, maxEnergy: 1_000, costPerTurn: 1, recoveryPerMinute: 0 };
    const { conversation } = await nodeA.appendUserTurn({ sessionId: 's1', personaId: 'aria', content: 'hi', tokens: 1, now: 1_000 });
    const spend = (stored: SocialEnergyState | null): SocialEnergyState => spendEnergy(stored ?? freshEnergy(profile, 1_000), profile, 0, 2_000);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => {
        const node = i % 2 === 0 ? nodeA : nodeB;
        return i % 4 < 2
          ? node.updatePersonaState('aria', spend)
          : node.appendAssistantTurn({ conversationId: conversation.id, personaId: 'aria', content: `r${i}`, tokens: 1, promptTokens: 1, processingMs: 1, now: 2_000, personaState: spend });
      }),
    );
    // 20 turns of cost 1 each from 1 000: last-write-wins would leave 999.
    expect((await nodeB.getPersonaState('aria'))?.energy).toBe(980);
    expect((await nodeA.getPersonaState('aria'))?.fatigue).toBeCloseTo(1);
  });

  it('keeps who owns a persona (a user-made persona stays private to its owner on every node)', async () => {
    const store = new PostgresStore(await freshPostgres());
    await store.insertPersona(buildPersonaDefinition({ name: 'Mine' }), 1, { ownerUserId: 'sam' });
    await store.insertPersona(buildPersonaDefinition({ name: 'Shared' }), 1);
    expect((await store.getPersona('mine'))?.ownerUserId).toBe('sam');
    expect((await store.listPersonas()).map((persona) => [persona.id, persona.ownerUserId])).toEqual([
      ['mine', 'sam'],
      ['shared', null],
    ]);
  });

  it('reports its size and the URL without the password', async () => {
    const store = new PostgresStore(await freshPostgres());
    const health = await store.checkHealth();
    expect(health.ok).toBe(true);
    expect(health.sizeBytes).toBeGreaterThan(0);
    expect(health.path).toMatch(/^postgres:\/\//);
  });
});

describe.skipIf(available.ok)('PostgresStore', () => {
  it.skip(`skipped: ${available.ok ? '' : available.reason}`, () => {});
});
