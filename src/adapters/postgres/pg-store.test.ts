/**
 * The Store contract on PostgreSQL: selects the PostgreSQL backend and runs the SQLite store's tests
 * (`../sqlite/sqlite-store.test.ts`) unchanged, plus what only a shared server has: two nodes on one
 * database. Skipped, with a message, when no PostgreSQL is available.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { dropFreshPostgres, freshPostgres, postgresAvailable, selectBackend } from '../../../test/helpers/store-backend.js';
import { buildPersonaDefinition } from '../../domain/persona-schema.js';
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
